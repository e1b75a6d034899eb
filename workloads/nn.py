"""Numpy layers with forward and backward passes, and a chain interpreter over a ``Network``.

Everything here is a pure function of arrays: no global state, no randomness, so a training run is
bit-for-bit reproducible given its inputs. Layouts follow PyTorch (and the ``workloads.layers``
specs): activations NCHW, conv weights (out, in, kh, kw), linear weights (out, in) with
``y = x @ W.T + b``, and a classifier flattens its NCHW input in C, H, W order.

Convolution is im2col + one GEMM. The column matrix is laid out (C*kh*kw, N*Ho*Wo) so the weight
reshapes to (out, C*kh*kw) without a transpose; it is filled and folded back with one strided slice
per kernel offset, which is fast for the small kernels we train and never needs ``np.add.at``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

from workloads.layers import Conv2d, Linear, Pool
from workloads.network import Network

TRAINABLE_ACTIVATIONS = (None, "relu", "relu6")
#: Called with each weighted layer and its (flattened) input; returns the input to use and, for a
#: straight-through backward pass, where the gradient passes (None: everywhere). Fake quantization.
InputHook = Callable[[Conv2d | Linear, np.ndarray], tuple[np.ndarray, np.ndarray | None]]


# -------------------------------------------------------------------------------- threading


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the enclosed GEMMs on one BLAS thread, restoring the previous limit afterwards.

    Why: our GEMMs are small (hundreds x hundreds), so BLAS threads gain nothing, and on a busy
    machine with few cores OpenBLAS's spinning workers contend with other processes: a 2 s
    LeNet run measured 17-56 s with 2 threads on 2 shared cores. One thread also makes results
    independent of the machine's core count. threadpoolctl ships with scikit-learn; without it
    this is a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on threadpoolctl
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ------------------------------------------------------------------------------------ im2col


def _window_slices(
    kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int]
):
    """Yield ``(i, j, row_slice, col_slice)``: the input pixels kernel tap (i, j) sees, per output."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (ho - 1) + 1, sh)
            cols = slice(j * dw, j * dw + sw * (wo - 1) + 1, sw)
            yield i, j, rows, cols


