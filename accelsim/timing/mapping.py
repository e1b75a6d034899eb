"""Dense mapping of one layer onto an R x C systolic array (SCALE-Sim 3.0.0 compatible).

A layer with a GEMM shape ``groups x (m x k) @ (k x n)`` is cut into *folds* (one fill of the
array).  Each dataflow (`accelsim.arch.dataflow`) decides which GEMM dimension goes on the array rows
(``Sr``), which on the columns (``Sc``) and which is streamed in time (``T``):

==========  =========  =========  =====  ===================  ==================================
dataflow    rows (Sr)  cols (Sc)  T      cycles of one fold   SRAM words of one fold (r x c used)
==========  =========  =========  =====  ===================  ==================================
ws          k          n          m      2R + C + T - 2       ifmap T*r, filter r*c, ofmap T*c
is          k          m          n      2R + C + T - 2       ifmap r*c, filter T*r, ofmap T*c
os          m          n          k      R + C + T - 2        ifmap T*r, filter T*c, ofmap r*c
==========  =========  =========  =====  ===================  ==================================

Folds run column-fold outer, row-fold inner, group after group (groups are independent GEMMs
run one after another).  Mapping efficiency is SCALE-Sim's unweighted mean over folds of
``r*c / (R*C)``; compute utilisation is the unweighted mean of ``r*c*T / (R*C*D)`` with
``D = 2R + 2C + T - 3`` (ws, is) or ``D = R + C + T - 2`` (os) -- SCALE-Sim's per-fold
denominators, kept verbatim.  ``docs/validation.md`` derives each formula from SCALE-Sim's
demand matrices and lists every deliberate difference (OS ofmap writes, DRAM traffic).

DRAM traffic (bytes) per fold: an operand slice reused by later folds is fetched once when the
reused set fits in half of its double-buffered SRAM, else it is streamed again for every fold
that needs it; partial sums stay in the ofmap SRAM when one column-fold of outputs fits in half
of it, else every fold's partial sums are written out (read-back is not modelled). That is the
``scalesim`` memory model; under the default ``reuse`` model (`accelsim.timing.tiling`) the folds keep
their compute and SRAM work but carry the DRAM bytes of the layer's best buffer tiling instead,
whenever that moves no more than SCALE-Sim's fold order (``LayerMapping.tiling`` says which).

Layers without a GEMM (pool, add, softmax, ...) run on a vector unit of ``cols`` lanes:
``ceil(ops / cols)`` cycles, the input tensor(s) read through the ifmap SRAM and the output
written through the ofmap SRAM, each moved to/from DRAM once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from accelsim.arch.dataflow import OPERANDS, READ_OPERANDS, dataflow
from accelsim.timing.tiling import Tiling, choose_tiling, traffic_segments

_EMPTY_READS = {"ifmap": 0, "filter": 0}
_EMPTY_WRITES = {"ofmap": 0}


def _frozen(d: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class TileClass:
    """A run of ``count`` identical folds, in execution order."""

    count: int
    compute_cycles: int
    macs: int
    sram_reads: Mapping[str, int]
    sram_writes: Mapping[str, int]
    dram_read_bytes: Mapping[str, int]
    dram_write_bytes: Mapping[str, int]

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"TileClass.count must be >= 1, got {self.count}")
        if self.compute_cycles < 1:
            raise ValueError(f"TileClass.compute_cycles must be >= 1, got {self.compute_cycles}")
        for name in ("sram_reads", "sram_writes", "dram_read_bytes", "dram_write_bytes"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @classmethod
    def from_owned(
        cls,
        count: int,
        compute_cycles: int,
        macs: int,
        sram_reads: dict,
        sram_writes: dict,
        dram_read_bytes: dict,
        dram_write_bytes: dict,
    ) -> TileClass:
        """Construct from dicts nobody else holds (the mapping's own builders): no defensive copies.
        Thousands of sparse folds make the copies in `__post_init__` a measurable cost."""
        if count < 1 or compute_cycles < 1:
            return cls(
                count=count,
                compute_cycles=compute_cycles,
                macs=macs,
                sram_reads=sram_reads,
                sram_writes=sram_writes,
                dram_read_bytes=dram_read_bytes,
                dram_write_bytes=dram_write_bytes,
            )  # raises the usual error
        tile = object.__new__(cls)
        tile.__dict__.update(
            count=count,
            compute_cycles=compute_cycles,
            macs=macs,
            sram_reads=MappingProxyType(sram_reads),
            sram_writes=MappingProxyType(sram_writes),
            dram_read_bytes=MappingProxyType(dram_read_bytes),
            dram_write_bytes=MappingProxyType(dram_write_bytes),
        )
        return tile

    def _key(self) -> tuple:
        return (
            self.compute_cycles,
            self.macs,
            tuple(sorted(self.sram_reads.items())),
            tuple(sorted(self.sram_writes.items())),
            tuple(sorted(self.dram_read_bytes.items())),
            tuple(sorted(self.dram_write_bytes.items())),
        )

    def same_fold(self, other: TileClass) -> bool:
        """True when both describe the same per-fold work (counts may differ)."""
        return self._key() == other._key()


def _sum(tiles: tuple[TileClass, ...], attr: str, keys: tuple[str, ...]) -> dict[str, int]:
    out = dict.fromkeys(keys, 0)
    for t in tiles:
        for k, v in getattr(t, attr).items():
            out[k] = out.get(k, 0) + t.count * v
    return out


@dataclass(frozen=True)
class LayerMapping:
    """The folds of one layer on the array (or the vector unit) and their per-fold work."""

    layer: str
    unit: str
    dataflow: str
    tiles: tuple[TileClass, ...]
    mapping_efficiency: float
    compute_utilisation: float
    ops: int = 0
    rows: int = 0
    cols: int = 0
    tiling: Tiling | None = None  # the reuse schedule its DRAM bytes follow (None: SCALE-Sim's)
    # Filled by __post_init__; per-operand entries are dicts, the rest counts.
    _totals: dict[str, int | dict[str, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if self.unit not in ("array", "vector"):
            raise ValueError(f"LayerMapping.unit must be 'array' or 'vector', got {self.unit!r}")
        if not self.tiles:
            raise ValueError(f"LayerMapping {self.layer!r}: no tiles")
        totals = {
            "compute_cycles": sum(t.count * t.compute_cycles for t in self.tiles),
            "macs": sum(t.count * t.macs for t in self.tiles),
            "folds": sum(t.count for t in self.tiles),
            "sram_reads": _sum(self.tiles, "sram_reads", READ_OPERANDS),
            "sram_writes": _sum(self.tiles, "sram_writes", ("ofmap",)),
            "dram_read_bytes": _sum(self.tiles, "dram_read_bytes", READ_OPERANDS),
            "dram_write_bytes": _sum(self.tiles, "dram_write_bytes", ("ofmap",)),
        }
        object.__setattr__(self, "_totals", totals)

    compute_cycles = property(lambda self: self._totals["compute_cycles"])
    macs = property(lambda self: self._totals["macs"])
    folds = property(lambda self: self._totals["folds"])
    sram_reads = property(lambda self: dict(self._totals["sram_reads"]))
    sram_writes = property(lambda self: dict(self._totals["sram_writes"]))
    dram_read_bytes = property(lambda self: dict(self._totals["dram_read_bytes"]))
    dram_write_bytes = property(lambda self: dict(self._totals["dram_write_bytes"]))


_FOLD_FIELDS = ("compute_cycles", "macs", "sram_reads", "sram_writes", "dram_read_bytes", "dram_write_bytes")


def _fold_key(fold: dict) -> tuple:
    return (
        fold["compute_cycles"],
        fold["macs"],
        tuple(sorted(fold["sram_reads"].items())),
        tuple(sorted(fold["sram_writes"].items())),
        tuple(sorted(fold["dram_read_bytes"].items())),
        tuple(sorted(fold["dram_write_bytes"].items())),
    )


class _Runs:
    """Run-length builder: appends folds in order, merging equal neighbours. Tiles are built
    once at the end, so merging costs a key comparison, not a TileClass."""

    def __init__(self) -> None:
        self._runs: list[list] = []  # [count, fold, key]

    def add(self, count: int, **fold) -> None:
        if count <= 0:
            return
        key = _fold_key(fold)
        if self._runs and self._runs[-1][2] == key:
            self._runs[-1][0] += count
        else:
            self._runs.append([count, fold, key])

    def extend(self, tiles: list[TileClass], times: int = 1) -> None:
        for _ in range(times):
            for t in tiles:
                self.add(t.count, **{k: getattr(t, k) for k in _FOLD_FIELDS})

    @property
    def runs(self) -> list[TileClass]:
        return [
            TileClass.from_owned(
                count,
                fold["compute_cycles"],
                fold["macs"],
                dict(fold["sram_reads"]),
                dict(fold["sram_writes"]),
                dict(fold["dram_read_bytes"]),
                dict(fold["dram_write_bytes"]),
            )
            for count, fold, _ in self._runs
        ]


def _splits(total: int, size: int) -> list[tuple[int, int]]:
    """``[(used, how_many)]`` for cutting ``total`` into folds of at most ``size``."""
    full, rest = divmod(total, size)
    out = [(size, full)] if full else []
    if rest:
        out.append((rest, 1))
    return out


def is_resident(words: int, word_bytes: float, capacity_bytes: int) -> bool:
    """SCALE-Sim's double buffering: an operand set is resident if it fits in half its SRAM."""
    return words * word_bytes <= capacity_bytes // 2


def stream_cycles(hw, steps: int) -> int:
    """Cycles of a fold's ``steps`` MAC steps at the array's precision mode (`PEArray.stream_cycles`)."""
    types = hw.datatypes
    return hw.pe.stream_cycles(steps, max(types.bits("ifmap"), types.bits("filter")), types.bits("filter"))


def _gemm_runs(
    df: str, m: int, k: int, n: int, R: int, C: int, hw
) -> tuple[list[TileClass], float, float, int]:
    """Tiles of ONE group, plus (sum of per-fold mapping efficiency, sum of utilisation, folds)."""
    wb = {op: hw.word_bytes(op) for op in OPERANDS}
    cap = {op: hw.buffers.capacity_bytes(op) for op in OPERANDS}
    flow = dataflow(df)
    Sr, Sc, T = flow.dims(m, k, n)
    cycles = flow.fill_cycles(R, C) + stream_cycles(hw, T)
    denom = flow.utilisation_denominator(R, C, T)

    # Which reused sets stay resident (fetched / accumulated once).
    if df == "ws":  # ifmap slice of a row fold reused by every column fold
        keep_row_operand = is_resident(m * k, wb["ifmap"], cap["ifmap"])
        keep_psums = is_resident(m * min(n, C), wb["ofmap"], cap["ofmap"])
    elif df == "is":  # filter slice of a row fold reused by every column fold
        keep_row_operand = is_resident(k * n, wb["filter"], cap["filter"])
        keep_psums = is_resident(n * min(m, C), wb["ofmap"], cap["ofmap"])
    else:  # os: ifmap slice of a row fold reused by every column fold,
        keep_row_operand = is_resident(m * k, wb["ifmap"], cap["ifmap"])
        keep_col_operand = is_resident(k * min(n, C), wb["filter"], cap["filter"])  # filter slice, inner loop

    runs = _Runs()
    eff_sum = util_sum = 0.0
    folds = 0
    col_splits = _splits(Sc, C)
    row_splits = _splits(Sr, R)
    n_row_folds = sum(cnt for _, cnt in row_splits)
    col_index = 0
    for c, c_count in col_splits:
        for _ in range(c_count):
            first_col = col_index == 0
            col_index += 1
            row_index = 0
            for r, r_count in row_splits:
                eff_sum += r_count * (r * c) / (R * C)
                util_sum += r_count * (r * c * T) / (R * C * denom)
                folds += r_count
                if df == "ws":
                    sram_r = {"ifmap": T * r, "filter": r * c}
                    sram_w = {"ofmap": T * c}
                    ifmap_words = T * r if (first_col or not keep_row_operand) else 0
                    dram_r = {
                        "ifmap": hw.bytes_of("ifmap", ifmap_words),
                        "filter": hw.bytes_of("filter", r * c),
                    }
                elif df == "is":
                    sram_r = {"ifmap": r * c, "filter": T * r}
                    sram_w = {"ofmap": T * c}
                    filt_words = T * r if (first_col or not keep_row_operand) else 0
                    dram_r = {
                        "ifmap": hw.bytes_of("ifmap", r * c),
                        "filter": hw.bytes_of("filter", filt_words),
                    }
                else:
                    sram_r = {"ifmap": T * r, "filter": T * c}
                    sram_w = {"ofmap": r * c}
                    ifmap_words = T * r if (first_col or not keep_row_operand) else 0
                    dram_w = {"ofmap": hw.bytes_of("ofmap", r * c)}
                fold = dict(compute_cycles=cycles, macs=r * c * T, sram_reads=sram_r, sram_writes=sram_w)
                if df == "os":
                    # The filter slice of this column fold is fetched on its first row fold; it
                    # is refetched by every later row fold unless it stays resident.
                    filt_words = T * c
                    first = dict(
                        fold,
                        dram_read_bytes={
                            "ifmap": hw.bytes_of("ifmap", ifmap_words),
                            "filter": hw.bytes_of("filter", filt_words),
                        },
                        dram_write_bytes=dram_w,
                    )
                    later_filter = 0 if keep_col_operand else filt_words
                    later = dict(
                        fold,
                        dram_read_bytes={
                            "ifmap": hw.bytes_of("ifmap", ifmap_words),
                            "filter": hw.bytes_of("filter", later_filter),
                        },
                        dram_write_bytes=dram_w,
                    )
                    if row_index == 0:
                        runs.add(1, **first)
                        runs.add(r_count - 1, **later)
                    else:
                        runs.add(r_count, **later)
                else:
                    # Partial sums leave the array on every row fold; with a resident column
                    # fold of outputs only the last row fold writes them to DRAM.
                    psum = hw.bytes_of("ofmap", T * c)
                    last_row = row_index + r_count == n_row_folds
                    mid = dict(
                        fold, dram_read_bytes=dram_r, dram_write_bytes={"ofmap": 0 if keep_psums else psum}
                    )
                    if last_row:
                        runs.add(r_count - 1, **mid)
                        runs.add(1, **dict(fold, dram_read_bytes=dram_r, dram_write_bytes={"ofmap": psum}))
                    else:
                        runs.add(r_count, **mid)
                row_index += r_count
    return runs.runs, eff_sum, util_sum, folds


def _vector_mapping(layer, hw) -> LayerMapping:
    lanes = hw.pe.cols
    ops = int(layer.ops)
    cycles = max(1, math.ceil(ops / lanes))
    n_inputs = 2 if type(layer).__name__ == "Add" else 1
    in_words = math.prod(layer.input_shape) * n_inputs
    out_words = math.prod(layer.output_shape)
    tile = TileClass(
        count=1,
        compute_cycles=cycles,
        macs=0,
        sram_reads={"ifmap": in_words, "filter": 0},
        sram_writes={"ofmap": out_words},
        dram_read_bytes={"ifmap": hw.bytes_of("ifmap", in_words), "filter": 0},
        dram_write_bytes={"ofmap": hw.bytes_of("ofmap", out_words)},
    )
    lane_use = ops / (cycles * lanes) if ops else 0.0
    return LayerMapping(
        layer=layer.name,
        unit="vector",
        dataflow=hw.pe.dataflow,
        tiles=(tile,),
        mapping_efficiency=lane_use,
        compute_utilisation=lane_use,
        ops=ops,
        rows=1,
        cols=lanes,
    )


def map_layer(layer, hardware) -> LayerMapping:
    """Map ``layer`` onto ``hardware``'s PE array (GEMM layers) or vector unit (the rest)."""
    gemm = layer.gemm
    if gemm is None:
        return _vector_mapping(layer, hardware)
    R, C, df = hardware.pe.rows, hardware.pe.cols, hardware.pe.dataflow
    tiles, eff_sum, util_sum, folds = _gemm_runs(df, gemm.m, gemm.k, gemm.n, R, C, hardware)
    tiling = choose_tiling(layer, hardware, _dram_bytes(tiles) * gemm.groups)
    if tiling is not None:
        every = [t for _ in range(gemm.groups) for t in tiles]
        tiles = _with_traffic(every, traffic_segments(tiling, sum(t.count for t in every)))
    elif len(tiles) == 1:
        t = tiles[0]
        runs = _Runs()
        runs.add(t.count * gemm.groups, **{k: getattr(t, k) for k in _FOLD_FIELDS})
        tiles = runs.runs
    else:
        runs = _Runs()
        runs.extend(tiles, gemm.groups)
        tiles = runs.runs
    # Every group has the same folds, so the per-fold means are those of one group.
    return LayerMapping(
        layer=layer.name,
        unit="array",
        dataflow=df,
        tiles=tuple(tiles),
        mapping_efficiency=eff_sum / folds,
        compute_utilisation=util_sum / folds,
        ops=gemm.macs,
        rows=R,
        cols=C,
        tiling=tiling,
    )


def _dram_bytes(tiles: list[TileClass]) -> int:
    return sum(t.count * (sum(t.dram_read_bytes.values()) + sum(t.dram_write_bytes.values())) for t in tiles)


def _with_traffic(tiles: list[TileClass], segments: list[tuple[int, int, int, int, int]]) -> list[TileClass]:
    """The same folds with their DRAM bytes replaced by ``(start, end, ifmap, filter, ofmap)``
    segments (`accelsim.timing.tiling.traffic_segments`), cutting runs where a segment ends and merging
    neighbours that became equal."""
    merged: list[list] = []  # [count, work, tile, traffic]
    start, index = 0, 0
    for t in tiles:
        work = (t.compute_cycles, t.macs, tuple(t.sram_reads.items()), tuple(t.sram_writes.items()))
        end = start + t.count
        while start < end:
            _, seg_end, ifmap, filt, ofmap = segments[index]
            cut = min(end, seg_end)
            traffic = (ifmap, filt, ofmap)
            if merged and merged[-1][1] == work and merged[-1][3] == traffic:
                merged[-1][0] += cut - start
            else:
                merged.append([cut - start, work, t, traffic])
            start = cut
            if cut == seg_end:
                index += 1
    return [
        TileClass.from_owned(
            n,
            t.compute_cycles,
            t.macs,
            dict(t.sram_reads),
            dict(t.sram_writes),
            {"ifmap": i, "filter": f},
            {"ofmap": o},
        )
        for n, _, t, (i, f, o) in merged
    ]
