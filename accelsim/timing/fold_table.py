"""Every fold of a GEMM layer as one numpy row, for models that change folds one by one.

`accelsim.timing.mapping.map_layer` describes a layer as run-length `TileClass` runs, so its cost
grows with the number of distinct folds; the sparse model (`accelsim.timing.sparse_model`) needs
the opposite view, one row per fold it can rescale independently.  This module holds that
per-fold table (`fold_table`, its columns `FoldColumn`) and the way back to runs (`tiles_of`).
It is separate from the mapping because it is a second representation of the same folds with its
own consumer; tests check both agree fold for fold.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from accelsim.arch.dataflow import OPERANDS, dataflow
from accelsim.timing.mapping import TileClass, is_resident, stream_cycles
from accelsim.timing.tiling import Tiling, choose_tiling, per_fold


class FoldColumn(IntEnum):
    """The columns of a `fold_table`, by name: ``table[:, FoldColumn.macs]``."""

    compute_cycles = 0
    macs = 1
    sram_ifmap = 2
    sram_filter = 3
    sram_ofmap = 4
    dram_ifmap = 5
    dram_filter = 6
    dram_ofmap = 7


#: Columns of `fold_table`, in order.
FOLD_COLUMNS = tuple(column.name for column in FoldColumn)


@dataclass(frozen=True)
class FoldTable:
    """Every fold of a GEMM layer as numpy rows (`FOLD_COLUMNS`), in execution order, with its
    geometry: used rows ``r``, used columns ``c``, streamed length ``T`` -- the same numbers as
    `map_layer`'s runs, one row per fold, for models that change folds one by one."""

    table: np.ndarray
    r: np.ndarray
    c: np.ndarray
    T: int
    mapping_efficiency: float
    compute_utilisation: float
    tiling: Tiling | None = None


def fold_table(layer, hardware) -> FoldTable:
    """`map_layer`'s folds of a GEMM layer, one row each (tests check both agree fold for fold).

    `map_layer` stays run-length: its cost grows with the runs, so a 1x1 array or a huge layer
    costs no more than a few runs; this table grows with the folds and serves models whose folds
    all differ (`accelsim.timing.sparse_model`), which are per-fold anyway."""
    gemm, hw = layer.gemm, hardware
    R, C, df = hw.pe.rows, hw.pe.cols, hw.pe.dataflow
    m, k, n = gemm.m, gemm.k, gemm.n
    wb = {op: hw.word_bytes(op) for op in OPERANDS}
    cap = {op: hw.buffers.capacity_bytes(op) for op in OPERANDS}
    flow = dataflow(df)
    Sr, Sc, T = flow.dims(m, k, n)
    fill, denom = flow.fill_cycles(R, C), flow.utilisation_denominator(R, C, T)
    row_sizes = np.minimum(R, Sr - R * np.arange(-(-Sr // R)))
    col_sizes = np.minimum(C, Sc - C * np.arange(-(-Sc // C)))
    nrf, ncf = row_sizes.size, col_sizes.size
    r = np.tile(row_sizes, ncf).astype(np.int64)  # one group: column fold outer
    c = np.repeat(col_sizes, nrf).astype(np.int64)
    first_col = np.repeat(np.arange(ncf) == 0, nrf)
    first_row = np.tile(np.arange(nrf) == 0, ncf)
    last_row = np.tile(np.arange(nrf) == nrf - 1, ncf)
    col = FoldColumn
    one = np.zeros((r.size, len(col)), dtype=np.int64)
    one[:, col.compute_cycles] = fill + stream_cycles(hw, T)
    one[:, col.macs] = r * c * T
    if df == "ws":
        keep_row = is_resident(m * k, wb["ifmap"], cap["ifmap"])
        keep_psums = is_resident(m * min(n, C), wb["ofmap"], cap["ofmap"])
        one[:, col.sram_ifmap], one[:, col.sram_filter], one[:, col.sram_ofmap] = T * r, r * c, T * c
        one[:, col.dram_ifmap] = hw.bytes_of("ifmap", np.where(first_col | (not keep_row), T * r, 0))
        one[:, col.dram_filter] = hw.bytes_of("filter", r * c)
    elif df == "is":
        keep_row = is_resident(k * n, wb["filter"], cap["filter"])
        keep_psums = is_resident(n * min(m, C), wb["ofmap"], cap["ofmap"])
        one[:, col.sram_ifmap], one[:, col.sram_filter], one[:, col.sram_ofmap] = r * c, T * r, T * c
        one[:, col.dram_ifmap] = hw.bytes_of("ifmap", r * c)
        one[:, col.dram_filter] = hw.bytes_of("filter", np.where(first_col | (not keep_row), T * r, 0))
    else:
        keep_row = is_resident(m * k, wb["ifmap"], cap["ifmap"])
        keep_col = is_resident(k * min(n, C), wb["filter"], cap["filter"])
        one[:, col.sram_ifmap], one[:, col.sram_filter], one[:, col.sram_ofmap] = T * r, T * c, r * c
        one[:, col.dram_ifmap] = hw.bytes_of("ifmap", np.where(first_col | (not keep_row), T * r, 0))
        one[:, col.dram_filter] = hw.bytes_of("filter", np.where(first_row | (not keep_col), T * c, 0))
        one[:, col.dram_ofmap] = hw.bytes_of("ofmap", r * c)
    if df != "os":
        psum = hw.bytes_of("ofmap", T * c)
        one[:, col.dram_ofmap] = np.where(last_row | (not keep_psums), psum, 0)
    eff = float(np.sum(r * c / (R * C))) / r.size
    util = float(np.sum(r * c * T / (R * C * denom))) / r.size
    groups = gemm.groups
    table = np.tile(one, (groups, 1))
    tiling = choose_tiling(layer, hw, int(table[:, 5:8].sum()))
    if tiling is not None:
        for column, total, first in (
            (5, tiling.ifmap_bytes, tiling.first_ifmap_bytes),
            (6, tiling.filter_bytes, tiling.first_filter_bytes),
            (7, tiling.ofmap_bytes, None),
        ):
            table[:, column] = per_fold(total, len(table), first)
    return FoldTable(table, np.tile(r, groups), np.tile(c, groups), T, eff, util, tiling)


def tiles_of(table: np.ndarray) -> tuple[TileClass, ...]:
    """Runs of equal rows of a `FOLD_COLUMNS` table, as tiles (the inverse of `fold_table`)."""
    change = np.ones(len(table), dtype=bool)
    change[1:] = np.any(table[1:] != table[:-1], axis=1)
    starts = np.flatnonzero(change)
    counts = np.diff(np.append(starts, len(table)))
    tiles = []
    for start, count in zip(starts.tolist(), counts.tolist()):
        fold = dict(zip(FOLD_COLUMNS, table[start].tolist()))
        tiles.append(
            TileClass.from_owned(
                count,
                fold["compute_cycles"],
                fold["macs"],
                {"ifmap": fold["sram_ifmap"], "filter": fold["sram_filter"]},
                {"ofmap": fold["sram_ofmap"]},
                {"ifmap": fold["dram_ifmap"], "filter": fold["dram_filter"]},
                {"ofmap": fold["dram_ofmap"]},
            )
        )
    return tuple(tiles)