def _out_hw(hw, kernel, stride, padding, dilation) -> tuple[int, int]:
    h, w = ((hw[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1 for a in range(2))
    return (h, w)


def _pad(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    ph, pw = padding
    if ph == 0 and pw == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=value)


def im2col(
    x: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Columns of ``x`` (N, C, H, W) as a (C*kh*kw, N*Ho*Wo) matrix, rows ordered (c, i, j)."""
    n, c, h, w = x.shape
    ho, wo = _out_hw((h, w), kernel, stride, padding, dilation)
    xp = _pad(x, padding)
    cols = np.empty((c, kernel[0], kernel[1], n, ho, wo), dtype=x.dtype)
    for i, j, rows, colsl in _window_slices(kernel, stride, dilation, (ho, wo)):
        cols[:, i, j] = xp[:, :, rows, colsl].transpose(1, 0, 2, 3)
    return cols.reshape(c * kernel[0] * kernel[1], n * ho * wo)


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum every column entry back onto the input pixel it came from."""
    n, c, h, w = x_shape
    ho, wo = _out_hw((h, w), kernel, stride, padding, dilation)
    ph, pw = padding
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    cols6 = cols.reshape(c, kernel[0], kernel[1], n, ho, wo)
    # A fixed tap order makes the floating-point summation order, hence the result, reproducible.
    for i, j, rows, colsl in _window_slices(kernel, stride, dilation, (ho, wo)):
        dxp[:, :, rows, colsl] += cols6[:, i, j].transpose(1, 0, 2, 3)
    return dxp[:, :, ph : ph + h, pw : pw + w]


# ------------------------------------------------------------------------------ layer kernels


def conv2d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    *,
    stride=(1, 1),
    padding=(0, 0),
    dilation=(1, 1),
) -> tuple[np.ndarray, tuple]:
    """Dense convolution (groups = 1). Returns the NCHW output and the tape for the backward pass."""
    n = x.shape[0]
    out_ch, _, kh, kw = weight.shape
    ho, wo = _out_hw(x.shape[2:], (kh, kw), stride, padding, dilation)
    cols = im2col(x, (kh, kw), stride, padding, dilation)
    out = weight.reshape(out_ch, -1) @ cols
    if bias is not None:
        out += bias[:, None]
    out = np.ascontiguousarray(out.reshape(out_ch, n, ho, wo).transpose(1, 0, 2, 3))
    return out, (x.shape, cols, weight, stride, padding, dilation)


def conv2d_backward(
    dout: np.ndarray, tape: tuple, *, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dweight, dbias)`` of :func:`conv2d_forward`; ``dx`` is None unless needed."""
    x_shape, cols, weight, stride, padding, dilation = tape
    out_ch = weight.shape[0]
    dout2 = dout.transpose(1, 0, 2, 3).reshape(out_ch, -1)
    dweight = (dout2 @ cols.T).reshape(weight.shape)
    dbias = dout2.sum(axis=1)
    dx: np.ndarray | None = None
    if need_dx:
        dcols = weight.reshape(out_ch, -1).T @ dout2
        dx = col2im(dcols, x_shape, weight.shape[2:], stride, padding, dilation)
    return dx, dweight, dbias


def linear_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> tuple[np.ndarray, tuple]:
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out, (x, weight)


def linear_backward(
    dout: np.ndarray, tape: tuple, *, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    x, weight = tape
    dweight = dout.T @ x
    dbias = dout.sum(axis=0)
    dx = dout @ weight if need_dx else None
    return dx, dweight, dbias


def pool2d_forward(
    x: np.ndarray, *, kernel, stride, padding=(0, 0), kind: str = "max"
) -> tuple[np.ndarray, tuple]:
    """Max or average pooling. Average counts padded zeros (PyTorch's ``count_include_pad=True``)."""
    ho, wo = _out_hw(x.shape[2:], kernel, stride, padding, (1, 1))
    if kind == "max":
        xp = _pad(x, padding, value=-np.inf)
        out: np.ndarray | None = None
        arg = np.zeros((x.shape[0], x.shape[1], ho, wo), dtype=np.int16)
        for i, j, rows, cols in _window_slices(kernel, stride, (1, 1), (ho, wo)):
            window = xp[:, :, rows, cols]
            if out is None:
                out = window.copy()
                continue
            # Strict '>' keeps the first maximum on ties, so the gradient route is deterministic.
            better = window > out
            out = np.where(better, window, out)
            arg = np.where(better, np.int16(i * kernel[1] + j), arg)
        assert out is not None  # a kernel has at least one window position
        return out, (x.shape, arg, kernel, stride, padding, kind)
    if kind == "avg":
        xp = _pad(x, padding)
        out = np.zeros((x.shape[0], x.shape[1], ho, wo), dtype=x.dtype)
        for _, _, rows, cols in _window_slices(kernel, stride, (1, 1), (ho, wo)):
            out += xp[:, :, rows, cols]
        out /= kernel[0] * kernel[1]
        return out, (x.shape, None, kernel, stride, padding, kind)
    raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")


def pool2d_backward(dout: np.ndarray, tape: tuple) -> np.ndarray:
    x_shape, arg, kernel, stride, padding, kind = tape
    n, c, h, w = x_shape
    ph, pw = padding
    ho, wo = dout.shape[2:]
    dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=dout.dtype)
    scale = None if kind == "max" else dout / (kernel[0] * kernel[1])
    for i, j, rows, cols in _window_slices(kernel, stride, (1, 1), (ho, wo)):
        if kind == "max":
            dxp[:, :, rows, cols] += np.where(arg == i * kernel[1] + j, dout, 0)
        else:
            dxp[:, :, rows, cols] += scale
    return dxp[:, :, ph : ph + h, pw : pw + w]


def activation_forward(x: np.ndarray, activation: str | None) -> np.ndarray:
    if activation is None:
        return x
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "relu6":
        return np.clip(x, 0, 6)
    raise ValueError(f"activation {activation!r} is not trainable; supported: {TRAINABLE_ACTIVATIONS}")


def activation_backward(dout: np.ndarray, out: np.ndarray, activation: str | None) -> np.ndarray:
    """Gradient through an activation, given its *output* (cheaper to keep than the input)."""
    if activation is None:
        return dout
    if activation == "relu":
        return dout * (out > 0)
    if activation == "relu6":
        return dout * ((out > 0) & (out < 6))
    raise ValueError(f"activation {activation!r} is not trainable; supported: {TRAINABLE_ACTIVATIONS}")


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``logits`` (N, classes) against int ``labels``, and d(loss)/d(logits)."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    log_prob = shifted - np.log(total)
    loss = float(-log_prob[np.arange(n), labels].mean())
    grad = exp / total
    grad[np.arange(n), labels] -= 1
    grad /= n
    return loss, grad


# ------------------------------------------------------------------------- chain interpreter


def bias_key(layer_name: str) -> str:
    """The ``weights`` key of a layer's bias (the ``execute`` contract: ``"<layer>.bias"``)."""
    return f"{layer_name}.bias"


def check_trainable(network: Network) -> None:
    """Raise ``ValueError`` naming the layer unless ``network`` is a chain this module can run."""
    previous = None
    for layer in network.layers():
        preds = network.predecessors(layer.name)
        if preds != ([] if previous is None else [previous]):
            raise ValueError(
                f"network {network.name!r}: layer {layer.name!r} has inputs {preds}; only chains are trainable"
            )
        previous = layer.name
        if isinstance(layer, Conv2d):
            if layer.groups != 1:
                raise ValueError(
                    f"network {network.name!r}: layer {layer.name!r}: groups={layer.groups} "
                    "is not trainable (only groups=1)"
                )
        elif isinstance(layer, Linear):
            if layer.tokens != 1:
                raise ValueError(
                    f"network {network.name!r}: layer {layer.name!r}: tokens={layer.tokens} "
                    "is not trainable (only tokens=1)"
                )
        elif not isinstance(layer, Pool):
            raise ValueError(
                f"network {network.name!r}: layer {layer.name!r} of type {type(layer).__name__} is not trainable"
            )
        activation = getattr(layer, "activation", None)
        if activation not in TRAINABLE_ACTIVATIONS:
            raise ValueError(
                f"network {network.name!r}: layer {layer.name!r}: activation {activation!r} "
                f"is not trainable; supported: {TRAINABLE_ACTIVATIONS}"
            )


def parameter_layers(network: Network) -> list[str]:
    """Names of the layers that carry a weight (and a bias), in network order."""
    return [layer.name for layer in network.layers() if layer.weight_shape is not None]


@dataclass(frozen=True)
class Tape:
    """What the backward pass needs from one forward pass: per layer, its kernel tape and output."""

    entries: tuple[tuple[Any, ...], ...]


@overload
def forward(
    network: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    *,
    keep_tape: Literal[True] = True,
    input_hook: InputHook | None = None,
) -> tuple[np.ndarray, Tape]: ...
@overload
def forward(
    network: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    *,
    keep_tape: Literal[False],
    input_hook: InputHook | None = None,
) -> tuple[np.ndarray, None]: ...
def forward(
    network: Network,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    *,
    keep_tape: bool = True,
    input_hook: InputHook | None = None,
) -> tuple[np.ndarray, Tape | None]:
    """Run the chain ``network`` on ``x`` with ``params``; return the logits and the tape.

    ``params`` are the effective weights (already masked). ``x`` is NCHW for a network that starts
    with a conv or pool, (N, features) or NCHW (flattened here) for one that starts with a Linear.
    ``input_hook`` rewrites each conv/linear input (fake quantization); the gradient w.r.t. the
    original input is the one w.r.t. the rewritten input times the hook's pass mask (an STE).
    """
    entries = []
    h = x
    for layer in network.layers():
        if isinstance(layer, Linear) and h.ndim != 2:
            flat_shape = h.shape
            h = h.reshape(h.shape[0], -1)
        else:
            flat_shape = None
        passes = None
        if input_hook is not None and isinstance(layer, (Conv2d, Linear)):
            h, passes = input_hook(layer, h)
        if isinstance(layer, Conv2d):
            out, tape = conv2d_forward(
                h,
                params[layer.name],
                params[bias_key(layer.name)],
                stride=layer.stride,
                padding=layer.padding,
                dilation=layer.dilation,
            )
        elif isinstance(layer, Linear):
            out, tape = linear_forward(h, params[layer.name], params[bias_key(layer.name)])
        elif isinstance(layer, Pool):
            out, tape = pool2d_forward(
                h, kernel=layer.kernel_size, stride=layer.stride, padding=layer.padding, kind=layer.kind
            )
        else:
            raise TypeError(
                f"layer {layer.name!r}: {type(layer).__name__} is not trainable (see check_trainable)"
            )
        h = activation_forward(out, getattr(layer, "activation", None))
        if keep_tape:
            entries.append((layer, tape, h, flat_shape, passes))
    return h, (Tape(tuple(entries)) if keep_tape else None)


def backward(tape: Tape, dlogits: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of the loss w.r.t. every weight and bias, keyed like ``weights``."""
    grads: dict[str, np.ndarray] = {}
    dh = dlogits
    for index in range(len(tape.entries) - 1, -1, -1):
        layer, kernel_tape, out, flat_shape, passes = tape.entries[index]
        dh = activation_backward(dh, out, getattr(layer, "activation", None))
        need_dx = index > 0  # the input image needs no gradient
        dx: np.ndarray | None
        if isinstance(layer, Conv2d):
            dx, grads[layer.name], grads[bias_key(layer.name)] = conv2d_backward(
                dh, kernel_tape, need_dx=need_dx
            )
        elif isinstance(layer, Linear):
            dx, grads[layer.name], grads[bias_key(layer.name)] = linear_backward(
                dh, kernel_tape, need_dx=need_dx
            )
        else:
            dx = pool2d_backward(dh, kernel_tape) if need_dx else None
        if dx is None:
            break
        if passes is not None:
            dx = np.where(passes, dx, dx.dtype.type(0))
        dh = dx.reshape(flat_shape) if flat_shape is not None else dx
    return grads


__all__ = [
    "TRAINABLE_ACTIVATIONS",
    "InputHook",
    "Tape",
    "activation_backward",
    "activation_forward",
    "backward",
    "bias_key",
    "check_trainable",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "forward",
    "im2col",
    "linear_backward",
    "linear_forward",
    "parameter_layers",
    "pool2d_backward",
    "pool2d_forward",
    "single_threaded_blas",
    "softmax_cross_entropy",
]
