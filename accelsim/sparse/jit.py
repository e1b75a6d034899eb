"""The shared ground of the kernel modules: one set of JIT options and 64-byte aligned buffers.

Every ``@njit`` kernel of :mod:`accelsim.sparse` (SpMM in :mod:`accelsim.sparse.spmm_kernels`, fold
statistics in :mod:`accelsim.sparse.fold_stats`, GELU in :mod:`accelsim.sparse.kernels`) compiles
with ``JIT`` / ``JIT_PARALLEL`` from here, with ``cache=True``, so a fresh process loads machine
code from ``__pycache__`` instead of compiling.  The aligned allocators sit beside them because
the kernels' operands and outputs are 64-byte aligned (docs/machine.md measured 1.3-2.4x for the SpMM
kernels); every kernel module needs both, so they belong to no one kind of kernel.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["JIT", "JIT_PARALLEL", "ALIGN_BYTES", "aligned", "aligned_zeros", "aligned_empty"]

# One place for the JIT options: cached machine code; nogil so callers may thread; the numpy
# error model (no ZeroDivision checks in hot loops); contraction only (FMA), no reassociation,
# so results stay deterministic and close to the numpy twin.
JIT: dict[str, Any] = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
JIT_PARALLEL: dict[str, Any] = dict(JIT, parallel=True)

ALIGN_BYTES = 64


def _aligned(alloc, shape, dtype, align: int) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    buf = alloc(max(1, nbytes) + align, dtype=np.uint8)
    start = (-buf.ctypes.data) % align
    return buf[start : start + nbytes].view(dtype).reshape(shape)


def aligned_zeros(shape, dtype=np.float32, align: int = ALIGN_BYTES) -> np.ndarray:
    """A zeroed C-contiguous array whose data starts on an ``align``-byte boundary."""
    return _aligned(np.zeros, shape, dtype, align)


def aligned_empty(shape, dtype=np.float32, align: int = ALIGN_BYTES) -> np.ndarray:
    """Like :func:`aligned_zeros` but uninitialised (for outputs a kernel overwrites)."""
    return _aligned(np.empty, shape, dtype, align)


def aligned(x: np.ndarray, dtype=None, align: int = ALIGN_BYTES) -> np.ndarray:
    """``x`` itself if C-contiguous and aligned (and of ``dtype``), else an aligned copy."""
    x = np.asarray(x)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    if x.dtype == dtype and x.flags.c_contiguous and x.ctypes.data % align == 0:
        return x
    out = aligned_empty(x.shape, dtype, align)
    out[...] = x
    return out
