"""Convolution and GELU for :mod:`accelsim.sparse.execute`, and the warm-up of every kernel.

:func:`conv2d` is :func:`im2col` then one SpMM of :mod:`accelsim.sparse.spmm` over the stacked
groups' GEMMs; :func:`gelu` is the one jitted elementwise kernel.  The SpMM kernels and wrappers
(:mod:`accelsim.sparse.spmm_kernels`, :mod:`accelsim.sparse.spmm`), the JIT options and aligned
buffers (:mod:`accelsim.sparse.jit`) and the fold statistics (:mod:`accelsim.sparse.fold_stats`)
have their own modules; their public names stay importable from here, the kernels' front door.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from accelsim.sparse.fold_stats import TileStats, tile_stats, warm_up_tile_stats
from accelsim.sparse.jit import ALIGN_BYTES, JIT, JIT_PARALLEL, aligned, aligned_empty, aligned_zeros
from accelsim.sparse.spmm import (
    PARALLEL_MIN_WORK,
    bitmap_spmm,
    bsr_spmm,
    csr_spmm,
    dense_gemm,
    layer_subject,
    nm_spmm,
    spmm,
)
from accelsim.sparse.spmm_kernels import warm_up_spmm_kernels

__all__ = [
    "JIT",
    "JIT_PARALLEL",
    "PARALLEL_MIN_WORK",
    "ALIGN_BYTES",
    "aligned",
    "aligned_zeros",
    "aligned_empty",
    "csr_spmm",
    "bsr_spmm",
    "nm_spmm",
    "bitmap_spmm",
    "dense_gemm",
    "spmm",
    "im2col",
    "conv2d",
    "gelu",
    "TileStats",
    "tile_stats",
    "warm_up",
]


@njit(**JIT)
def _gelu(x, out):
    """Exact (erf) GELU, PyTorch's default: x * (1 + erf(x / sqrt 2)) / 2."""
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    for i in range(x.shape[0]):
        out[i] = 0.5 * x[i] * (1.0 + math.erf(x[i] * inv_sqrt2))


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def im2col(x: np.ndarray, kernel_size, *, stride=1, padding=0, dilation=1) -> np.ndarray:
    """(B, C, H, W) -> (C*kh*kw, B*Ho*Wo) aligned; row (c*kh + i)*kw + j, column (b*Ho + oh)*Wo + ow.

    The row order is the C-order flattening of a (C, kh, kw) filter, the GEMM view of the weights.
    """
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    B, C, H, W = x.shape
    ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    s = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp,
        shape=(C, kh, kw, B, ho, wo),
        strides=(s[1], s[2] * dh, s[3] * dw, s[0], s[2] * sh, s[3] * sw),
        writeable=False,
    )
    out = aligned_empty((C * kh * kw, B * ho * wo), x.dtype)
    out.reshape(C, kh, kw, B, ho, wo)[...] = view
    return out


def conv2d(
    x: np.ndarray,
    w,
    *,
    kernel_size,
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    layer: str | None = None,
) -> np.ndarray:
    """Convolution of (B, C, H, W) by a dense or sparse-format weight (out, C/groups, kh, kw).

    im2col then one SpMM over the stacked groups' GEMMs (depthwise: groups == C, K = kh*kw).
    Returns (B, out, Ho, Wo).
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{layer_subject(layer)}: conv input must be (B, C, H, W), got shape {x.shape}")
    kh, kw = _pair(kernel_size)
    shape = w.shape if isinstance(w, np.ndarray) else w.shape
    if len(shape) != 4 or shape[1] * groups != x.shape[1] or tuple(shape[2:]) != (kh, kw):
        raise ValueError(
            f"{layer_subject(layer)}: weight shape {tuple(shape)} does not fit input channels {x.shape[1]}, "
            f"groups={groups}, kernel_size={(kh, kw)}"
        )
    cols = im2col(x, (kh, kw), stride=stride, padding=padding, dilation=dilation)
    B, _, H, W = x.shape
    ph, pw = _pair(padding)
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = spmm(w, cols, groups=groups, layer=layer)
    return np.ascontiguousarray(y.reshape(shape[0], B, ho, wo).transpose(1, 0, 2, 3))


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf-based) GELU of a float array, any shape."""
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    _gelu(x.reshape(-1), out.reshape(-1))
    return out


def warm_up(dtypes=(np.float32, np.float64)) -> None:
    """Call every kernel once on tiny inputs so later calls skip JIT compilation / cache loading."""
    for dtype in dtypes:
        warm_up_spmm_kernels(dtype)
        gelu(np.zeros(3, dtype=dtype))
    warm_up_tile_stats()
