"""The jitted SpMM kernels: raw arrays in, ``Y`` rows overwritten, no checks.

They take the arrays of a format (``indptr, indices, data``, ...) and trust them; the validating
wrappers and the serial/parallel choice live in :mod:`accelsim.sparse.spmm`, which is the only
module that should call them.  They are kept apart from the wrappers so the hot loops (and the
measurements that shaped them) read as one piece, and a change of policy does not touch them.

SpMM computes ``Y = W @ X`` with ``W`` sparse (rows x K in its GEMM view, see
:mod:`accelsim.sparse.formats`) and ``X`` dense (K x N, C-contiguous).  The N-loop is innermost and
contiguous so LLVM vectorises it (``tests/test_kernels.py`` checks the machine code for packed
FMAs); four non-zeros are folded into one pass over a row of ``Y`` to cut its loads and stores
4x; BSR uses a 4 x 4 register tile per block; ``N`` runs in 1024-column chunks (measured best on
the 512x4608x3136 conv shape, whole rows elsewhere).  X and Y are 64-byte aligned
(:func:`accelsim.sparse.jit.aligned`), which docs/machine.md measured at 1.3-2.4x for these kernels.

Grouped weights (grouped / depthwise convolution): rows ``[g*rows_per_group, (g+1)*rows_per_group)``
multiply rows ``[g*K, (g+1)*K)`` of ``X`` (``X`` stacks the groups' im2col matrices).

A parallel driver (``*_rows_parallel``, ``prange``) runs the serial row kernel over the row
blocks ``bounds`` gives (see :func:`balanced_bounds`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from accelsim.sparse.formats import encode_bitmap, encode_bsr, encode_csr, encode_nm
from accelsim.sparse.jit import JIT, JIT_PARALLEL, aligned_zeros

__all__ = [
    "csr_rows",
    "csr_rows_parallel",
    "bsr_rows",
    "bsr_rows_parallel",
    "nm_rows",
    "nm_rows_parallel",
    "bitmap_rows",
    "balanced_bounds",
    "warm_up_spmm_kernels",
]


@njit(**JIT)
def csr_rows(indptr, indices, data, X, Y, r0, r1, rows_per_group, k_per_group, chunk):
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
def balanced_bounds(indptr, parts):
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
def csr_rows_parallel(indptr, indices, data, X, Y, bounds, rows_per_group, k_per_group, chunk):
    for b in prange(bounds.shape[0] - 1):
        csr_rows(indptr, indices, data, X, Y, bounds[b], bounds[b + 1], rows_per_group, k_per_group, chunk)


@njit(**JIT)
def bsr_rows(indptr, indices, blocks, X, Y, b0, b1, rows_per_group, k_per_group, chunk):
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
def bsr_rows_parallel(indptr, indices, blocks, X, Y, bounds, rows_per_group, k_per_group, chunk):
    for b in prange(bounds.shape[0] - 1):
        bsr_rows(indptr, indices, blocks, X, Y, bounds[b], bounds[b + 1], rows_per_group, k_per_group, chunk)


@njit(**JIT)
def nm_rows(values, offsets, n_keep, m, X, Y, r0, r1, rows_per_group, k_per_group, chunk):
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
def nm_rows_parallel(values, offsets, n_keep, m, X, Y, bounds, rows_per_group, k_per_group, chunk):
    for b in prange(bounds.shape[0] - 1):
        nm_rows(
            values, offsets, n_keep, m, X, Y, bounds[b], bounds[b + 1], rows_per_group, k_per_group, chunk
        )


@njit(**JIT)
def bitmap_rows(bitmap, values, X, Y, rows_per_group, k_per_group):
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


def warm_up_spmm_kernels(dtype: type[np.floating]) -> None:
    """Call every SpMM kernel once on tiny ``dtype`` inputs (JIT compilation / cache loading)."""
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
    csr_rows(csr.indptr, csr.indices, csr.data, X, Y, 0, 4, 4, 8, 3)
    csr_rows_parallel(csr.indptr, csr.indices, csr.data, X, Y, bounds, 4, 8, 3)
    bsr_rows(bsr.indptr, bsr.indices, bsr.blocks, X, Y, 0, 2, 4, 8, 3)
    bsr_rows_parallel(bsr.indptr, bsr.indices, bsr.blocks, X, Y, np.array([0, 1, 2], dtype=np.int64), 4, 8, 3)
    nm_rows(nm.values, nm.offsets, nm.n, nm.m, X, Y, 0, 4, 4, 8, 3)
    nm_rows_parallel(nm.values, nm.offsets, nm.n, nm.m, X, Y, bounds, 4, 8, 3)
    bitmap_rows(bm.bitmap, bm.values, X, Y, 4, 8)
    balanced_bounds(csr.indptr, 2)
    balanced_bounds(np.arange(5, dtype=np.int64), 2)
