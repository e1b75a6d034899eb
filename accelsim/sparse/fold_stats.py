"""Per-fold weight non-zeros of a layer on a PE array: the sparse work the timing model charges.

:func:`tile_stats` walks a layer's mask in :mod:`accelsim.timing.mapping`'s fold order and counts,
per fold, the non-zero weights, effectual MACs and the load of every PE row and column.  It is a
counting kernel over a mask, not arithmetic over values, and its caller is the timing model, so
it lives apart from the SpMM and convolution kernels that :mod:`accelsim.sparse.execute` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from accelsim.arch.dataflow import DATAFLOWS, WS, dataflow as get_dataflow
from accelsim.sparse.format_spec import check_mask
from accelsim.sparse.formats import gemm_view
from accelsim.sparse.jit import JIT

__all__ = ["TileStats", "tile_stats", "warm_up_tile_stats"]


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


def warm_up_tile_stats() -> None:
    """Call the fold-statistics kernel once on a tiny mask (JIT compilation / cache loading)."""
    _tile_stats(np.ones((4, 8), dtype=np.uint8), 1, 3, 2, 2, WS.code, 8, 4)
