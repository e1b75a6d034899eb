"""ONNX import: ``from_onnx(path)`` reads a model file (opset 11 and later) into a ``Network``.

Shapes come from ONNX shape inference, weights from the initializers. Layers are named after the
module scope the exporter wrote into node names (``/layer1/layer1.0/conv1/Conv`` -> ``layer1.0.conv1``),
so a model exported from PyTorch imports to the network ``from_torch`` gives. Subgraphs that only
compute shapes (``Shape``, ``Gather`` on constants, ...) are skipped; GELU and SiLU that exporters
spell out as ``Div/Erf/Add/Mul/Mul`` and ``Sigmoid/Mul`` fuse back into one activation. When the
weights live in external files that are missing, the shapes still import (weights ``None``, said
once in the notes). onnx is imported lazily: ``import workloads`` never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from workloads.importers.builder import GraphBuilder
from workloads.importers.errors import ImportFormatError, MissingExtraError
from workloads.importers.imported import Imported
from workloads.importers.onnx_graph import (
    attr,
    fold_constants,
    infer_shapes,
    load_model,
)

Handler = Callable[["_Graph", Any], None]


def module_path(node_name: str) -> str:
    """The module path in a TorchScript-exporter node name: each scope segment repeats its parent's
    name as a prefix (``/features/features.1/conv/conv.0/Conv`` -> ``features.1.conv.0``)."""
    path, previous = "", ""
    for segment in node_name.strip("/").split("/")[:-1]:
        if previous and segment.startswith(previous + "."):
            path += segment[len(previous) :]
        else:
            path = f"{path}.{segment}" if path else segment
        previous = segment
    return path


class _Graph:
    """One ONNX graph being lowered: shapes, constant values, pattern state, the builder."""

    def __init__(
        self, builder: GraphBuilder, shapes: dict[str, tuple[int, ...]], consts: dict[str, np.ndarray | None]
    ) -> None:
        self.builder = builder
        self.shapes = shapes
        self.consts = consts  # constant tensors; value None when stored externally and missing
        self.pattern: dict[str, tuple[str, str]] = {}  # tensor -> (stage, activation input)

    def shape(self, tensor: str, node: Any) -> tuple[int, ...]:
        if tensor not in self.shapes:
            raise self.builder.error(node.name, f"shape inference gave no static shape for {tensor!r}")
        return self.shapes[tensor]

    def const(self, tensor: str) -> np.ndarray | None:
        return self.consts.get(tensor)

    def is_const(self, tensor: str) -> bool:
        return tensor in self.consts

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        return attr(node, name, default)

    def scoped(self, node: Any, op: str) -> str:
        scope = module_path(node.name)
        return f"{scope}.{op}" if scope else op

    def layer_name(self, node: Any, fallback: str) -> str:
        return module_path(node.name) or fallback


def _scalar(value: np.ndarray | None) -> float | None:
    return None if value is None or np.size(value) != 1 else float(np.asarray(value).reshape(()))


# ---------------------------------------------------------------------------------- handlers


def _conv(g: _Graph, node: Any) -> None:
    x, w = node.input[0], node.input[1]
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if g.attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise g.builder.error(node.name, "auto_pad is not supported; export with explicit pads")
    g.builder.conv(
        node.output[0],
        x,
        g.shape(node.output[0], node),
        name=g.layer_name(node, w),
        weight=g.const(w),
        weight_shape=g.shape(w, node),
        bias=bias,
        stride=g.attr(node, "strides", [1, 1]),
        padding=g.attr(node, "pads", [0, 0, 0, 0]),
        dilation=g.attr(node, "dilations", [1, 1]),
        groups=g.attr(node, "group", 1),
        node=node.name,
    )


def _gemm(g: _Graph, node: Any) -> None:
    a, b = node.input[0], node.input[1]
    if g.attr(node, "transA", 0) or g.attr(node, "alpha", 1.0) != 1.0 or g.attr(node, "beta", 1.0) != 1.0:
        raise g.builder.error(node.name, "Gemm is supported with transA=0, alpha=1 and beta=1 only")
    if not g.is_const(b):
        raise g.builder.error(node.name, "Gemm needs a constant B (the weight)")
    weight, shape = g.const(b), g.shape(b, node)
    if not g.attr(node, "transB", 0):
        weight, shape = (None if weight is None else weight.T), shape[::-1]
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    g.builder.linear(
        node.output[0],
        a,
        g.shape(node.output[0], node),
        name=g.layer_name(node, b),
        weight=weight,
        weight_shape=shape,
        bias=bias,
        node=node.name,
    )


def _matmul(g: _Graph, node: Any) -> None:
    a, b = node.input
    out = node.output[0]
    if g.is_const(b):
        weight = g.const(b)
        g.builder.linear(
            out,
            a,
            g.shape(out, node),
            name=g.layer_name(node, b),
            weight=None if weight is None else weight.T,
            weight_shape=g.shape(b, node)[::-1],
            bias=None,
            node=node.name,
        )
    else:
        g.builder.matmul(out, a, b, g.shape(out, node), name=g.scoped(node, "matmul"), node=node.name)


def _batch_norm(g: _Graph, node: Any) -> None:
    gamma, beta, mean, var = (g.const(t) for t in node.input[1:5])
    scale = shift = None
    if gamma is not None and beta is not None and mean is not None and var is not None:
        scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + g.attr(node, "epsilon", 1e-5))
        shift = beta - mean * scale
    g.builder.batchnorm(node.output[0], node.input[0], scale=scale, shift=shift, node=node.name)


def _activation(kind: str) -> Handler:
    def handle(g: _Graph, node: Any) -> None:
        g.builder.activation(node.output[0], node.input[0], kind, node=node.name)

    return handle


def _clip(g: _Graph, node: Any) -> None:
    if len(node.input) > 1:  # opset 11+: bounds are inputs
        bounds = tuple(_scalar(g.const(t)) if t else None for t in list(node.input[1:3]) + [""] * 2)[:2]
    else:
        bounds = (g.attr(node, "min"), g.attr(node, "max"))
    kinds = {(0.0, None): "relu", (0.0, 6.0): "relu6"}
    if bounds not in kinds:
        raise g.builder.error(node.name, f"Clip{bounds} is supported only as ReLU (0, None) or ReLU6 (0, 6)")
    g.builder.activation(node.output[0], node.input[0], kinds[bounds], node=node.name)


def _gelu(g: _Graph, node: Any) -> None:
    if g.attr(node, "approximate", b"none") not in (b"none", "none"):
        g.builder.note("tanh-approximated GELU is imported as exact (erf) GELU")
    g.builder.activation(node.output[0], node.input[0], "gelu", node=node.name)


def _pool(kind: str) -> Handler:
    def handle(g: _Graph, node: Any) -> None:
        if g.attr(node, "ceil_mode", 0) or g.attr(node, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise g.builder.error(node.name, "ceil_mode and auto_pad are not supported in pooling")
        kernel = g.attr(node, "kernel_shape")
        pads = g.attr(node, "pads", [0, 0, 0, 0])
        if kind == "avg" and any(pads) and not g.attr(node, "count_include_pad", 0):
            raise g.builder.error(node.name, "AveragePool with padding needs count_include_pad=1")
        g.builder.pool(
            node.output[0],
            node.input[0],
            g.shape(node.output[0], node),
            name=g.layer_name(node, f"{kind}pool"),
            kind=kind,
            kernel=kernel,
            stride=g.attr(node, "strides", kernel),
            padding=pads,
            node=node.name,
        )

    return handle


def _global_pool(kind: str) -> Handler:
    def handle(g: _Graph, node: Any) -> None:
        g.builder.adaptive_pool(
            node.output[0],
            node.input[0],
            g.shape(node.output[0], node),
            name=g.layer_name(node, f"{kind}pool"),
            kind=kind,
            node=node.name,
        )

    return handle


def _reduce_mean(g: _Graph, node: Any) -> None:
    x = node.input[0]
    given = g.const(node.input[1]) if len(node.input) > 1 else None
    axes = g.attr(node, "axes") or ([] if given is None else given.tolist())
    if len(g.shape(x, node)) != 4 or {int(a) % 4 for a in axes} != {2, 3}:
        raise g.builder.error(node.name, f"ReduceMean over axes {axes} is supported only as global pooling")
    _global_pool("avg")(g, node)


def _add(g: _Graph, node: Any) -> None:
    a, b = node.input
    out = node.output[0]
    if g.pattern.get(a, ("",))[0] == "gelu_erf" or g.pattern.get(b, ("",))[0] == "gelu_erf":
        erf = a if g.pattern.get(a, ("",))[0] == "gelu_erf" else b
        g.pattern[out] = ("gelu_add", g.pattern[erf][1])
        return
    if g.is_const(a):
        a, b = b, a
    if not g.is_const(b):
        g.builder.add(out, a, b, g.shape(out, node), name=g.scoped(node, "add"), node=node.name)
        return
    if g.builder.fold_bias(out, a, g.const(b), g.shape(b, node), node=node.name):
        return
    value = g.const(b)
    if value is None or np.size(value) == 1:
        g.builder.reorder(out, a, g.shape(out, node), node.name, "constant shift")
        return
    g.builder.add(out, a, value, g.shape(out, node), name=g.scoped(node, "add"), node=node.name)


def _mul_div(g: _Graph, node: Any) -> None:
    a, b = node.input
    out = node.output[0]
    stage = {t: g.pattern.get(t, ("", ""))[0] for t in (a, b)}
    if node.op_type == "Div" and g.is_const(b) and abs((_scalar(g.const(b)) or 0) - 2**0.5) < 1e-3:
        g.pattern[out] = ("gelu_div", a)
        g.builder.alias(out, a, g.shape(out, node), node.name)
        return
    if node.op_type == "Mul" and "gelu_add" in stage.values():
        other, added = (a, b) if stage[b] == "gelu_add" else (b, a)
        if g.pattern[added][1] == other:
            g.pattern[out] = ("gelu_mul", other)
            return
    if node.op_type == "Mul" and "gelu_mul" in stage.values():
        half = a if stage[b] == "gelu_mul" else b
        if _scalar(g.const(half)) == 0.5:
            x = g.pattern[b if half == a else a][1]
            g.builder.activation(out, x, "gelu", node=node.name, consumers=2)
            return
    if node.op_type == "Mul" and "sigmoid" in stage.values():
        sig = b if stage[b] == "sigmoid" else a
        x = a if sig == b else b
        if g.pattern[sig][1] == x:
            g.builder.activation(out, x, "silu", node=node.name, consumers=2)
            return
    if g.is_const(b) or g.is_const(a):
        g.builder.reorder(out, b if g.is_const(a) else a, g.shape(out, node), node.name, "constant scaling")
        return
    raise g.builder.error(
        node.name, f"{node.op_type} of two activations is supported only as part of GELU or SiLU"
    )


def _pattern_start(stage: str) -> Handler:
    def handle(g: _Graph, node: Any) -> None:
        source = node.input[0]
        if stage == "gelu_erf":
            if g.pattern.get(source, ("",))[0] != "gelu_div":
                raise g.builder.error(node.name, "Erf is supported only inside GELU")
            source = g.pattern[source][1]
        g.pattern[node.output[0]] = (stage, source)

    return handle


def _concat(g: _Graph, node: Any) -> None:
    operands: list[str | np.ndarray | None] = [t if not g.is_const(t) else g.const(t) for t in node.input]
    g.builder.concat(
        node.output[0],
        operands,
        g.attr(node, "axis"),
        g.shape(node.output[0], node),
        name=g.scoped(node, "cat"),
        node=node.name,
    )


def _layer_norm(g: _Graph, node: Any) -> None:
    x = node.input[0]
    if g.attr(node, "axis", -1) % len(g.shape(x, node)) != len(g.shape(x, node)) - 1:
        raise g.builder.error(node.name, "LayerNormalization is supported over the last axis only")
    bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    g.builder.layernorm(
        node.output[0],
        x,
        name=g.layer_name(node, "layernorm"),
        weight=g.const(node.input[1]),
        bias=bias,
        node=node.name,
    )


def _softmax(g: _Graph, node: Any) -> None:
    g.builder.softmax(
        node.output[0],
        node.input[0],
        g.attr(node, "axis", -1),
        name=g.scoped(node, "softmax"),
        node=node.name,
    )


def _alias(g: _Graph, node: Any) -> None:
    g.builder.alias(node.output[0], node.input[0], g.shape(node.output[0], node), node.name)


def _reorder(g: _Graph, node: Any) -> None:
    for out in node.output:
        g.builder.reorder(out, node.input[0], g.shape(out, node), node.name, node.op_type)


# One table: ONNX op type -> handler.
ONNX_OPS: dict[str, Handler] = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "BatchNormalization": _batch_norm,
    "Relu": _activation("relu"),
    "Clip": _clip,
    "Gelu": _gelu,
    "HardSwish": _activation("hardswish"),
    "Sigmoid": _pattern_start("sigmoid"),
    "Erf": _pattern_start("gelu_erf"),
    "MaxPool": _pool("max"),
    "AveragePool": _pool("avg"),
    "GlobalAveragePool": _global_pool("avg"),
    "GlobalMaxPool": _global_pool("max"),
    "ReduceMean": _reduce_mean,
    "Add": _add,
    "Mul": _mul_div,
    "Div": _mul_div,
    "Concat": _concat,
    "LayerNormalization": _layer_norm,
    "Softmax": _softmax,
    **dict.fromkeys(("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Cast"), _alias),
    **dict.fromkeys(("Transpose", "Gather", "Slice", "Split", "Expand", "Tile"), _reorder),
}


# --------------------------------------------------------------------------------- loading


def from_onnx(path: str | os.PathLike[str], *, name: str | None = None) -> Imported:
    """Read the ONNX model at ``path`` into a ``Network`` plus its weights (keyed by layer name).

    Raises ``MissingExtraError`` without onnx and ``ImportFormatError`` for unreadable files and for
    nodes outside ``ONNX_OPS`` (naming the node, its op type and the supported list).
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise MissingExtraError("onnx", "onnx") from None
    model, notes = load_model(path)
    missing = bool(notes)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 11:
        raise ImportFormatError(f"{path}: opset {opset} is not supported (11 and later)")
    consts: dict[str, np.ndarray | None] = {}
    for init in model.graph.initializer:
        external = init.data_location == onnx.TensorProto.EXTERNAL
        consts[init.name] = None if external and missing else numpy_helper.to_array(init)
    inputs = [i for i in model.graph.input if i.name not in consts]
    if not inputs:
        raise ImportFormatError(f"{path}: the graph has no non-constant input")
    shapes = infer_shapes(model, list(model.graph.node), consts, path)
    nodes = fold_constants(model, consts, shapes, {i.name for i in inputs})
    if any(out not in shapes for node in nodes for out in node.output):
        shapes.update(infer_shapes(model, nodes, consts, path))  # again, with data-derived shapes folded
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    uses: dict[str, int] = {}
    for node in nodes:
        for t in node.input:
            uses[t] = uses.get(t, 0) + 1
    net_name = name or os.path.splitext(os.path.basename(os.fspath(path)))[0]
    batch = shapes[inputs[0].name][0] if inputs[0].name in shapes else 1
    builder = GraphBuilder(net_name, batch=batch, uses=uses, where=os.fspath(path))
    g = _Graph(builder, shapes, consts)
    for i in inputs:
        if i.name not in shapes:
            raise ImportFormatError(f"{path}: input {i.name!r} has no static shape")
        builder.input(i.name, shapes[i.name])
    for node in nodes:
        handler = ONNX_OPS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        builder.lower(node.name, handler and partial(handler, g, node), f"type {node.op_type!r}", ONNX_OPS)
    imported = builder.finish(with_weights=not missing)
    return Imported(imported.network, imported.weights, tuple(notes) + imported.notes)


__all__ = ["ONNX_OPS", "from_onnx", "module_path"]
