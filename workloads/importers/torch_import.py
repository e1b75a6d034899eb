"""PyTorch import: ``from_torch(module, example_input)`` traces with ``torch.export`` into a ``Network``.

``torch.export`` (not ``torch.fx``) because it also traces modules with data-dependent Python
branches such as ``nn.TransformerEncoderLayer``. The exported ATen graph keeps every parameter's
module path, so weighted layers are named after their module (``layer1.0.conv1``), and functional
operations after the module they run in plus the op (``layer1.0.add``). The module is traced in
eval mode (batch normalisation uses its running statistics and folds into the conv before it) and
put back into the mode it was in. torch is imported lazily: ``import workloads`` never needs it.
This module is the tracing driver; the per-op handlers live in ``torch_ops`` (``TORCH_OPS`` is
re-exported here).
"""

from __future__ import annotations

import operator
from functools import partial
from typing import Any

import numpy as np

from workloads.importers.builder import GraphBuilder
from workloads.importers.errors import ImportFormatError, MissingExtraError
from workloads.importers.imported import Imported
from workloads.importers.torch_ops import TORCH_OPS, ExportContext, node_shape


def _op_name(node: Any) -> str:
    if node.target is operator.getitem:
        return "getitem"
    packet = getattr(node.target, "_overloadpacket", None)
    name = str(getattr(packet, "__name__", None) or getattr(node.target, "__name__", node.target))
    return name[:-1] if name.endswith("_") and not name.startswith("_") else name


def _fold(node: Any, params: dict[str, tuple[str, np.ndarray]]) -> tuple[str, np.ndarray]:
    """Evaluate an op on constants only (a class token's expand): its value, named after its first input."""
    import torch
    from torch.fx.node import map_arg

    args, kwargs = map_arg((node.args, node.kwargs), lambda n: torch.from_numpy(params[n.name][1]))
    result = node.target(*args, **kwargs)
    return params[node.all_input_nodes[0].name][0], result.detach().numpy()


def _example_batch(example_input: Any) -> int:
    shape = getattr(example_input, "shape", None)
    if shape is None or len(shape) < 2:
        raise ImportFormatError(f"example_input must be a tensor with a batch axis, got {example_input!r}")
    return int(shape[0])


def from_torch(module: Any, example_input: Any, *, name: str | None = None) -> Imported:
    """Trace ``module`` on ``example_input`` (batch first) into a ``Network`` plus its weights.

    Weights are keyed by layer name; a layer's bias is ``f"{name}.bias"`` (batch norm folded in).
    Raises ``MissingExtraError`` without torch and ``ImportFormatError`` naming the node, its op and
    the supported ops for anything outside ``TORCH_OPS``.
    """
    try:
        import torch
    except ImportError:
        raise MissingExtraError("torch", "torch") from None
    if not isinstance(module, torch.nn.Module):
        raise ImportFormatError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    batch = _example_batch(example_input)
    was_training = module.training
    module.eval()
    try:
        exported = torch.export.export(module, (example_input,))
    except Exception as exc:  # torch raises many types; the user needs to know it was the trace
        raise ImportFormatError(f"torch.export could not trace {type(module).__name__}: {exc}") from exc
    finally:
        module.train(was_training)
    return _lower(exported, batch, name or type(module).__name__)


def _lower(exported: Any, batch: int, name: str) -> Imported:
    signature = exported.graph_signature
    state = {**exported.state_dict, **exported.constants}
    sources = {
        **signature.inputs_to_parameters,
        **signature.inputs_to_buffers,
        **signature.inputs_to_lifted_tensor_constants,
    }
    params = {ph: (fqn, state[fqn].detach().cpu().numpy()) for ph, fqn in sources.items() if fqn in state}
    graph = exported.graph
    uses = {node.name: len(node.users) for node in graph.nodes}
    builder = GraphBuilder(name, batch=batch, uses=uses, where=f"torch module {name}")
    ctx = ExportContext(builder, params)
    for node in graph.nodes:
        if node.op == "placeholder":
            if node.name in sources:
                continue
            builder.input(node.name, node_shape(node))
        elif node.op == "call_function":
            if node.all_input_nodes and all(n.name in params for n in node.all_input_nodes):
                params[node.name] = _fold(node, params)
                continue
            op = _op_name(node)
            handler = TORCH_OPS.get(op)
            builder.lower(
                node.name, handler and partial(handler, ctx, node), f"{op!r} (aten {node.target})", TORCH_OPS
            )
    return builder.finish()


__all__ = ["TORCH_OPS", "from_torch"]
