"""PyTorch import: ``from_torch(module, example_input)`` traces with ``torch.export`` into a ``Network``.

``torch.export`` (not ``torch.fx``) because it also traces modules with data-dependent Python
branches such as ``nn.TransformerEncoderLayer``. The exported ATen graph keeps every parameter's
module path, so weighted layers are named after their module (``layer1.0.conv1``), and functional
operations after the module they run in plus the op (``layer1.0.add``). The module is traced in
eval mode (batch normalisation uses its running statistics and folds into the conv before it) and
put back into the mode it was in. torch is imported lazily: ``import workloads`` never needs it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from workloads.importers.builder import GraphBuilder
from workloads.importers.errors import ImportFormatError, MissingExtraError
from workloads.importers.imported import Imported

Handler = Callable[["_Context", Any], None]


class _Context:
    """One export being lowered: the builder plus parameter look-up by placeholder name."""

    def __init__(self, builder: GraphBuilder, params: dict[str, tuple[str, np.ndarray]]) -> None:
        self.builder = builder
        self.params = params  # placeholder name -> (fully qualified name, value)

    def const(self, arg: Any) -> np.ndarray | None:
        """The value of a parameter, buffer or constant argument; ``None`` for an activation."""
        if arg is None:
            return None
        name = getattr(arg, "name", None)
        if name is not None:
            return self.params[name][1] if name in self.params else None
        return np.asarray(arg, dtype=np.float32)

    def weight_name(self, node: Any, arg: Any) -> str:
        """The layer name a weight implies: its module path (``conv1.weight`` -> ``conv1``)."""
        name = getattr(arg, "name", None)
        if name not in self.params:
            raise self.builder.error(
                node.name, "the weight is computed, not a parameter; only parameter weights are supported"
            )
        fqn = self.params[name][0]
        for suffix in (".weight", "_weight"):
            if fqn.endswith(suffix):
                return fqn[: -len(suffix)]
        return fqn

    def scope_name(self, node: Any, op: str) -> str:
        """``{module}.{op}`` for a functional op; a pooling or softmax module's own path for its op."""
        stack = node.meta.get("nn_module_stack") or {}
        scope, kind = list(stack.values())[-1] if stack else ("", "")
        if scope and (str(kind).startswith("torch.nn.modules.pooling.") or str(kind).endswith(".Softmax")):
            return str(scope)
        return f"{scope}.{op}" if scope else op


def _shape(node: Any) -> tuple[int, ...]:
    val = node.meta.get("val")
    if isinstance(val, (list, tuple)):
        val = val[0]
    return tuple(int(d) for d in val.shape)


