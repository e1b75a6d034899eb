"""One BERT-base encoder layer (post-LayerNorm), batch 1.

The layer input is implicit (there is no input node): ``attention.query/key/value`` are sources and
``attention.add`` has the output projection as its only in-graph predecessor; its other operand is the
layer input. ``ffn.add`` joins ``ffn.output`` and ``attention.norm``, both in the graph.
"""

from __future__ import annotations

from workloads.layers import Add, LayerNorm, Linear, MatMul, Softmax
from workloads.network import Network, NetworkBuilder


def bert_encoder(*, seq_len: int = 128, hidden: int = 768, heads: int = 12, ffn: int = 3072) -> Network:
    """QKV/O projections as Linear(tokens=seq_len); QK^T and AV as per-head MatMuls; GELU FFN."""
    if hidden % heads:
        raise ValueError(f"hidden={hidden} is not divisible by heads={heads}")
    head_dim = hidden // heads
    b = NetworkBuilder("bert_base_encoder")
    for proj in ("query", "key", "value"):
        b.add(Linear(f"attention.{proj}", hidden, hidden, tokens=seq_len), inputs=())
    scores = MatMul("attention.scores", seq_len, head_dim, seq_len, heads=heads)
    b.add(scores, inputs=("attention.query", "attention.key"))
    b.add(Softmax("attention.softmax", (heads, seq_len, seq_len)))
    context = MatMul("attention.context", seq_len, seq_len, head_dim, heads=heads)
    b.add(context, inputs=("attention.softmax", "attention.value"))
    b.add(Linear("attention.output", hidden, hidden, tokens=seq_len))
    b.add(Add("attention.add", (seq_len, hidden)))
    b.add(LayerNorm("attention.norm", (seq_len, hidden)))
    b.add(Linear("ffn.intermediate", hidden, ffn, tokens=seq_len, activation="gelu"))
    b.add(Linear("ffn.output", ffn, hidden, tokens=seq_len))
    b.add(Add("ffn.add", (seq_len, hidden)), inputs=("ffn.output", "attention.norm"))
    b.add(LayerNorm("ffn.norm", (seq_len, hidden)))
    return b.build()
