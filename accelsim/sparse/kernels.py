"""Every jitted kernel of accelsim, and the validating public wrappers around them.

Private kernels (``_name``) take raw arrays (``indptr, indices, data``, ...) and trust them; the
public wrappers check shapes, dtypes and formats and raise ``ValueError`` naming the layer and
the value.  All kernels share one set of JIT options (``JIT`` / ``JIT_PARALLEL``) with
``cache=True``, so a fresh process loads machine code from ``__pycache__`` instead of compiling.

SpMM computes ``Y = W @ X`` with ``W`` sparse (rows x K in its GEMM view, see
:mod:`accelsim.sparse.formats`) and ``X`` dense (K x N, C-contiguous).  The N-loop is innermost and
contiguous so LLVM vectorises it (``tests/test_kernels.py`` checks the machine code for packed
FMAs); four non-zeros are folded into one pass over a row of ``Y`` to cut its loads and stores
4x; BSR uses a 4 x 4 register tile per block; ``N`` runs in 1024-column chunks (measured best on
the 512x4608x3136 conv shape, whole rows elsewhere).  X and Y are 64-byte aligned
(:func:`aligned`), which MACHINE.md measured at 1.3-2.4x for these kernels.

Grouped weights (grouped / depthwise convolution): rows ``[g*rows_per_group, (g+1)*rows_per_group)``
multiply rows ``[g*K, (g+1)*K)`` of ``X`` (``X`` stacks the groups' im2col matrices).

Threads: a parallel driver (``prange``) splits rows into non-zero-balanced blocks, 4 per numba
thread handed out dynamically (1 per thread once the X chunk a block reads outgrows L2, since every
block reads it again); work under ``PARALLEL_MIN_WORK`` multiply-adds, or a single numba thread,
runs the serial kernel (a two-thread dispatch of tiny work can cost milliseconds on a busy
machine).  Set the thread count with ``numba.set_num_threads``.  Dynamic blocks even out uneven
progress but cannot hide a thread the OS does not schedule: with another process busy on the
second core, a two-thread call measured 0.4-1.5x the serial speed on the 2-core box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from accelsim.arch.dataflow import DATAFLOWS, WS, dataflow as get_dataflow
from accelsim.sparse.formats import BSR, CSR, Bitmap, NMFormat, check_mask, gemm_view

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

# One place for the JIT options: cached machine code; nogil so callers may thread; the numpy
# error model (no ZeroDivision checks in hot loops); contraction only (FMA), no reassociation,
# so results stay deterministic and close to the numpy twin.
JIT: dict[str, Any] = dict(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
JIT_PARALLEL: dict[str, Any] = dict(JIT, parallel=True)

PARALLEL_MIN_WORK = 1 << 21  # multiply-adds below which a parallel dispatch costs more than it saves
ALIGN_BYTES = 64
_CHUNK_COLUMNS = 1024  # N-chunk width; see _chunk
# Row blocks per thread, handed out dynamically (chunk size 1): a thread that falls behind hands
# blocks to the other (measured: 8 dynamic blocks 1.8-2.1x on two threads, 2 static 1.2-2.3x).
_BLOCKS_PER_THREAD = 4
# Each row block reads its X chunk again.  Once that chunk outgrows L2 (1 MiB per core on the
# MACHINE.md box) the re-reads come from L3 or DRAM, so one block per thread: on 512x4608x3136
# at 90% (18.9 MB X chunks) two threads measured 1.89-1.94x with 2 blocks, 1.64-1.69x with 8.
_X_CHUNK_CACHE_BYTES = 1 << 21
_SUPPORTED = (np.dtype(np.float32), np.dtype(np.float64))


# ------------------------------------------------------------------------------------- memory


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


# ---------------------------------------------------------------------------- private kernels


@njit(**JIT)
def _csr_rows(indptr, indices, data, X, Y, r0, r1, rows_per_group, k_per_group, chunk):
    """Y[r0:r1] = W[r0:r1] @ X for CSR rows; Y rows are overwritten."""
    N = X.shape[1]
    for i in range(r0, r1):
        Y[i, :] = 0
    for n0 in range(0, N, chunk):
        n1 = min(n0 + chunk, N)
        w = n1 - n0
        for i in range(r0, r1):
            koff = (i // rows_per_group) * k_per_group
            y = Y[i, n0:n1]
            jj = indptr[i]
            end = indptr[i + 1]
            while jj + 4 <= end:
                v0 = data[jj]
                v1 = data[jj + 1]
                v2 = data[jj + 2]
                v3 = data[jj + 3]
                x0 = X[koff + indices[jj], n0:n1]
                x1 = X[koff + indices[jj + 1], n0:n1]
                x2 = X[koff + indices[jj + 2], n0:n1]
                x3 = X[koff + indices[jj + 3], n0:n1]
                for n in range(w):
                    y[n] += v0 * x0[n] + v1 * x1[n] + v2 * x2[n] + v3 * x3[n]
                jj += 4
            while jj < end:
                v0 = data[jj]
                x0 = X[koff + indices[jj], n0:n1]
                for n in range(w):
                    y[n] += v0 * x0[n]
                jj += 1


@njit(**JIT)
def _balanced_bounds(indptr, parts):
    """``parts + 1`` row boundaries splitting the non-zeros of cumulative ``indptr`` about evenly.

    Jitted because the numpy version (linspace, searchsorted, unique) cost 30 us per call, 10% of
    a two-thread 768x768x128 SpMM.  Empty ranges are allowed (prange skips them cheaply).
    """
    units = indptr.shape[0] - 1
    bounds = np.empty(parts + 1, dtype=np.int64)
    bounds[0] = 0
    total = indptr[units]
    r = 0
    for p in range(1, parts):
        target = (total * p) // parts
        while r < units and indptr[r] < target:
            r += 1
        bounds[p] = r
    bounds[parts] = units
    return bounds


@njit(**JIT_PARALLEL)
def _csr_spmm_parallel(indptr, indices, data, X, Y, bounds, rows_per_group, k_per_group, chunk):
    for b in prange(bounds.shape[0] - 1):
        _csr_rows(indptr, indices, data, X, Y, bounds[b], bounds[b + 1], rows_per_group, k_per_group, chunk)


@njit(**JIT)
def _bsr_rows(indptr, indices, blocks, X, Y, b0, b1, rows_per_group, k_per_group, chunk):
    """Y rows of block rows [b0, b1) = W @ X for BSR; a block row never straddles a group.

    A 4 x 4 register tile (4 rows of Y, 4 rows of X per pass) does 16 multiply-adds per 4 loads
    of X and 4 loads + stores of Y: 2.7x the one-row loop on the 512x4608x3136 conv shape.
    Rows and columns a block has beyond multiples of 4 take the one-row loop.
    """
    N = X.shape[1]
    br = blocks.shape[1]
    bc = blocks.shape[2]
    for i in range(b0 * br, b1 * br):
        Y[i, :] = 0
    for n0 in range(0, N, chunk):
        n1 = min(n0 + chunk, N)
        w = n1 - n0
        for ib in range(b0, b1):
            koff = ((ib * br) // rows_per_group) * k_per_group
            for jj in range(indptr[ib], indptr[ib + 1]):
                kb = koff + indices[jj] * bc
                r = 0
                while r + 4 <= br:
                    i0 = ib * br + r
                    y0 = Y[i0, n0:n1]
                    y1 = Y[i0 + 1, n0:n1]
                    y2 = Y[i0 + 2, n0:n1]
                    y3 = Y[i0 + 3, n0:n1]
                    c = 0
                    while c + 4 <= bc:
                        x0 = X[kb + c, n0:n1]
                        x1 = X[kb + c + 1, n0:n1]
                        x2 = X[kb + c + 2, n0:n1]
                        x3 = X[kb + c + 3, n0:n1]
                        a00 = blocks[jj, r, c]
                        a01 = blocks[jj, r, c + 1]
                        a02 = blocks[jj, r, c + 2]
                        a03 = blocks[jj, r, c + 3]
                        a10 = blocks[jj, r + 1, c]
                        a11 = blocks[jj, r + 1, c + 1]
                        a12 = blocks[jj, r + 1, c + 2]
                        a13 = blocks[jj, r + 1, c + 3]
                        a20 = blocks[jj, r + 2, c]
                        a21 = blocks[jj, r + 2, c + 1]
                        a22 = blocks[jj, r + 2, c + 2]
                        a23 = blocks[jj, r + 2, c + 3]
                        a30 = blocks[jj, r + 3, c]
                        a31 = blocks[jj, r + 3, c + 1]
                        a32 = blocks[jj, r + 3, c + 2]
                        a33 = blocks[jj, r + 3, c + 3]
                        for n in range(w):
                            v0 = x0[n]
                            v1 = x1[n]
                            v2 = x2[n]
                            v3 = x3[n]
                            y0[n] += a00 * v0 + a01 * v1 + a02 * v2 + a03 * v3
                            y1[n] += a10 * v0 + a11 * v1 + a12 * v2 + a13 * v3
                            y2[n] += a20 * v0 + a21 * v1 + a22 * v2 + a23 * v3
                            y3[n] += a30 * v0 + a31 * v1 + a32 * v2 + a33 * v3
                        c += 4
                    while c < bc:
                        x0 = X[kb + c, n0:n1]
                        a00 = blocks[jj, r, c]
                        a10 = blocks[jj, r + 1, c]
                        a20 = blocks[jj, r + 2, c]
                        a30 = blocks[jj, r + 3, c]
                        for n in range(w):
                            v0 = x0[n]
                            y0[n] += a00 * v0
                            y1[n] += a10 * v0
                            y2[n] += a20 * v0
                            y3[n] += a30 * v0
                        c += 1
                    r += 4
                while r < br:
                    y = Y[ib * br + r, n0:n1]
                    c = 0
                    while c + 4 <= bc:
                        v0 = blocks[jj, r, c]
                        v1 = blocks[jj, r, c + 1]
                        v2 = blocks[jj, r, c + 2]
                        v3 = blocks[jj, r, c + 3]
                        x0 = X[kb + c, n0:n1]
                        x1 = X[kb + c + 1, n0:n1]
                        x2 = X[kb + c + 2, n0:n1]
                        x3 = X[kb + c + 3, n0:n1]
                        for n in range(w):
                            y[n] += v0 * x0[n] + v1 * x1[n] + v2 * x2[n] + v3 * x3[n]
                        c += 4
                    while c < bc:
                        v0 = blocks[jj, r, c]
                        x0 = X[kb + c, n0:n1]
                        for n in range(w):
                            y[n] += v0 * x0[n]
                        c += 1
                    r += 1


@njit(**JIT_PARALLEL)
def _bsr_spmm_parallel(indptr, indices, blocks, X, Y, bounds, rows_per_group, k_per_group, chunk):
    for b in prange(bounds.shape[0] - 1):
        _bsr_rows(indptr, indices, blocks, X, Y, bounds[b], bounds[b + 1], rows_per_group, k_per_group, chunk)


@njit(**JIT)
def _nm_rows(values, offsets, n_keep, m, X, Y, r0, r1, rows_per_group, k_per_group, chunk):
    """Y[r0:r1] = W[r0:r1] @ X for N:M rows: value j of a row sits at column (j//n)*m + offset."""
    N = X.shape[1]
    per_row = values.shape[1]
    for i in range(r0, r1):
        Y[i, :] = 0
    for n0 in range(0, N, chunk):
        n1 = min(n0 + chunk, N)
        w = n1 - n0
        for i in range(r0, r1):
            koff = (i // rows_per_group) * k_per_group
            y = Y[i, n0:n1]
            j = 0
            while j + 4 <= per_row:
                v0 = values[i, j]
                v1 = values[i, j + 1]
                v2 = values[i, j + 2]
                v3 = values[i, j + 3]
                x0 = X[koff + (j // n_keep) * m + offsets[i, j], n0:n1]
                x1 = X[koff + ((j + 1) // n_keep) * m + offsets[i, j + 1], n0:n1]
                x2 = X[koff + ((j + 2) // n_keep) * m + offsets[i, j + 2], n0:n1]
                x3 = X[koff + ((j + 3) // n_keep) * m + offsets[i, j + 3], n0:n1]
                for n in range(w):
                    y[n] += v0 * x0[n] + v1 * x1[n] + v2 * x2[n] + v3 * x3[n]
                j += 4
            while j < per_row:
                v0 = values[i, j]
                x0 = X[koff + (j // n_keep) * m + offsets[i, j], n0:n1]
                for n in range(w):
                    y[n] += v0 * x0[n]
                j += 1


@njit(**JIT_PARALLEL)
def _nm_spmm_parallel(values, offsets, n_keep, m, X, Y, bounds, rows_per_group, k_per_group, chunk):
    for b in prange(bounds.shape[0] - 1):
        _nm_rows(
            values, offsets, n_keep, m, X, Y, bounds[b], bounds[b + 1], rows_per_group, k_per_group, chunk
        )


@njit(**JIT)
def _bitmap_spmm(bitmap, values, X, Y, rows_per_group, k_per_group):
    """Y = W @ X walking the bitmap row by row; values are consumed in row-major order."""
    M = bitmap.shape[0]
    K = bitmap.shape[1]
    N = X.shape[1]
    p = 0
    for i in range(M):
        koff = (i // rows_per_group) * k_per_group
        y = Y[i]
        y[:] = 0
        for k in range(K):
            if bitmap[i, k]:
                v = values[p]
                x = X[koff + k]
                for n in range(N):
                    y[n] += v * x[n]
                p += 1


@njit(**JIT)
def _gelu(x, out):
    """Exact (erf) GELU, PyTorch's default: x * (1 + erf(x / sqrt 2)) / 2."""
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    for i in range(x.shape[0]):
        out[i] = 0.5 * x[i] * (1.0 + math.erf(x[i] * inv_sqrt2))


@njit(**JIT)
def _tile_stats(mask, groups, m, R, C, dataflow, Sr, Sc):
    """Per-fold weight non-zeros in mapping.py's fold order; see :func:`tile_stats`.

    ``mask`` is the (groups*n, k) GEMM view of the weights as uint8; ``dataflow`` is
    `accelsim.arch.dataflow.Dataflow.code` (0=ws, 1=is, 2=os) and ``Sr``, ``Sc`` its row and column sizes.
    """
    n = mask.shape[0] // groups
    k = mask.shape[1]
    nrf = (Sr + R - 1) // R
    ncf = (Sc + C - 1) // C
    folds = groups * ncf * nrf
    nnz = np.zeros(folds, dtype=np.int64)
    macs = np.zeros(folds, dtype=np.int64)
    row_nnz = np.zeros((folds, R), dtype=np.int64)
    col_nnz = np.zeros((folds, C), dtype=np.int64)
    colcnt = np.zeros(k, dtype=np.int64)  # non-zeros of each reduction index, over the group's n
    rowcnt = np.zeros(n, dtype=np.int64)  # non-zeros of each output channel, over all k
    f = 0
    for g in range(groups):
        # Branch-free counts (mask entries are 0/1), only the ones the dataflow reads: the
        # branching loop over both took ~1.5 ms per ResNet-50 layer, most of a sparse mapping.
        if dataflow == 1:
            colcnt[:] = 0
            for j in range(n):
                for kk in range(k):
                    colcnt[kk] += mask[g * n + j, kk]
        elif dataflow == 2:
            for j in range(n):
                s = 0
                for kk in range(k):
                    s += mask[g * n + j, kk]
                rowcnt[j] = s
        for cf in range(ncf):
            c0 = cf * C
            c1 = min(c0 + C, Sc)
            for rf in range(nrf):
                r0 = rf * R
                r1 = min(r0 + R, Sr)
                total = 0
                if dataflow == 0:  # ws: PE (r, c) holds weight (k=r, n=c)
                    for c in range(c0, c1):
                        held = 0
                        for r in range(r0, r1):
                            v = mask[g * n + c, r]
                            row_nnz[f, r - r0] += v
                            held += v
                        col_nnz[f, c - c0] = held
                        total += held
                    macs[f] = total * m
                elif dataflow == 1:  # is: rows hold k, columns pixels; all n weights stream by
                    for r in range(r0, r1):
                        row_nnz[f, r - r0] = colcnt[r]
                        total += colcnt[r]
                    for c in range(c1 - c0):
                        col_nnz[f, c] = total
                    macs[f] = total * (c1 - c0)
                else:  # os: rows hold pixels, columns n; all k weights stream by
                    for c in range(c0, c1):
                        col_nnz[f, c - c0] = rowcnt[c]
                        total += rowcnt[c]
                    for r in range(r1 - r0):
                        row_nnz[f, r] = total
                    macs[f] = total * (r1 - r0)
                nnz[f] = total
                f += 1
    return nnz, macs, row_nnz, col_nnz


# ---------------------------------------------------------------------------- public wrappers


def _who(layer: str | None) -> str:
    return f"layer {layer!r}" if layer is not None else "spmm"


def _check_operand(fmt_rows: int, k: int, values_dtype, X, groups: int, layer) -> tuple[np.ndarray, int]:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{_who(layer)}: groups must be an int >= 1, got {groups!r}")
    if fmt_rows % groups:
        raise ValueError(f"{_who(layer)}: {fmt_rows} weight rows are not divisible by groups={groups}")
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{_who(layer)}: dense operand must be 2-d (K x N), got shape {X.shape}")
    if np.dtype(values_dtype) not in _SUPPORTED:
        raise ValueError(f"{_who(layer)}: weight dtype must be float32 or float64, got {values_dtype}")
    if X.dtype != values_dtype:
        raise ValueError(
            f"{_who(layer)}: dense operand dtype {X.dtype} does not match weight dtype {values_dtype}"
        )
    if X.shape[0] != k * groups:
        raise ValueError(
            f"{_who(layer)}: dense operand has {X.shape[0]} rows, expected K*groups = {k}*{groups} = {k * groups}"
        )
    return aligned(X), fmt_rows // groups


def _output(out, rows: int, n: int, dtype, layer) -> np.ndarray:
    """A fresh aligned output, or the caller's ``out`` once checked.

    Reusing ``out`` saves the page faults of a fresh allocation, which on small shapes cost as
    much as a quarter of a two-thread call (they serialise on the process's memory map).
    """
    if out is None:
        return aligned_empty((rows, n), dtype)  # every kernel overwrites its rows
    if (
        not isinstance(out, np.ndarray)
        or out.shape != (rows, n)
        or out.dtype != dtype
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        got = (getattr(out, "shape", None), getattr(out, "dtype", type(out).__name__))
        raise ValueError(
            f"{_who(layer)}: out must be a writeable C-contiguous {dtype} array of shape "
            f"{(rows, n)}, got shape/dtype {got}"
        )
    return out


def _chunk(X: np.ndarray) -> int:
    """Columns per N-chunk.  Measured (MACHINE.md box): whole rows win up to N ~ 1k; on the
    512x4608x3136 conv shape 1024-column chunks beat both whole rows and L2-sized chunks."""
    return max(1, min(X.shape[1], _CHUNK_COLUMNS))


def _use_parallel(work: int, k: int, X: np.ndarray) -> int:
    """Row blocks for the parallel driver (0 = run serially); ``k`` rows of ``X`` feed each group."""
    threads = numba.get_num_threads()
    if threads < 2 or work < PARALLEL_MIN_WORK:
        return 0
    chunk_bytes = k * _chunk(X) * X.itemsize
    return threads * (_BLOCKS_PER_THREAD if chunk_bytes <= _X_CHUNK_CACHE_BYTES else 1)


def csr_spmm(
    w: CSR, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for a :class:`~accelsim.sparse.formats.CSR` weight; returns an aligned (rows x N) array."""
    if not isinstance(w, CSR):
        raise ValueError(f"{_who(layer)}: csr_spmm needs a CSR weight, got {type(w).__name__}")
    rows, k = w.gemm_shape
    X, rpg = _check_operand(rows, k, w.data.dtype, X, groups, layer)
    Y = _output(out, rows, X.shape[1], X.dtype, layer)
    blocks = _use_parallel(w.nnz * X.shape[1], k, X)
    if not blocks:
        _csr_rows(w.indptr, w.indices, w.data, X, Y, 0, rows, rpg, k, _chunk(X))
    else:
        with numba.parallel_chunksize(1):
            _csr_spmm_parallel(
                w.indptr, w.indices, w.data, X, Y, _balanced_bounds(w.indptr, blocks), rpg, k, _chunk(X)
            )
    return Y


def bsr_spmm(
    w: BSR, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for a :class:`~accelsim.sparse.formats.BSR` weight; blocks must not straddle groups."""
    if not isinstance(w, BSR):
        raise ValueError(f"{_who(layer)}: bsr_spmm needs a BSR weight, got {type(w).__name__}")
    rows, k = w.gemm_shape
    X, rpg = _check_operand(rows, k, w.blocks.dtype, X, groups, layer)
    br = w.block_shape[0]
    if rpg % br:
        raise ValueError(f"{_who(layer)}: block_shape {w.block_shape} straddles groups of {rpg} output rows")
    Y = _output(out, rows, X.shape[1], X.dtype, layer)
    block_rows = rows // br
    blocks = _use_parallel(w.nnz * X.shape[1], k, X)
    if not blocks:
        _bsr_rows(w.indptr, w.indices, w.blocks, X, Y, 0, block_rows, rpg, k, _chunk(X))
    else:
        bounds = _balanced_bounds(w.indptr, blocks)
        with numba.parallel_chunksize(1):
            _bsr_spmm_parallel(w.indptr, w.indices, w.blocks, X, Y, bounds, rpg, k, _chunk(X))
    return Y


def nm_spmm(
    w: NMFormat, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for an :class:`~accelsim.sparse.formats.NMFormat` weight."""
    if not isinstance(w, NMFormat):
        raise ValueError(f"{_who(layer)}: nm_spmm needs an NM weight, got {type(w).__name__}")
    rows, k = w.gemm_shape
    X, rpg = _check_operand(rows, k, w.values.dtype, X, groups, layer)
    Y = _output(out, rows, X.shape[1], X.dtype, layer)
    blocks = _use_parallel(w.nnz * X.shape[1], k, X)
    if not blocks:
        _nm_rows(w.values, w.offsets, w.n, w.m, X, Y, 0, rows, rpg, k, _chunk(X))
    else:
        bounds = _balanced_bounds(np.arange(rows + 1, dtype=np.int64), blocks)  # rows have equal work
        with numba.parallel_chunksize(1):
            _nm_spmm_parallel(w.values, w.offsets, w.n, w.m, X, Y, bounds, rpg, k, _chunk(X))
    return Y


def bitmap_spmm(
    w: Bitmap, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for a :class:`~accelsim.sparse.formats.Bitmap` weight (serial: a reference-grade kernel)."""
    if not isinstance(w, Bitmap):
        raise ValueError(f"{_who(layer)}: bitmap_spmm needs a Bitmap weight, got {type(w).__name__}")
    rows, k = w.gemm_shape
    X, rpg = _check_operand(rows, k, w.values.dtype, X, groups, layer)
    Y = _output(out, rows, X.shape[1], X.dtype, layer)
    _bitmap_spmm(w.bitmap, w.values, X, Y, rpg, k)
    return Y


def dense_gemm(
    w: np.ndarray, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` through BLAS for a dense weight (any shape; its GEMM view is used), grouped."""
    w2 = gemm_view(w, layer=layer)
    rows, k = w2.shape
    X, rpg = _check_operand(rows, k, w2.dtype, X, groups, layer)
    Y = _output(out, rows, X.shape[1], X.dtype, layer)
    X3 = X.reshape(groups, k, X.shape[1])
    if rpg == 1 and groups > 1:
        # Depthwise: batched BLAS on (1 x k) @ (k x N) stacks ran 10x slower than this k-loop of
        # multiply-adds over all channels at once (MobileNetV2 at 224x224).
        Y[...] = w2[:, :1] * X3[:, 0]
        for j in range(1, k):
            Y += w2[:, j : j + 1] * X3[:, j]
        return Y
    np.matmul(w2.reshape(groups, rpg, k), X3, out=Y.reshape(groups, rpg, X.shape[1]))
    return Y


_SPMM: dict[type, Callable[..., np.ndarray]] = {
    CSR: csr_spmm,
    BSR: bsr_spmm,
    NMFormat: nm_spmm,
    Bitmap: bitmap_spmm,
}


def spmm(
    w, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` dispatched on the weight's type: a format object, or a dense ndarray (BLAS).

    ``out`` (rows x N, the operand's dtype, C-contiguous; 64-byte aligned is fastest) receives the
    result instead of a fresh array.
    """
    if isinstance(w, np.ndarray):
        return dense_gemm(w, X, groups=groups, out=out, layer=layer)
    try:
        kernel = _SPMM[type(w)]
    except KeyError:
        raise ValueError(f"{_who(layer)}: not a weight format: {type(w).__name__}") from None
    return kernel(w, X, groups=groups, out=out, layer=layer)


# ------------------------------------------------------------------------------- convolution


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
        raise ValueError(f"{_who(layer)}: conv input must be (B, C, H, W), got shape {x.shape}")
    kh, kw = _pair(kernel_size)
    shape = w.shape if isinstance(w, np.ndarray) else w.shape
    if len(shape) != 4 or shape[1] * groups != x.shape[1] or tuple(shape[2:]) != (kh, kw):
        raise ValueError(
            f"{_who(layer)}: weight shape {tuple(shape)} does not fit input channels {x.shape[1]}, "
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


# ---------------------------------------------------------------------------- tile statistics


@dataclass(frozen=True, eq=False)
class TileStats:
    """Weight non-zeros of every fold of a layer on an R x C array, in mapping.py's fold order
    (group outer, column fold, row fold inner).

    ``nnz[f]``: non-zero weights fold ``f`` uses (ws: the r x c stationary slice; is: the slice's
    k rows over all n; os: the slice's n columns over all k).  ``macs[f]``: its effectual MACs
    (each non-zero weight times the inputs it meets in the fold).  ``row_nnz[f, r]`` /
    ``col_nnz[f, c]``: non-zero weights held in or streamed through PE row r / column c (ws: the
    weights in that row/column; is: row r streams column k_r of W, every used column sees all;
    os: column c streams output channel n_c, every used row sees all).  Unused rows/columns are 0.
    """

    layer: str | None
    dataflow: str
    rows: int
    cols: int
    nnz: np.ndarray
    macs: np.ndarray
    row_nnz: np.ndarray
    col_nnz: np.ndarray

    @property
    def folds(self) -> int:
        return int(self.nnz.shape[0])


def tile_stats(layer, mask: np.ndarray | None, *, rows: int, cols: int, dataflow: str) -> TileStats:
    """Per-fold sparse work of a GEMM layer (Conv2d or Linear) on a ``rows`` x ``cols`` array.

    Uses the layer's GEMM shape (``layer.gemm``: groups x (m x k) @ (k x n)) and the fold order of
    :mod:`accelsim.timing.mapping`; ``mask=None`` means dense.
    """
    name = getattr(layer, "name", None)
    gemm = getattr(layer, "gemm", None)
    if gemm is None or getattr(layer, "weight_shape", None) is None:
        raise ValueError(
            f"layer {name!r}: tile_stats needs a layer with weights and a GEMM, got {type(layer).__name__}"
        )
    if dataflow not in DATAFLOWS:
        raise ValueError(f"layer {name!r}: dataflow must be one of {DATAFLOWS}, got {dataflow!r}")
    flow = get_dataflow(dataflow)
    Sr, Sc, _ = flow.dims(gemm.m, gemm.k, gemm.n)
    for field, v in (("rows", rows), ("cols", cols)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"layer {name!r}: {field} must be an int >= 1, got {v!r}")
    shape = tuple(layer.weight_shape)
    if mask is None:
        mask = np.ones(shape, dtype=bool)
    check_mask(np.empty(shape, dtype=np.uint8), mask, layer=name)
    m2 = gemm_view(mask, layer=name, what="mask").view(np.uint8)
    nnz, macs, row_nnz, col_nnz = _tile_stats(
        m2, gemm.groups, gemm.m, int(rows), int(cols), flow.code, Sr, Sc
    )
    return TileStats(name, dataflow, int(rows), int(cols), nnz, macs, row_nnz, col_nnz)


def warm_up(dtypes=(np.float32, np.float64)) -> None:
    """Call every kernel once on tiny inputs so later calls skip JIT compilation / cache loading."""
    from accelsim.sparse.formats import encode_bitmap, encode_bsr, encode_csr, encode_nm

    for dtype in dtypes:
        w = np.ones((4, 8), dtype=dtype)
        mask = np.zeros((4, 8), dtype=bool)
        mask[:, ::2] = True
        X = aligned_zeros((8, 3), dtype)
        bounds = np.array([0, 2, 4], dtype=np.int64)
        csr = encode_csr(w, mask)
        bsr = encode_bsr(w, np.ones_like(mask), (2, 2))
        nm = encode_nm(w, mask, 1, 2)
        bm = encode_bitmap(w, mask)
        Y = aligned_zeros((4, 3), dtype)
        _csr_rows(csr.indptr, csr.indices, csr.data, X, Y, 0, 4, 4, 8, 3)
        _csr_spmm_parallel(csr.indptr, csr.indices, csr.data, X, Y, bounds, 4, 8, 3)
        _bsr_rows(bsr.indptr, bsr.indices, bsr.blocks, X, Y, 0, 2, 4, 8, 3)
        _bsr_spmm_parallel(
            bsr.indptr, bsr.indices, bsr.blocks, X, Y, np.array([0, 1, 2], dtype=np.int64), 4, 8, 3
        )
        _nm_rows(nm.values, nm.offsets, nm.n, nm.m, X, Y, 0, 4, 4, 8, 3)
        _nm_spmm_parallel(nm.values, nm.offsets, nm.n, nm.m, X, Y, bounds, 4, 8, 3)
        _bitmap_spmm(bm.bitmap, bm.values, X, Y, 4, 8)
        _balanced_bounds(csr.indptr, 2)
        _balanced_bounds(np.arange(5, dtype=np.int64), 2)
        gelu(np.zeros(3, dtype=dtype))
    _tile_stats(np.ones((4, 8), dtype=np.uint8), 1, 3, 2, 2, WS.code, 8, 4)