def _arg(node: Any, index: int, key: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(key, default)


def _ints(value: Any, default: tuple[int, ...]) -> tuple[int, ...]:
    if value is None or value == []:
        return default
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


# ---------------------------------------------------------------------------------- handlers


def _conv(ctx: _Context, node: Any) -> None:
    weight = _arg(node, 1, "weight")
    value = ctx.const(weight)
    padding = _arg(node, 4, "padding", (0,))
    if isinstance(padding, str):
        raise ctx.builder.error(node.name, f"string padding {padding!r} is not supported")
    ctx.builder.conv(
        node.name,
        node.args[0].name,
        _shape(node),
        name=ctx.weight_name(node, weight),
        weight=value,
        weight_shape=_shape(weight),
        bias=ctx.const(_arg(node, 2, "bias")),
        stride=_ints(_arg(node, 3, "stride"), (1,)),
        padding=_ints(padding, (0,)),
        dilation=_ints(_arg(node, 5, "dilation"), (1,)),
        groups=int(_arg(node, 6, "groups", 1)),
        node=node.name,
    )


def _linear(ctx: _Context, node: Any) -> None:
    weight = _arg(node, 1, "weight")
    ctx.builder.linear(
        node.name,
        node.args[0].name,
        _shape(node),
        name=ctx.weight_name(node, weight),
        weight=ctx.const(weight),
        weight_shape=_shape(weight),
        bias=ctx.const(_arg(node, 2, "bias")),
        node=node.name,
    )


def _batch_norm(ctx: _Context, node: Any) -> None:
    gamma, beta, mean, var = (
        ctx.const(_arg(node, i, k))
        for i, k in ((1, "weight"), (2, "bias"), (3, "running_mean"), (4, "running_var"))
    )
    if mean is None or var is None:
        raise ctx.builder.error(node.name, "batch normalisation without running statistics is not supported")
    eps = float(_arg(node, 7, "eps", 1e-5))
    scale = (1.0 if gamma is None else gamma.astype(np.float64)) / np.sqrt(var.astype(np.float64) + eps)
    shift = (0.0 if beta is None else beta.astype(np.float64)) - mean * scale
    ctx.builder.batchnorm(node.name, node.args[0].name, scale=scale, shift=shift, node=node.name)


def _activation(kind: str) -> Handler:
    def handle(ctx: _Context, node: Any) -> None:
        ctx.builder.activation(node.name, node.args[0].name, kind, node=node.name)

    return handle


def _hardtanh(ctx: _Context, node: Any) -> None:
    bounds = (float(_arg(node, 1, "min_val", -1.0)), float(_arg(node, 2, "max_val", 1.0)))
    if bounds != (0.0, 6.0):
        raise ctx.builder.error(node.name, f"hardtanh{bounds} is supported only as ReLU6, i.e. (0, 6)")
    ctx.builder.activation(node.name, node.args[0].name, "relu6", node=node.name)


def _clamp(ctx: _Context, node: Any) -> None:
    bounds = (_arg(node, 1, "min"), _arg(node, 2, "max"))
    kinds = {(0, None): "relu", (0, 6): "relu6"}
    if bounds not in kinds:
        raise ctx.builder.error(
            node.name, f"clamp{bounds} is supported only as ReLU (0, None) or ReLU6 (0, 6)"
        )
    ctx.builder.activation(node.name, node.args[0].name, kinds[bounds], node=node.name)


def _gelu(ctx: _Context, node: Any) -> None:
    if _arg(node, 1, "approximate", "none") != "none":
        ctx.builder.note("tanh-approximated GELU is imported as exact (erf) GELU")
    ctx.builder.activation(node.name, node.args[0].name, "gelu", node=node.name)


def _pool(kind: str) -> Handler:
    def handle(ctx: _Context, node: Any) -> None:
        kernel = _ints(node.args[1], (1,))
        if kind == "max" and _ints(_arg(node, 4, "dilation"), (1,)) not in ((1,), (1, 1)):
            raise ctx.builder.error(node.name, "dilated max pooling is not supported")
        padding = _ints(_arg(node, 3, "padding"), (0,))
        if kind == "avg" and any(padding) and not _arg(node, 5, "count_include_pad", True):
            raise ctx.builder.error(
                node.name, "average pooling with count_include_pad=False is not supported"
            )
        ctx.builder.pool(
            node.name,
            node.args[0].name,
            _shape(node),
            name=ctx.scope_name(node, f"{kind}pool"),
            kind=kind,
            kernel=kernel,
            stride=_ints(_arg(node, 2, "stride"), kernel),
            padding=padding,
            node=node.name,
        )

    return handle


def _adaptive(kind: str) -> Handler:
    def handle(ctx: _Context, node: Any) -> None:
        ctx.builder.adaptive_pool(
            node.name,
            node.args[0].name,
            _shape(node),
            name=ctx.scope_name(node, f"{kind}pool"),
            kind=kind,
            node=node.name,
        )

    return handle


def _mean(ctx: _Context, node: Any) -> None:
    x = node.args[0]
    dims = {d % 4 for d in _ints(_arg(node, 1, "dim"), ())}
    if len(_shape(x)) != 4 or dims != {2, 3}:
        raise ctx.builder.error(
            node.name,
            f"mean over dims {sorted(dims)} is supported only as global "
            "average pooling of a 4-d tensor (dims 2 and 3)",
        )
    h, w = _shape(x)[2:]
    ctx.builder.pool(
        node.name,
        x.name,
        (*_shape(x)[:2], 1, 1),
        name=ctx.scope_name(node, "avgpool"),
        kind="avg",
        kernel=(h, w),
        stride=(h, w),
        padding=(0, 0),
        node=node.name,
    )
    ctx.builder.alias(node.name, node.name, _shape(node), node.name)


def _add(ctx: _Context, node: Any) -> None:
    a, b = node.args[0], node.args[1]
    if _arg(node, 2, "alpha", 1) != 1:
        raise ctx.builder.error(node.name, "add with alpha != 1 is not supported")
    if ctx.const(a) is not None and ctx.const(b) is None:
        a, b = b, a
    other = ctx.const(b)
    if other is not None and other.ndim == 0:
        ctx.builder.reorder(node.name, a.name, _shape(node), node.name, "constant shift")
        return
    ctx.builder.add(
        node.name,
        a.name,
        b.name if other is None else other,
        _shape(node),
        name=ctx.scope_name(node, "add"),
        node=node.name,
    )


def _scale(ctx: _Context, node: Any) -> None:
    a, b = node.args[0], node.args[1]
    if ctx.const(a) is not None:
        a, b = b, a
    if ctx.const(b) is None:
        raise ctx.builder.error(node.name, "products of two activations are supported only as matmul")
    ctx.builder.reorder(node.name, a.name, _shape(node), node.name, "constant scaling")


def _cat(ctx: _Context, node: Any) -> None:
    operands: list[str | np.ndarray | None] = [
        t.name if ctx.const(t) is None else ctx.const(t) for t in node.args[0]
    ]
    ctx.builder.concat(
        node.name,
        operands,
        int(_arg(node, 1, "dim", 0)),
        _shape(node),
        name=ctx.scope_name(node, "cat"),
        node=node.name,
    )


def _matmul(ctx: _Context, node: Any) -> None:
    a, b = node.args[0], node.args[1]
    weight = ctx.const(b)
    if weight is not None:  # x @ W: a linear layer without bias
        ctx.builder.linear(
            node.name,
            a.name,
            _shape(node),
            name=ctx.weight_name(node, b),
            weight=weight.T,
            weight_shape=_shape(b)[::-1],
            bias=None,
            node=node.name,
        )
        return
    ctx.builder.matmul(
        node.name, a.name, b.name, _shape(node), name=ctx.scope_name(node, "matmul"), node=node.name
    )


def _sdpa(ctx: _Context, node: Any) -> None:
    if _arg(node, 3, "attn_mask") is not None:
        ctx.builder.note("attention masks are not modelled (the full score matrix is computed)")
    scope = ctx.scope_name(node, "attention")
    ctx.builder.attention(node.name, *(a.name for a in node.args[:3]), scope=scope, node=node.name)


def _layer_norm(ctx: _Context, node: Any) -> None:
    x = node.args[0]
    if len(_ints(node.args[1], ())) != 1:
        raise ctx.builder.error(node.name, "layer norm is supported over the last axis only")
    weight = _arg(node, 2, "weight")
    name = ctx.weight_name(node, weight) if weight is not None else ctx.scope_name(node, "layernorm")
    ctx.builder.layernorm(
        node.name,
        x.name,
        name=name,
        weight=ctx.const(weight),
        bias=ctx.const(_arg(node, 3, "bias")),
        node=node.name,
    )


def _softmax(ctx: _Context, node: Any) -> None:
    ctx.builder.softmax(
        node.name, node.args[0].name, int(node.args[1]), name=ctx.scope_name(node, "softmax"), node=node.name
    )


def _alias(ctx: _Context, node: Any) -> None:
    ctx.builder.alias(node.name, node.args[0].name, _shape(node), node.name)


def _reorder(ctx: _Context, node: Any) -> None:
    target = str(node.target)
    ctx.builder.reorder(node.name, node.args[0].name, _shape(node), node.name, target.split(".")[1])


def _getitem(ctx: _Context, node: Any) -> None:
    ctx.builder.reorder(node.name, node.args[0].name, _shape(node), node.name, "getitem")


# One table: ATen op name (overload packet, in-place variants folded) -> handler.
TORCH_OPS: dict[str, Handler] = {
    "conv2d": _conv,
    "convolution": _conv,
    "linear": _linear,
    "batch_norm": _batch_norm,
    "relu": _activation("relu"),
    "relu6": _activation("relu6"),
    "hardtanh": _hardtanh,
    "clamp": _clamp,
    "gelu": _gelu,
    "silu": _activation("silu"),
    "hardswish": _activation("hardswish"),
    "max_pool2d": _pool("max"),
    "avg_pool2d": _pool("avg"),
    "adaptive_avg_pool2d": _adaptive("avg"),
    "adaptive_max_pool2d": _adaptive("max"),
    "mean": _mean,
    "add": _add,
    "mul": _scale,
    "div": _scale,
    "cat": _cat,
    "concat": _cat,
    "matmul": _matmul,
    "bmm": _matmul,
    "mm": _matmul,
    "scaled_dot_product_attention": _sdpa,
    "layer_norm": _layer_norm,
    "softmax": _softmax,
    "_softmax": _softmax,
    "getitem": _getitem,
    **dict.fromkeys(
        (
            "flatten",
            "view",
            "reshape",
            "_unsafe_view",
            "unflatten",
            "squeeze",
            "unsqueeze",
            "contiguous",
            "clone",
            "dropout",
            "feature_dropout",
            "alpha_dropout",
            "detach",
            "to",
            "_to_copy",
            "type_as",
            "alias",
            "lift_fresh_copy",
        ),
        _alias,
    ),
    **dict.fromkeys(
        (
            "permute",
            "transpose",
            "t",
            "select",
            "slice",
            "narrow",
            "expand",
            "repeat",
            "chunk",
            "split",
            "split_with_sizes",
            "unbind",
        ),
        _reorder,
    ),
}


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
    ctx = _Context(builder, params)
    for node in graph.nodes:
        if node.op == "placeholder":
            if node.name in sources:
                continue
            builder.input(node.name, _shape(node))
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
