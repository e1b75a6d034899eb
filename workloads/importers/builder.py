"""The op-to-layer construction both model importers share (PyTorch and ONNX build the same network).

A front end walks its graph in execution order and calls one method per operation, naming tensors
by its own ids. The builder keeps what each tensor is (the layer that produced its data, its full
shape with the batch axis) and turns operations into layers:

* convolution and linear layers carry their weights (and bias) keyed by the layer name;
* batch normalisation folds into the convolution (or linear layer) that produced its input, an
  activation into the conv, linear or residual add before it, so ``execute`` is exact;
* reshapes, flattens, dropout and identity change only the recorded shape (no layer); permutes,
  slices and constant scalings are not represented either, and say so once in the notes, because
  ``execute`` then no longer reproduces the source model;
* shapes are per sample: the example's batch axis (the first axis of that size) is dropped.

The tensor bookkeeping (values, views, names, the result) is ``graph_state.GraphState``, which
``GraphBuilder`` extends; ``Value`` is re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from workloads.importers.graph_state import GraphState, Value
from workloads.layers import (
    Add,
    Concat,
    Conv2d,
    Layer,
    LayerNorm,
    Linear,
    MatMul,
    Pool,
    Softmax,
)

FUSABLE = (Conv2d, Linear, Add)


class GraphBuilder(GraphState):
    """Grows a ``Network`` from operations; ``uses`` counts each tensor id's consumers (for fusion)."""

    def _fusable(
        self, tid: str, v: Value, kinds: tuple[type, ...], consumers: int = 1
    ) -> Conv2d | Linear | Add | None:
        """The conv, linear or add layer (of ``kinds``) whose output ``tid`` is, with no activation yet
        and no reader besides the ``consumers`` fusing into it; else ``None``."""
        if v.producer is None or not v.direct or self.uses.get(tid, 0) != consumers:
            return None
        layer = self.layers[v.producer]
        if not isinstance(layer, FUSABLE) or not isinstance(layer, kinds) or layer.activation is not None:
            return None
        return layer

    # ------------------------------------------------------------------ layers with weights

    def conv(
        self,
        out: str,
        x: str,
        out_shape: Sequence[int],
        *,
        name: str,
        weight: np.ndarray | None,
        weight_shape: Sequence[int],
        bias: np.ndarray | None,
        stride: Sequence[int],
        padding: Sequence[int],
        dilation: Sequence[int],
        groups: int,
        node: str,
    ) -> None:
        v = self.value(x, node)
        if len(v.shape) != 4 or len(weight_shape) != 4:
            raise self.error(node, f"only 2-d convolutions are supported, got input shape {v.shape}")
        if len(padding) == 4:  # ONNX pads: begin_h, begin_w, end_h, end_w
            if tuple(padding[:2]) != tuple(padding[2:]):
                raise self.error(node, f"asymmetric padding {tuple(padding)} is not supported")
            padding = padding[:2]
        c, h, w = self.per_sample(v.shape, node)
        layer = Conv2d(
            self.unique_name(name),
            c,
            int(weight_shape[0]),
            (int(weight_shape[2]), int(weight_shape[3])),
            (h, w),
            stride=_pair(stride),
            padding=_pair(padding),
            dilation=_pair(dilation),
            groups=int(groups),
        )
        self._check_shape(layer, out_shape, node)
        self._store(layer.name, weight, bias)
        self.emit(layer, [v], out, out_shape)

    def linear(
        self,
        out: str,
        x: str,
        out_shape: Sequence[int],
        *,
        name: str,
        weight: np.ndarray | None,
        weight_shape: Sequence[int],
        bias: np.ndarray | None,
        node: str,
    ) -> None:
        """``y = x @ weight.T + bias`` with ``weight`` of shape (out_features, in_features)."""
        v = self.value(x, node)
        out_features, in_features = (int(d) for d in weight_shape)
        if v.shape[-1] != in_features:
            raise self.error(node, f"input shape {v.shape} does not end in in_features={in_features}")
        tokens, rest = divmod(math.prod(v.shape), in_features * self.batch)
        if rest:
            raise self.error(node, f"input shape {v.shape} does not split into batch {self.batch} x tokens")
        layer = Linear(self.unique_name(name), in_features, out_features, tokens=tokens)
        self._store(layer.name, weight, bias)
        self.emit(layer, [v], out, out_shape)

    def _store(self, name: str, weight: np.ndarray | None, bias: np.ndarray | None) -> None:
        if weight is not None:
            self.weights[name] = np.asarray(weight)
        if bias is not None:
            self.weights[f"{name}.bias"] = np.asarray(bias)

    def _check_shape(self, layer: Layer, out_shape: Sequence[int], node: str) -> None:
        expected = self.per_sample(out_shape, node)
        if math.prod(layer.output_shape) != math.prod(expected):
            raise self.error(
                node, f"computed output shape {layer.output_shape} differs from the graph's {expected}"
            )

    def batchnorm(
        self, out: str, x: str, *, scale: np.ndarray | None, shift: np.ndarray | None, node: str
    ) -> None:
        """``y = x * scale + shift`` per channel (axis 1), folded into the conv or linear before it.

        ``scale``/``shift`` are ``None`` when the statistics are absent (external weights missing).
        """
        v = self.value(x, node)
        layer = self._fusable(x, v, (Conv2d, Linear))
        if layer is None:
            raise self.error(
                node,
                "batch normalisation is supported only directly after a convolution "
                "or linear layer whose output nothing else reads",
            )
        if scale is not None and shift is not None and layer.name in self.weights:
            w = self.weights[layer.name]
            self.weights[layer.name] = w * scale.reshape(-1, *([1] * (w.ndim - 1))).astype(w.dtype)
            bias = self.weights.get(f"{layer.name}.bias", np.zeros(len(scale), dtype=w.dtype))
            self.weights[f"{layer.name}.bias"] = (bias * scale + shift).astype(w.dtype)
        self.values[out] = v

    def activation(self, out: str, x: str, kind: str, *, node: str, consumers: int = 1) -> None:
        """Fuse ``kind`` into the layer producing ``x``; ``consumers`` counts the reads of ``x`` the
        activation itself makes (2 where an exporter spells it out, as ``x * sigmoid(x)``)."""
        v = self.value(x, node)
        layer = self._fusable(x, v, FUSABLE, consumers)
        if layer is None:
            raise self.error(
                node,
                f"activation {kind!r} is supported only directly after a convolution, "
                "linear layer or residual add whose output nothing else reads",
            )
        self.layers[layer.name] = replace(layer, activation=kind)
        self.values[out] = v

    def fold_bias(
        self, out: str, x: str, bias: np.ndarray | None, bias_shape: Sequence[int], *, node: str
    ) -> bool:
        """Fold a constant add into the bias of the linear layer before it (ONNX's MatMul + Add);
        False when ``x`` is not such a layer's sole, bias-free output."""
        v = self.value(x, node)
        layer = self._fusable(x, v, (Linear,))
        if not isinstance(layer, Linear) or tuple(bias_shape) != (layer.out_features,):
            return False
        if f"{layer.name}.bias" in self.weights:
            return False
        if bias is not None:
            self.weights[f"{layer.name}.bias"] = np.asarray(bias)
        self.values[out] = v
        return True

    # ------------------------------------------------------------------ layers without weights

    def matmul(self, out: str, a: str, b: str, out_shape: Sequence[int], *, name: str, node: str) -> str:
        """``a @ b`` of two activations, batched over the leading axes (heads)."""
        va, vb = self.value(a, node), self.value(b, node)
        if len(va.shape) < 2 or len(vb.shape) < 2:
            raise self.error(node, f"matmul operands must be at least 2-d, got {va.shape} and {vb.shape}")
        m, k = va.shape[-2:]
        n = vb.shape[-1]
        heads = math.prod(out_shape[:-2]) // self.batch if len(out_shape) > 2 else 1
        layer = MatMul(self.unique_name(name), m, k, n, heads=max(1, heads))
        self.emit(layer, [va, vb], out, out_shape)
        return layer.name

    def attention(self, out: str, q: str, k: str, v: str, *, scope: str, node: str) -> None:
        """``softmax(q @ k^T / sqrt(d)) @ v`` as the zoo models it: scores, softmax, context."""
        vq, vk = self.value(q, node), self.value(k, node)
        scores_shape = (*vq.shape[:-1], vk.shape[-2])
        tmp_k = f"{node}::kT"
        self.values[tmp_k] = Value(vk.producer, (*vk.shape[:-2], vk.shape[-1], vk.shape[-2]), False)
        self.matmul(f"{node}::scores", q, tmp_k, scores_shape, name=f"{scope}.scores", node=node)
        self.softmax(f"{node}::softmax", f"{node}::scores", -1, name=f"{scope}.softmax", node=node)
        vv = self.value(v, node)
        self.matmul(
            out, f"{node}::softmax", v, (*scores_shape[:-1], vv.shape[-1]), name=f"{scope}.context", node=node
        )
        self.note("attention's 1/sqrt(d) scaling is not modelled as a layer")

    def pool(
        self,
        out: str,
        x: str,
        out_shape: Sequence[int],
        *,
        name: str,
        kind: str,
        kernel: Sequence[int],
        stride: Sequence[int],
        padding: Sequence[int],
        node: str,
    ) -> None:
        v = self.value(x, node)
        if len(padding) == 4:
            if tuple(padding[:2]) != tuple(padding[2:]):
                raise self.error(node, f"asymmetric padding {tuple(padding)} is not supported")
            padding = padding[:2]
        if tuple(_pair(kernel)) == (1, 1) and tuple(_pair(stride or kernel)) == (1, 1) and not any(padding):
            self.alias(out, x, out_shape, node)  # a 1x1 window copies its input (VGG's 7x7 adaptive pool)
            return
        c, h, w = self.per_sample(v.shape, node)
        layer = Pool(
            self.unique_name(name),
            c,
            (h, w),
            _pair(kernel),
            _pair(stride or kernel),
            _pair(padding),
            kind=kind,
        )
        self._check_shape(layer, out_shape, node)
        if layer.output_shape != self.per_sample(out_shape, node):
            raise self.error(
                node,
                f"pool output {layer.output_shape} differs from the graph's "
                f"{self.per_sample(out_shape, node)} (ceil_mode is not supported)",
            )
        self.emit(layer, [v], out, out_shape)

    def adaptive_pool(
        self, out: str, x: str, out_shape: Sequence[int], *, name: str, kind: str, node: str
    ) -> None:
        """Adaptive pooling: identity when sizes agree (VGG's 7x7 at 224), else an even window."""
        v = self.value(x, node)
        _, h, w = self.per_sample(v.shape, node)
        _, ho, wo = self.per_sample(out_shape, node)
        if (ho, wo) == (h, w):
            self.alias(out, x, out_shape, node)
            return
        if h % ho or w % wo:
            raise self.error(
                node,
                f"adaptive pooling from {(h, w)} to {(ho, wo)} has uneven windows; "
                "only output sizes dividing the input are supported",
            )
        window = (h // ho, w // wo)
        self.pool(
            out, x, out_shape, name=name, kind=kind, kernel=window, stride=window, padding=(0, 0), node=node
        )

    def add(
        self, out: str, a: str, b: str | np.ndarray, out_shape: Sequence[int], *, name: str, node: str
    ) -> None:
        """A residual sum of two tensors, or a tensor plus a constant (kept as the add's operand)."""
        shape = self.per_sample(out_shape, node)
        operands = [self.value(a, node)]
        if isinstance(b, str):
            operands.append(self.value(b, node))
            if operands[0].producer == operands[1].producer:
                self.inexact.append(f"{node} (a sum of one tensor with itself)")
        layer = Add(self.unique_name(name), shape)
        if not isinstance(b, str):
            self.weights[f"{layer.name}.operand"] = self.sample_const(b, out_shape, node)
        self.emit(layer, operands, out, out_shape)

    def concat(
        self,
        out: str,
        given: Sequence[str | np.ndarray | None],
        axis: int,
        out_shape: Sequence[int],
        *,
        name: str,
        node: str,
    ) -> None:
        """Tensor ids and constant operands in order (``None``: a constant whose value is missing)."""
        operands = [o for o in given if o is not None]
        if len(operands) != len(given):
            raise self.error(node, "a concatenated constant is stored externally and missing")
        full = [self.value(o, node).shape if isinstance(o, str) else np.shape(o) for o in operands]
        axis = axis % len(out_shape)
        batch_axis = tuple(out_shape).index(self.batch) if self.batch in out_shape else -1
        if axis == batch_axis:
            raise self.error(node, "concatenation along the batch axis is not supported")
        shapes = tuple(self.per_sample(s, node) if len(s) == len(out_shape) else tuple(s) for s in full)
        layer = Concat(self.unique_name(name), shapes, axis - (axis > batch_axis >= 0))
        values = [self.value(o, node) for o in operands if isinstance(o, str)]
        producers = [val.producer for val in values]
        created = {layer: i for i, layer in enumerate(self.layers)}
        named = [p for p in producers if p is not None]
        # execute() takes a Concat's operands in the order their layers were created.
        if (
            len(named) != len(producers)
            or len(set(named)) != len(named)
            or [created[p] for p in named] != sorted(created[p] for p in named)
        ):
            raise self.error(
                node,
                f"concatenation operands {producers} are not distinct layers in the order "
                "they were computed, which the network cannot record",
            )
        for i, o in enumerate(operands):
            if not isinstance(o, str):
                self.weights[f"{layer.name}.operand{i}"] = self.sample_const(o, full[i], node)
        self.emit(layer, values, out, out_shape)

    def layernorm(
        self, out: str, x: str, *, name: str, weight: np.ndarray | None, bias: np.ndarray | None, node: str
    ) -> None:
        v = self.value(x, node)
        layer = LayerNorm(self.unique_name(name), self.per_sample(v.shape, node))
        if weight is not None:
            self.weights[f"{layer.name}.weight"] = np.asarray(weight)
        if bias is not None:
            self.weights[f"{layer.name}.bias"] = np.asarray(bias)
        self.emit(layer, [v], out, v.shape)

    def softmax(self, out: str, x: str, axis: int, *, name: str, node: str) -> None:
        v = self.value(x, node)
        if axis % len(v.shape) != len(v.shape) - 1:
            raise self.error(node, f"softmax is supported over the last axis only, got axis {axis}")
        self.emit(Softmax(self.unique_name(name), self.per_sample(v.shape, node)), [v], out, v.shape)


def _pair(values: Sequence[int] | int) -> tuple[int, int]:
    if isinstance(values, int):
        return (values, values)
    values = [int(v) for v in values]
    return (values[0], values[0]) if len(values) == 1 else (values[0], values[1])


__all__ = ["GraphBuilder", "Value"]
