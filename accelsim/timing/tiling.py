"""Reuse-aware tiling: per layer, the loop order and buffer tiles that minimise DRAM traffic.

The `reuse` memory model (docs/model.md, "Data movement"). A GEMM layer's groups run one after
another; within a group the buffers hold one *tile* of each operand: ``m_tile`` output rows
(convolutions: whole rows of the output image; GEMMs: tokens), ``k_tile`` input channels (all
of their ``kh x kw`` window) and ``n_tile`` output channels. Two loops walk the output tiles
(``order`` ``"nm"``: output channels outer; ``"mn"``: output rows outer) and the reduction loop
is innermost, so each output is accumulated on chip and written once. An operand tile is
fetched again whenever a loop it depends on advances inside a loop it does not depend on; a
tile whose loops all have one trip stays resident for the whole layer (a stationary operand
that fits is fetched once).

Input traffic counts unique data: a tile of output rows reads the input rows its windows touch
(halos included, padding never fetched, rows and columns a strided window skips never fetched),
not the im2col matrix. Every tile must fit in half its buffer (the other half is being
refilled, as in the double-buffered engine); partial sums that outlive one reduction tile are
held at accumulator width in the ofmap buffer -- or in the PEs, when the tile is one fold of an
output-stationary array. The search is exhaustive over powers of two (plus the array's size and
the full size) for the output-row and output-channel tiles, takes the largest channel tile that
fits, and tries both orders: a few hundred closed-form evaluations per layer, cached.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from accelsim.arch.hardware import Hardware

__all__ = [
    "ORDERS",
    "Tiling",
    "choose_tiling",
    "clear_cache",
    "per_fold",
    "search_tiling",
    "traffic_segments",
]

#: Loop orders over the output tiles, outer first; the reduction loop is always innermost.
ORDERS = ("nm", "mn")


@dataclass(frozen=True)
class Tiling:
    """The chosen schedule of one layer and the DRAM bytes it moves (all groups)."""

    order: str
    m_tile: int  # output rows (conv) or tokens per tile
    k_tile: int  # input channels (conv) or reduction features per tile
    n_tile: int  # output channels per tile
    ifmap_bytes: int
    filter_bytes: int
    ofmap_bytes: int
    first_ifmap_bytes: int  # the first tile, loaded before anything computes
    first_filter_bytes: int
    compulsory_ifmap_bytes: int  # every input byte some window reads, read once
    compulsory_filter_bytes: int  # the weights, read once

    @property
    def total_bytes(self) -> int:
        return self.ifmap_bytes + self.filter_bytes + self.ofmap_bytes

    @property
    def compulsory_bytes(self) -> int:
        """Each input read once, the output written once: no schedule moves less."""
        return self.compulsory_ifmap_bytes + self.compulsory_filter_bytes + self.ofmap_bytes

    @property
    def filter_passes(self) -> int:
        """How many times the weights are read from DRAM (the filter's refetch factor)."""
        return self.filter_bytes // self.compulsory_filter_bytes


@dataclass(frozen=True)
class _Geometry:
    """A layer's reuse structure per group: `channels` x `window` reduction, `n` outputs per
    position, `out_rows` x `out_cols` positions, and which input rows each output row reads."""

    groups: int
    channels: int
    window: int
    n: int
    out_rows: int
    out_cols: int
    in_cols: int  # input columns the output columns read (unique)
    row_touch: np.ndarray | None  # bool (out_rows, in_rows); None: output row i reads input row i

    def footprints(self, rows_per_tile: int) -> np.ndarray:
        """Unique input rows read by each tile of `rows_per_tile` output rows."""
        starts = np.arange(0, self.out_rows, rows_per_tile)
        if self.row_touch is None:
            return np.minimum(rows_per_tile, self.out_rows - starts)
        return np.logical_or.reduceat(self.row_touch, starts, axis=0).sum(axis=1)


def _touch(out_size: int, in_size: int, kernel: int, stride: int, pad: int, dilation: int) -> np.ndarray:
    """bool (out_size, in_size): which unpadded inputs each output position's window reads."""
    index = np.arange(out_size)[:, None] * stride - pad + np.arange(kernel)[None, :] * dilation
    touch = np.zeros((out_size, in_size), dtype=bool)
    valid = (index >= 0) & (index < in_size)
    touch[np.nonzero(valid)[0], index[valid]] = True
    return touch


def _shape_key(layer) -> tuple | None:
    """What the schedule depends on: the layer's shape without its name (equal shapes share)."""
    gemm = layer.gemm
    if gemm is None:
        return None
    if hasattr(layer, "kernel_size"):
        return (
            "conv",
            layer.in_channels // layer.groups,
            gemm.groups,
            gemm.n,
            layer.kernel_size,
            layer.input_hw,
            layer.output_hw,
            layer.stride,
            layer.padding,
            layer.dilation,
        )
    return ("gemm", gemm.k, gemm.groups, gemm.n, gemm.m)


def _geometry(key: tuple) -> _Geometry:
    if key[0] == "gemm":
        _, k, groups, n, m = key
        return _Geometry(groups, k, 1, n, m, 1, 1, None)
    _, channels, groups, n, (kh, kw), (ih, iw), (ho, wo), (sh, sw), (ph, pw), (dh, dw) = key
    cols = int(_touch(wo, iw, kw, sw, pw, dw).any(axis=0).sum())
    return _Geometry(groups, channels, kh * kw, n, ho, wo, cols, _touch(ho, ih, kh, sh, ph, dh))


def _sizes(total: int, array_fit: int) -> list[int]:
    """Candidate tile sizes: powers of two below `total`, what fills the array (`array_fit`, if
    smaller) and `total` itself."""
    sizes = {1 << i for i in range(total.bit_length()) if (1 << i) < total} | {total}
    if 0 < array_fit < total:
        sizes.add(array_fit)
    return sorted(sizes)


def _refetch(order: str, m: int, n: int, k: int) -> tuple[int, int]:
    """(ifmap, filter) refetch factors for `m`, `n`, `k` tiles along each loop: an operand's
    tiles are fetched again for every trip of a loop it does not depend on that encloses its
    innermost loop with more than one trip (the reduction loop is innermost)."""
    if order == "nm":  # n, m, k: the input rows are walked once per output-channel tile
        return (n if k > 1 or m > 1 else 1), (m if k > 1 else 1)
    return (n if k > 1 else 1), (m if k > 1 or n > 1 else 1)  # m, n, k


def search_tiling(layer, hardware: Hardware) -> Tiling | None:
    """The schedule of `layer` on `hardware`'s buffers with the least DRAM traffic (ties: fewer
    tiles, then `ORDERS` order); ``None`` when not even one output row and one channel fit."""
    key = _shape_key(layer)
    if key is None:
        return None
    # Searched in bits, so sub-byte words pack; the bytes each schedule moves are rounded up at the end.
    word_bits = tuple(hardware.datatypes.bits(op) for op in ("ifmap", "filter", "ofmap", "accum"))
    half_bits = tuple(8 * (hardware.buffers.capacity_bytes(op) // 2) for op in ("ifmap", "filter", "ofmap"))
    pe = hardware.pe
    return _search(key, word_bits, half_bits, (pe.rows, pe.cols, pe.dataflow))


def clear_cache() -> None:
    """Forget every searched schedule (benchmarks time the search with an empty cache)."""
    _search.cache_clear()


@functools.lru_cache(maxsize=8192)
def _search(
    key: tuple,
    word_bits: tuple[int, int, int, int],
    half_bits: tuple[int, int, int],
    array: tuple[int, int, str],
) -> Tiling | None:
    geo = _geometry(key)
    rows_pe, cols_pe, dataflow = array
    word = dict(zip(("ifmap", "filter", "ofmap", "accum"), word_bits))
    half = dict(zip(("ifmap", "filter", "ofmap"), half_bits))
    filter_bits = geo.channels * geo.window * geo.n * word["filter"]
    ofmap_bits = geo.out_rows * geo.out_cols * geo.n * word["ofmap"]
    best, best_key = None, None
    for rows in _sizes(geo.out_rows, rows_pe // geo.out_cols):
        feet = geo.footprints(rows)
        row_bits = geo.in_cols * word["ifmap"]
        fit_ifmap = half["ifmap"] // (int(feet.max()) * row_bits)
        if fit_ifmap == 0:
            continue
        pass_bits = geo.channels * int(feet.sum()) * row_bits
        for n_tile in _sizes(geo.n, cols_pe):
            channels = min(fit_ifmap, half["filter"] // (geo.window * n_tile * word["filter"]), geo.channels)
            if channels == 0:
                continue
            m, n, k = len(feet), -(-geo.n // n_tile), -(-geo.channels // channels)
            # Partial sums wait at accumulator width in the ofmap buffer between reduction tiles,
            # unless the tile is one output-stationary fold: then they wait in the PEs.
            in_array = dataflow == "os" and rows * geo.out_cols <= rows_pe and n_tile <= cols_pe
            out_word = word["ofmap"] if k == 1 or in_array else word["accum"]
            if rows * geo.out_cols * n_tile * out_word > half["ofmap"]:
                continue
            for rank, order in enumerate(ORDERS):
                ifmap_passes, filter_passes = _refetch(order, m, n, k)
                ifmap, weights = pass_bits * ifmap_passes, filter_bits * filter_passes
                rank_key = (ifmap + weights, m * n * k, rank)
                if best_key is None or rank_key < best_key:
                    best_key = rank_key
                    best = (
                        order,
                        rows,
                        channels,
                        n_tile,
                        ifmap,
                        weights,
                        channels * int(feet[0]) * row_bits,
                        channels * geo.window * min(n_tile, geo.n) * word["filter"],
                    )
    if best is None:
        return None
    order, rows, channels, n_tile, ifmap, weights, first_ifmap, first_filter = best
    used_input = geo.channels * int(geo.footprints(geo.out_rows).sum()) * geo.in_cols * word["ifmap"]
    g = geo.groups
    return Tiling(
        order,
        rows,
        channels,
        n_tile,
        _whole_bytes(g * ifmap),
        _whole_bytes(g * weights),
        _whole_bytes(g * ofmap_bits),
        _whole_bytes(first_ifmap),
        _whole_bytes(first_filter),
        _whole_bytes(g * used_input),
        _whole_bytes(g * filter_bits),
    )


def _whole_bytes(bits: int) -> int:
    return -(-bits // 8)


def choose_tiling(layer, hardware: Hardware, scalesim_bytes: int) -> Tiling | None:
    """The reuse schedule when the hardware's memory model is `reuse` and it moves no more bytes
    than SCALE-Sim's fold order (`scalesim_bytes`, itself a valid schedule); else ``None``."""
    if hardware.memory.model != "reuse":
        return None
    tiling = search_tiling(layer, hardware)
    if tiling is None or tiling.total_bytes > scalesim_bytes:
        return None
    return tiling


def _operand_segments(total: int, folds: int, first: int | None) -> list[tuple[int, int, int]]:
    """``[(start, end, bytes per fold)]``: `first` bytes on fold 0 and the rest even over the
    others (reads: the first tile is loaded before anything computes, later tiles are
    prefetched while earlier ones compute); `first=None` spreads evenly over all folds."""
    if first is None:
        base, extra = divmod(total, folds)
        return [(0, extra, base + 1), (extra, folds, base)]
    first = min(first, total)
    if folds == 1:
        return [(0, 1, total)]
    base, extra = divmod(total - first, folds - 1)
    return [(0, 1, first), (1, 1 + extra, base + 1), (1 + extra, folds, base)]


def traffic_segments(tiling: Tiling, folds: int) -> list[tuple[int, int, int, int, int]]:
    """Contiguous ``(start, end, ifmap, filter, ofmap)`` DRAM bytes per fold over a layer's folds."""
    operands = [
        _operand_segments(tiling.ifmap_bytes, folds, tiling.first_ifmap_bytes),
        _operand_segments(tiling.filter_bytes, folds, tiling.first_filter_bytes),
        _operand_segments(tiling.ofmap_bytes, folds, None),
    ]
    cuts = sorted({edge for segments in operands for s, e, _ in segments for edge in (s, e)})
    out = []
    for start, end in itertools.pairwise(cuts):
        if end > start:
            ifmap, weights, ofmap = (next(v for s, e, v in segs if s <= start < e) for segs in operands)
            out.append((start, end, ifmap, weights, ofmap))
    return out


def per_fold(total: int, folds: int, first: int | None) -> np.ndarray:
    """`_operand_segments` as one value per fold."""
    values = np.zeros(folds, dtype=np.int64)
    for start, end, value in _operand_segments(total, folds, first):
        values[start:end] = value
    return values
