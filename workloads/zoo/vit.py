"""ViT-B/16 (Dosovitskiy et al., ICLR 2021, Table 1: 12 layers, hidden 768, MLP 3072, 12 heads), batch 1.

The patch embedding is the 16x16 stride-16 convolution of the reference code; the class token and the
position embedding are elementwise and not counted, so the encoder runs on ``patches + 1`` tokens.
Blocks are pre-LayerNorm. Block 0's residual input is the embedded sequence, which (like BERT's layer
input) is implicit: its two adds have the projection or MLP output as in-graph predecessor plus, for
the MLP add, the attention add. The classifier reads the class token only (tokens=1).
"""

from __future__ import annotations

from workloads.layers import Add, Conv2d, LayerNorm, Linear, MatMul, Softmax
from workloads.network import Network, NetworkBuilder
from workloads.zoo._common import as_pair, check_classes


def _block(
    b: NetworkBuilder, prefix: str, block_in: str | None, tokens: int, hidden: int, heads: int, mlp: int
) -> str:
    """One pre-LN encoder block fed by ``block_in`` (None: the implicit embedded sequence)."""
    seq = (tokens, hidden)
    head_dim = hidden // heads
    norm1 = b.add(LayerNorm(f"{prefix}.norm1", seq))
    for proj in ("query", "key", "value"):
        b.add(Linear(f"{prefix}.attn.{proj}", hidden, hidden, tokens=tokens), inputs=(norm1,))
    b.add(
        MatMul(f"{prefix}.attn.scores", tokens, head_dim, tokens, heads=heads),
        inputs=(f"{prefix}.attn.query", f"{prefix}.attn.key"),
    )
    b.add(Softmax(f"{prefix}.attn.softmax", (heads, tokens, tokens)))
    b.add(
        MatMul(f"{prefix}.attn.context", tokens, tokens, head_dim, heads=heads),
        inputs=(f"{prefix}.attn.softmax", f"{prefix}.attn.value"),
    )
    proj = b.add(Linear(f"{prefix}.attn.proj", hidden, hidden, tokens=tokens))
    add1 = b.add(Add(f"{prefix}.add1", seq), inputs=(proj,) if block_in is None else (proj, block_in))
    b.add(LayerNorm(f"{prefix}.norm2", seq))
    b.add(Linear(f"{prefix}.mlp.fc1", hidden, mlp, tokens=tokens, activation="gelu"))
    fc2 = b.add(Linear(f"{prefix}.mlp.fc2", mlp, hidden, tokens=tokens))
    return b.add(Add(f"{prefix}.add2", seq), inputs=(fc2, add1))


def vit_b16(
    *,
    input_hw: int | tuple[int, int] = (224, 224),
    num_classes: int = 1000,
    patch: int = 16,
    layers: int = 12,
    hidden: int = 768,
    heads: int = 12,
    mlp: int = 3072,
) -> Network:
    """ViT-B/16 at 224x224: 197 tokens, ~17.56 GMACs including attention, ~86 M weights."""
    h, w = as_pair(input_hw, "input_hw")
    if h % patch or w % patch:
        raise ValueError(f"input_hw={(h, w)} is not a multiple of patch={patch}")
    if hidden % heads:
        raise ValueError(f"hidden={hidden} is not divisible by heads={heads}")
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"layers must be an int >= 1, got {layers!r}")
    tokens = (h // patch) * (w // patch) + 1
    b = NetworkBuilder("vit_b16")
    b.add(Conv2d("patch_embed", 3, hidden, (patch, patch), (h, w), stride=(patch, patch)), inputs=())
    block_out: str | None = None
    for i in range(layers):
        block_out = _block(b, f"blocks.{i}", block_out, tokens, hidden, heads, mlp)
    b.add(LayerNorm("norm", (tokens, hidden)))
    b.add(Linear("head", hidden, check_classes(num_classes), tokens=1))
    return b.build()
