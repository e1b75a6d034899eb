"""The forward operator of every layer type :func:`accelsim.sparse.execute.execute` runs.

One function per layer type (convolution, linear, MatMul, pooling, concatenation, softmax,
LayerNorm) and the activations, each taking ``(B, ...)`` arrays and the layer's prepared weights
(encoded weight, format, bias and, for a quantized layer, its ``LayerQuantization``);
the weighted ones call the sparse kernels (:mod:`accelsim.sparse.kernels`, :mod:`accelsim.sparse.spmm`).
They hold the arithmetic of one layer and nothing of the whole-network walk, which is why they
are apart from the driver in :mod:`accelsim.sparse.execute` (validation, formats, wiring, batching).
"""

from __future__ import annotations

import math

import numpy as np

from accelsim.sparse import kernels
from accelsim.sparse.jit import aligned
from accelsim.sparse.spmm import spmm
from workloads.layers import Concat, Conv2d, LayerNorm, Linear, MatMul, Pool, Softmax

__all__ = [
    "LAYERNORM_EPS",
    "optional_entry",
    "reshape_input",
    "activate",
    "run_conv",
    "run_linear",
    "run_matmul",
    "run_pool",
    "run_concat",
    "run_softmax",
    "run_layernorm",
]

LAYERNORM_EPS = 1e-5


def optional_entry(mapping, key):
    if mapping is None:
        return None
    return mapping[key] if key in mapping else None


def reshape_input(x: np.ndarray, shape, layer: str, what: str = "input") -> np.ndarray:
    shape = tuple(shape)
    if x.shape[1:] == shape:
        return x
    if math.prod(x.shape[1:]) != math.prod(shape):
        raise ValueError(f"layer {layer!r}: {what} of shape {x.shape[1:]} cannot feed shape {shape}")
    return x.reshape(x.shape[0], *shape)


def activate(x: np.ndarray, activation) -> np.ndarray:
    if activation is None:
        return x
    if activation == "relu":
        return np.maximum(x, 0, out=x)
    if activation == "relu6":
        return np.clip(x, 0, 6, out=x)
    if activation == "gelu":
        return kernels.gelu(x)
    if activation == "silu":
        return x / (1 + np.exp(-x))
    if activation == "hardswish":
        return x * np.clip(x + 3, 0, 6) / 6
    raise ValueError(f"unknown activation {activation!r}")  # layers validate; defensive only


def run_conv(layer: Conv2d, x, prepared):
    enc, _, bias, quant = prepared[layer.name]
    x = reshape_input(x, layer.input_shape, layer.name)
    if quant is not None:
        x = quant.inputs(x)
    y = kernels.conv2d(
        x,
        enc,
        kernel_size=layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=layer.groups,
        layer=layer.name,
    )
    if quant is not None:
        y = quant.outputs(y, axis=1)
    if bias is not None:
        y += bias[None, :, None, None]
    return activate(y, layer.activation)


def run_linear(layer: Linear, x, prepared, pred_layer):
    enc, _, bias, quant = prepared[layer.name]
    if quant is not None:
        x = quant.inputs(x)
    if isinstance(pred_layer, MatMul) and x.ndim == 4:
        b, heads, t, d = x.shape
        if t == layer.tokens and heads * d == layer.in_features:
            x = x.transpose(0, 2, 1, 3)  # merge heads back: (B, tokens, heads*d)
    x = reshape_input(x, (layer.tokens, layer.in_features), layer.name)
    batch = x.shape[0]
    X = aligned(x.reshape(batch * layer.tokens, layer.in_features).T)
    y = spmm(enc, X, layer=layer.name)  # (out, B*tokens)
    y = np.ascontiguousarray(y.T).reshape(batch, layer.tokens, layer.out_features)
    if quant is not None:
        y = quant.outputs(y, axis=2)
    if bias is not None:
        y += bias
    return activate(y, layer.activation)


