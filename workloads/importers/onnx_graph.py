"""Reading an ONNX file for the importer: loading (external weights may be missing), shape inference
without the weights, and folding the subgraphs that do not depend on the input into constants."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from workloads.importers.errors import ImportFormatError

# Initializers up to this many elements (shape vectors, scalars) keep their values for shape inference.
SMALL_CONSTANT = 1024


def attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def load_model(path: str | os.PathLike[str]) -> tuple[Any, list[str]]:
    import onnx

    notes: list[str] = []
    try:
        model = onnx.load(os.fspath(path), load_external_data=False)
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such ONNX file") from None
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ImportFormatError(f"{path}: not a readable ONNX model ({exc})") from exc
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        try:
            onnx.load_external_data_for_model(model, os.path.dirname(os.fspath(path)) or ".")
        except (OSError, onnx.checker.ValidationError) as exc:
            notes.append(f"weights stored externally are missing or unreadable ({exc}); imported shapes only")
    return model, notes


def _light_model(model: Any, nodes: list[Any], consts: Mapping[str, np.ndarray | None]) -> Any:
    """``nodes`` with the constants they read: small known ones as initializers (shape inference may
    need their values), the rest as typed inputs. Serialising hundreds of megabytes of weights for
    shape inference used to dominate import time; it only needs their shapes."""
    from onnx import helper, numpy_helper

    produced = {out for node in nodes for out in node.output}
    read = {t for node in nodes for t in node.input if t and t not in produced}
    listed = {i.name for i in model.graph.input}
    big = {init.name: init for init in model.graph.initializer}
    small, typed = [], []
    for name in sorted(read - listed):
        value = consts.get(name)
        if value is not None and np.size(value) <= SMALL_CONSTANT:
            small.append(numpy_helper.from_array(np.asarray(value), name))
        elif name in big:
            typed.append(helper.make_tensor_value_info(name, big[name].data_type, list(big[name].dims)))
    graph = helper.make_graph(
        nodes,
        model.graph.name or "graph",
        [*model.graph.input, *typed],
        list(model.graph.output),
        initializer=small,
    )
    return helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)


def infer_shapes(
    model: Any, nodes: list[Any], consts: Mapping[str, np.ndarray | None], path: str | os.PathLike[str]
) -> dict[str, tuple[int, ...]]:
    from onnx import shape_inference

    try:
        inferred = shape_inference.infer_shapes(_light_model(model, nodes, consts), data_prop=True)
    except Exception as exc:
        raise ImportFormatError(f"{path}: ONNX shape inference failed: {exc}") from exc
    graph = inferred.graph
    shapes = {}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        shape = _static_shape(info)
        if shape is not None:
            shapes[info.name] = shape
    return shapes


def fold_constants(
    model: Any, consts: dict[str, np.ndarray | None], shapes: Mapping[str, tuple[int, ...]], inputs: set[str]
) -> list[Any]:
    """Evaluate every node that does not depend on the input (weights' Identity copies, shape
    arithmetic, a class token's Expand) into ``consts``; return the nodes that do, in order."""
    from onnx import numpy_helper

    live = set(inputs)
    dynamic = []
    for node in model.graph.node:
        if node.op_type == "Shape" and node.input[0] in live:
            shape = shapes.get(node.input[0])
            start, end = attr(node, "start", 0), attr(node, "end", None)
            consts[node.output[0]] = None if shape is None else np.asarray(shape[start:end], dtype=np.int64)
        elif any(t in live for t in node.input):
            live.update(node.output)
            dynamic.append(node)
        elif node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            consts[node.output[0]] = None if value is None else numpy_helper.to_array(value.t)
        else:
            for out, value in zip(node.output, _fold(consts, node)):
                consts[out] = value
    return dynamic


def _fold(consts: Mapping[str, np.ndarray | None], node: Any) -> list[np.ndarray | None]:
    """The outputs of a node whose inputs are all constants; ``None`` where an input is unknown
    (external weights missing) or the reference evaluator cannot run the node alone."""
    feeds = {t: consts.get(t) for t in node.input if t}
    if node.op_type == "Identity":
        return [feeds.get(node.input[0])]
    if any(v is None for v in feeds.values()):
        return [None] * len(node.output)
    from onnx.reference import ReferenceEvaluator

    try:
        return list(ReferenceEvaluator(node).run(None, feeds))
    except Exception:
        return [None] * len(node.output)


def _static_shape(value_info: Any) -> tuple[int, ...] | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
    if dims and dims[0] is None:  # a symbolic batch: import one sample
        dims[0] = 1
    return None if None in dims else tuple(int(d) for d in dims if d is not None)


__all__ = ["SMALL_CONSTANT", "attr", "fold_constants", "infer_shapes", "load_model"]
