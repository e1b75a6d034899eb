"""Obviously-correct numpy twins of every kernel in accelsim.sparse.kernels (no numba, no cleverness).

Each twin reads the raw arrays the way the format documents them and accumulates in float64.
"""

from __future__ import annotations

import math

import numpy as np


def _x_row(X, i, rows_per_group, k_per_group, k):
    return X[(i // rows_per_group) * k_per_group + k].astype(np.float64)


def csr_spmm(indptr, indices, data, X, rows_per_group, k_per_group):
    rows = len(indptr) - 1
    Y = np.zeros((rows, X.shape[1]))
    for i in range(rows):
        for jj in range(indptr[i], indptr[i + 1]):
            Y[i] += float(data[jj]) * _x_row(X, i, rows_per_group, k_per_group, indices[jj])
    return Y


def bsr_spmm(indptr, indices, blocks, X, rows_per_group, k_per_group):
    _, br, bc = blocks.shape
    Y = np.zeros(((len(indptr) - 1) * br, X.shape[1]))
    for ib in range(len(indptr) - 1):
        for jj in range(indptr[ib], indptr[ib + 1]):
            for r in range(br):
                i = ib * br + r
                for c in range(bc):
                    Y[i] += float(blocks[jj, r, c]) * _x_row(
                        X, i, rows_per_group, k_per_group, indices[jj] * bc + c
                    )
    return Y


def nm_spmm(values, offsets, n, m, X, rows_per_group, k_per_group):
    Y = np.zeros((values.shape[0], X.shape[1]))
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            k = (j // n) * m + int(offsets[i, j])
            Y[i] += float(values[i, j]) * _x_row(X, i, rows_per_group, k_per_group, k)
    return Y


def bitmap_spmm(bitmap, values, X, rows_per_group, k_per_group):
    Y = np.zeros((bitmap.shape[0], X.shape[1]))
    p = 0
    for i in range(bitmap.shape[0]):
        for k in range(bitmap.shape[1]):
            if bitmap[i, k]:
                Y[i] += float(values[p]) * _x_row(X, i, rows_per_group, k_per_group, k)
                p += 1
    return Y


def conv2d(x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """Direct convolution by its definition: (B, C, H, W) * (O, C/g, kh, kw) -> (B, O, Ho, Wo)."""
    B, C, H, W = x.shape
    O, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (H + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (W + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((B, O, ho, wo))
    opg = O // groups
    for o in range(O):
        g = o // opg
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (ho - 1) + 1, stride[0])
                cols = slice(j * dilation[1], j * dilation[1] + stride[1] * (wo - 1) + 1, stride[1])
                patch = xp[:, g * cg : (g + 1) * cg, rows, cols]  # (B, cg, ho, wo)
                out[:, o] += np.tensordot(patch, w[o, :, i, j].astype(np.float64), axes=([1], [0]))
    return out


def gelu(x):
    return np.vectorize(lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))))(x.astype(np.float64))


def tile_stats(mask2d, groups, m, R, C, dataflow):
    """Per fold: (nnz, macs, row_nnz[R], col_nnz[C]) straight from the definitions in TileStats."""
    n = mask2d.shape[0] // groups
    k = mask2d.shape[1]
    Sr, Sc = {"ws": (k, n), "is": (k, m), "os": (m, n)}[dataflow]
    out = []
    for g in range(groups):
        Wg = mask2d[g * n : (g + 1) * n].astype(np.int64)  # (n, k): W^T of the mapper's k x n filter
        for c0 in range(0, Sc, C):
            c1 = min(c0 + C, Sc)
            for r0 in range(0, Sr, R):
                r1 = min(r0 + R, Sr)
                row = np.zeros(R, dtype=np.int64)
                col = np.zeros(C, dtype=np.int64)
                if dataflow == "ws":
                    tile = Wg[c0:c1, r0:r1]  # weight (k=r, n=c) sits in PE (r, c)
                    row[: r1 - r0] = tile.sum(axis=0)
                    col[: c1 - c0] = tile.sum(axis=1)
                    nnz = int(tile.sum())
                    macs = nnz * m
                elif dataflow == "is":
                    tile = Wg[:, r0:r1]  # all n weights of k rows stream by
                    nnz = int(tile.sum())
                    row[: r1 - r0] = tile.sum(axis=0)
                    col[: c1 - c0] = nnz
                    macs = nnz * (c1 - c0)
                else:
                    tile = Wg[c0:c1, :]  # all k weights of n columns stream by
                    nnz = int(tile.sum())
                    col[: c1 - c0] = tile.sum(axis=1)
                    row[: r1 - r0] = nnz
                    macs = nnz * (r1 - r0)
                out.append((nnz, macs, row, col))
    return out