def _heads(x: np.ndarray, expected, *, lhs_is_projection: bool | None):
    """Adapt one MatMul operand to (B, heads, a, b), or None when it cannot fit."""
    heads, a, b = expected
    if x.shape[1:] == tuple(expected):
        return x
    if x.ndim != 3 or x.shape[2] % heads:
        return None
    t, d = x.shape[1], x.shape[2] // heads
    split = x.reshape(x.shape[0], t, heads, d)
    if lhs_is_projection is None:  # left operand: (heads, tokens, d)
        return split.transpose(0, 2, 1, 3) if (a, b) == (t, d) else None
    if lhs_is_projection and (a, b) == (d, t):  # Q @ K^T
        return split.transpose(0, 2, 3, 1)
    if not lhs_is_projection and (a, b) == (t, d):  # P @ V
        return split.transpose(0, 2, 1, 3)
    return None


def run_matmul(layer: MatMul, operands: list[tuple[str, np.ndarray]]):
    if len(operands) != 2:
        raise ValueError(f"layer {layer.name!r}: MatMul needs 2 predecessors, got {[n for n, _ in operands]}")
    fits = []
    for order in (operands, operands[::-1]):
        (_, left), (_, right) = order
        lhs = _heads(left, layer.input_shape, lhs_is_projection=None)
        if lhs is None:
            continue
        rhs = _heads(right, layer.rhs_shape, lhs_is_projection=left.ndim == 3)
        if rhs is not None:
            fits.append((left.ndim == 4, lhs, rhs))
    if not fits:
        shapes = {n: a.shape[1:] for n, a in operands}
        raise ValueError(
            f"layer {layer.name!r}: operands {shapes} do not fit {layer.input_shape} @ {layer.rhs_shape}"
        )
    fits.sort(key=lambda f: not f[0])  # stable: a 3-d left operand first, then insertion order
    _, lhs, rhs = fits[0]
    return np.matmul(lhs, rhs)


def run_pool(layer: Pool, x):
    x = reshape_input(x, layer.input_shape, layer.name)
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    if ph or pw:
        fill = -np.inf if layer.kind == "max" else 0
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    ho, wo = layer.output_hw
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[
        :, :, : (ho - 1) * sh + 1 : sh, : (wo - 1) * sw + 1 : sw
    ]
    out = win.max(axis=(4, 5)) if layer.kind == "max" else win.mean(axis=(4, 5))
    return np.ascontiguousarray(out)


def run_concat(layer: Concat, xs: list[np.ndarray], weights, batch: int, dtype) -> np.ndarray:
    pending = list(xs)
    parts = []
    for i, shape in enumerate(layer.input_shapes):
        constant = optional_entry(weights, f"{layer.name}.operand{i}")
        if constant is not None:
            parts.append(np.broadcast_to(np.asarray(constant, dtype=dtype), (batch, *shape)))
        elif pending:
            parts.append(reshape_input(pending.pop(0), shape, layer.name))
        else:
            raise ValueError(f"layer {layer.name!r}: operand {i} is neither a predecessor nor a constant")
    if pending:
        raise ValueError(
            f"layer {layer.name!r}: {len(xs)} predecessors for {len(layer.input_shapes)} operands"
        )
    return np.concatenate(parts, axis=layer.axis + 1)


def run_softmax(layer: Softmax, x):
    x = reshape_input(x, layer.shape, layer.name)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run_layernorm(layer: LayerNorm, x, weights, dtype):
    x = reshape_input(x, layer.shape, layer.name)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + LAYERNORM_EPS)
    features = layer.shape[-1]
    for suffix, op in (("weight", np.multiply), ("bias", np.add)):
        p = optional_entry(weights, f"{layer.name}.{suffix}")
        if p is not None:
            p = np.asarray(p, dtype=dtype)
            if p.shape != (features,):
                raise ValueError(
                    f"layer {layer.name!r}: {suffix} shape {p.shape} does not match ({features},)"
                )
            y = op(y, p)
    return y
