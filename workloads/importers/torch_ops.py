"""The ATen-op handlers of the PyTorch importer: ``TORCH_OPS`` maps each supported op to the code that
turns one node of a ``torch.export`` graph into builder calls.

A handler reads a node's positional and keyword arguments (ATen's schema: ``conv2d(input, weight,
bias, stride, padding, dilation, groups)``), looks parameters up through the ``ExportContext`` and
names layers after their module path. They are kept apart from ``torch_import``, which runs
``torch.export`` and walks the graph (placeholders, constant folding, dispatch), because the table
is what grows as ops are supported while the tracing driver stays put. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from workloads.importers.builder import GraphBuilder

#: One handler per ATen op: it reads the node's arguments and calls the builder.
Handler = Callable[["ExportContext", Any], None]


class ExportContext:
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


def node_shape(node: Any) -> tuple[int, ...]:
    """The shape of the (first) tensor a node of the exported graph produces."""
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


def _conv(ctx: ExportContext, node: Any) -> None:
    weight = _arg(node, 1, "weight")
    value = ctx.const(weight)
    padding = _arg(node, 4, "padding", (0,))
    if isinstance(padding, str):
        raise ctx.builder.error(node.name, f"string padding {padding!r} is not supported")
    ctx.builder.conv(
        node.name,
        node.args[0].name,
        node_shape(node),
        name=ctx.weight_name(node, weight),
        weight=value,
        weight_shape=node_shape(weight),
        bias=ctx.const(_arg(node, 2, "bias")),
        stride=_ints(_arg(node, 3, "stride"), (1,)),
        padding=_ints(padding, (0,)),
        dilation=_ints(_arg(node, 5, "dilation"), (1,)),
        groups=int(_arg(node, 6, "groups", 1)),
        node=node.name,
    )


def _linear(ctx: ExportContext, node: Any) -> None:
    weight = _arg(node, 1, "weight")
    ctx.builder.linear(
        node.name,
        node.args[0].name,
        node_shape(node),
        name=ctx.weight_name(node, weight),
        weight=ctx.const(weight),
        weight_shape=node_shape(weight),
        bias=ctx.const(_arg(node, 2, "bias")),
        node=node.name,
    )


def _batch_norm(ctx: ExportContext, node: Any) -> None:
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
    def handle(ctx: ExportContext, node: Any) -> None:
        ctx.builder.activation(node.name, node.args[0].name, kind, node=node.name)

    return handle


def _hardtanh(ctx: ExportContext, node: Any) -> None:
    bounds = (float(_arg(node, 1, "min_val", -1.0)), float(_arg(node, 2, "max_val", 1.0)))
    if bounds != (0.0, 6.0):
        raise ctx.builder.error(node.name, f"hardtanh{bounds} is supported only as ReLU6, i.e. (0, 6)")
    ctx.builder.activation(node.name, node.args[0].name, "relu6", node=node.name)


def _clamp(ctx: ExportContext, node: Any) -> None:
    bounds = (_arg(node, 1, "min"), _arg(node, 2, "max"))
    kinds = {(0, None): "relu", (0, 6): "relu6"}
    if bounds not in kinds:
        raise ctx.builder.error(
            node.name, f"clamp{bounds} is supported only as ReLU (0, None) or ReLU6 (0, 6)"
        )
    ctx.builder.activation(node.name, node.args[0].name, kinds[bounds], node=node.name)


def _gelu(ctx: ExportContext, node: Any) -> None:
    if _arg(node, 1, "approximate", "none") != "none":
        ctx.builder.note("tanh-approximated GELU is imported as exact (erf) GELU")
    ctx.builder.activation(node.name, node.args[0].name, "gelu", node=node.name)


def _pool(kind: str) -> Handler:
    def handle(ctx: ExportContext, node: Any) -> None:
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
            node_shape(node),
            name=ctx.scope_name(node, f"{kind}pool"),
            kind=kind,
            kernel=kernel,
            stride=_ints(_arg(node, 2, "stride"), kernel),
            padding=padding,
            node=node.name,
        )

    return handle


def _adaptive(kind: str) -> Handler:
    def handle(ctx: ExportContext, node: Any) -> None:
        ctx.builder.adaptive_pool(
            node.name,
            node.args[0].name,
            node_shape(node),
            name=ctx.scope_name(node, f"{kind}pool"),
            kind=kind,
            node=node.name,
        )

    return handle


def _mean(ctx: ExportContext, node: Any) -> None:
    x = node.args[0]
    dims = {d % 4 for d in _ints(_arg(node, 1, "dim"), ())}
    if len(node_shape(x)) != 4 or dims != {2, 3}:
        raise ctx.builder.error(
            node.name,
            f"mean over dims {sorted(dims)} is supported only as global "
            "average pooling of a 4-d tensor (dims 2 and 3)",
        )
    h, w = node_shape(x)[2:]
    ctx.builder.pool(
        node.name,
        x.name,
        (*node_shape(x)[:2], 1, 1),
        name=ctx.scope_name(node, "avgpool"),
        kind="avg",
        kernel=(h, w),
        stride=(h, w),
        padding=(0, 0),
        node=node.name,
    )
    ctx.builder.alias(node.name, node.name, node_shape(node), node.name)


def _add(ctx: ExportContext, node: Any) -> None:
    a, b = node.args[0], node.args[1]
    if _arg(node, 2, "alpha", 1) != 1:
        raise ctx.builder.error(node.name, "add with alpha != 1 is not supported")
    if ctx.const(a) is not None and ctx.const(b) is None:
        a, b = b, a
    other = ctx.const(b)
    if other is not None and other.ndim == 0:
        ctx.builder.reorder(node.name, a.name, node_shape(node), node.name, "constant shift")
        return
    ctx.builder.add(
        node.name,
        a.name,
        b.name if other is None else other,
        node_shape(node),
        name=ctx.scope_name(node, "add"),
        node=node.name,
    )


def _scale(ctx: ExportContext, node: Any) -> None:
    a, b = node.args[0], node.args[1]
    if ctx.const(a) is not None:
        a, b = b, a
    if ctx.const(b) is None:
        raise ctx.builder.error(node.name, "products of two activations are supported only as matmul")
    ctx.builder.reorder(node.name, a.name, node_shape(node), node.name, "constant scaling")


def _cat(ctx: ExportContext, node: Any) -> None:
    operands: list[str | np.ndarray | None] = [
        t.name if ctx.const(t) is None else ctx.const(t) for t in node.args[0]
    ]
    ctx.builder.concat(
        node.name,
        operands,
        int(_arg(node, 1, "dim", 0)),
        node_shape(node),
        name=ctx.scope_name(node, "cat"),
        node=node.name,
    )


def _matmul(ctx: ExportContext, node: Any) -> None:
    a, b = node.args[0], node.args[1]
    weight = ctx.const(b)
    if weight is not None:  # x @ W: a linear layer without bias
        ctx.builder.linear(
            node.name,
            a.name,
            node_shape(node),
            name=ctx.weight_name(node, b),
            weight=weight.T,
            weight_shape=node_shape(b)[::-1],
            bias=None,
            node=node.name,
        )
        return
    ctx.builder.matmul(
        node.name, a.name, b.name, node_shape(node), name=ctx.scope_name(node, "matmul"), node=node.name
    )


def _sdpa(ctx: ExportContext, node: Any) -> None:
    if _arg(node, 3, "attn_mask") is not None:
        ctx.builder.note("attention masks are not modelled (the full score matrix is computed)")
    scope = ctx.scope_name(node, "attention")
    ctx.builder.attention(node.name, *(a.name for a in node.args[:3]), scope=scope, node=node.name)


def _layer_norm(ctx: ExportContext, node: Any) -> None:
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


def _softmax(ctx: ExportContext, node: Any) -> None:
    ctx.builder.softmax(
        node.name, node.args[0].name, int(node.args[1]), name=ctx.scope_name(node, "softmax"), node=node.name
    )


def _alias(ctx: ExportContext, node: Any) -> None:
    ctx.builder.alias(node.name, node.args[0].name, node_shape(node), node.name)


def _reorder(ctx: ExportContext, node: Any) -> None:
    target = str(node.target)
    ctx.builder.reorder(node.name, node.args[0].name, node_shape(node), node.name, target.split(".")[1])


def _getitem(ctx: ExportContext, node: Any) -> None:
    ctx.builder.reorder(node.name, node.args[0].name, node_shape(node), node.name, "getitem")


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


__all__ = ["TORCH_OPS", "ExportContext", "Handler", "node_shape"]
