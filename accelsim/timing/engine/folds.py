"""The stream of folds (tiles) every process walks, in execution order across all layers.

Folds are numbered globally (across layers) and stored run-length encoded: a *run* is a stretch
of consecutive folds with identical work. A layer's first and last folds are runs of their own
(they differ from their neighbours by the `first` / `last` flags), and runs with the same work
share an `id`, so `extent` can tell how far the stream repeats itself with a given period — what
coalescing (`accelsim.timing.engine.coalesce`) needs. Each process walks the stream with its own
`FoldCursor`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accelsim.timing.mapping import LayerMapping


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold of one layer: its compute time, the DRAM bytes it moves and its SRAM working set.
    (A frozen dataclass, not a NamedTuple: a tuple's own `index` method would clash with the field.)"""

    layer: int  # index of the layer in execution order
    index: int  # fold number within the layer
    compute_cycles: int
    on_array: bool  # False: the vector unit computes it, the PE array stays idle
    read_bytes: dict  # operand -> DRAM bytes loaded for this fold
    write_bytes: int  # DRAM bytes written back after this fold
    working_set_bytes: dict  # operand -> bytes the fold occupies in its buffer half
    first: bool  # first fold of its layer
    last: bool  # last fold of its layer


@dataclass(slots=True)
class Run:
    """A stretch of consecutive identical folds of one layer: their shared figures (`Fold`'s).
    Never changed once built (a slotted class, not a tuple: read on the coalescer's hot path)."""

    layer: int
    layer_start: int  # global index of the layer's first fold
    compute_cycles: int
    on_array: bool
    read_bytes: dict
    write_bytes: int
    working_set_bytes: dict
    first: bool
    last: bool
    # The dicts' figures spread out, for the closed-form steps (`accelsim.timing.engine.steps`).
    read_ifmap_bytes: int
    read_filter_bytes: int
    working_ifmap_bytes: int
    working_filter_bytes: int
    working_ofmap_bytes: int


class FoldStream:
    """All folds of a run, run-length encoded; `fold(g)` builds global fold `g`."""

    def __init__(
        self,
        mappings: Sequence[LayerMapping],
        word_bits: Mapping[str, int] | Sequence[Mapping[str, int]],
        half_bytes: dict,
    ):
        """`word_bits`: operand -> bits, for every layer or (a sequence) per layer."""
        starts: list[int] = []  # global index of each run's first fold
        runs: list[Run] = []
        ids: list[int] = []
        layer_starts: list[int] = []
        work: dict = {}  # raw per-fold figures -> (id, reads, write, working, ...), shared
        per_layer = [word_bits] * len(mappings) if isinstance(word_bits, Mapping) else list(word_bits)
        hi_, hf, ho = half_bytes["ifmap"], half_bytes["filter"], half_bytes["ofmap"]
        g = 0
        for layer_index, mapping in enumerate(mappings):
            total = mapping.folds
            on_array = mapping.unit == "array"
            layer_start = g
            layer_starts.append(g)
            index = 0
            widths = per_layer[layer_index]
            wi, wf, wo = widths["ifmap"], widths["filter"], widths["ofmap"]
            for tile in mapping.tiles:
                sram_reads, dram_reads = tile.sram_reads, tile.dram_read_bytes
                raw = (
                    tile.compute_cycles,
                    on_array,
                    dram_reads.get("ifmap", 0),
                    dram_reads.get("filter", 0),
                    sum(tile.dram_write_bytes.values()),
                    sram_reads.get("ifmap", 0),
                    sram_reads.get("filter", 0),
                    tile.sram_writes.get("ofmap", 0),
                )
                # Equal figures at other widths occupy other working sets: a run of its own.
                known = work.get(raw + (wi, wf, wo))
                if known is None:
                    # A working set larger than a half streams through it: the half is full, not more.
                    working_i, working_f = min(-(-raw[5] * wi // 8), hi_), min(-(-raw[6] * wf // 8), hf)
                    working_o = min(-(-raw[7] * wo // 8), ho)
                    known = work[raw + (wi, wf, wo)] = (
                        len(work),
                        {"ifmap": raw[2], "filter": raw[3]},
                        raw[4],
                        {"ifmap": working_i, "filter": working_f, "ofmap": working_o},
                        working_i,
                        working_f,
                        working_o,
                    )
                run_id, reads, write, working, working_i, working_f, working_o = known
                compute = raw[0]
                end = index + tile.count
                # Split off the layer's first and last folds: their flags make them unique.
                for lo, hi in (
                    (index, 1) if index == 0 else (index, index),
                    (max(index, 1), min(end, total - 1)),
                    (total - 1, total) if end == total and total > 1 else (end, end),
                ):
                    if hi <= lo:
                        continue
                    first, last = lo == 0, hi == total
                    rid = -1 - len(runs) if first or last else run_id
                    if rid >= 0 and ids and ids[-1] == rid:
                        continue  # extends the previous run
                    starts.append(layer_start + lo)
                    runs.append(
                        Run(
                            layer_index,
                            layer_start,
                            compute,
                            on_array,
                            reads,
                            write,
                            working,
                            first,
                            last,
                            raw[2],
                            raw[3],
                            working_i,
                            working_f,
                            working_o,
                        )
                    )
                    ids.append(rid)
                index = end
                g += tile.count
        self.total = g
        self.starts = starts
        self.runs = runs
        self.ids = ids
        self.layer_starts = layer_starts
        self.ends = starts[1:] + [g]

    def layer_runs(self, layer: int) -> range:
        """Indices of the runs of one layer."""
        starts = self.starts
        lo = bisect.bisect_left(starts, self.layer_starts[layer])
        end = self.layer_starts[layer + 1] if layer + 1 < len(self.layer_starts) else self.total
        return range(lo, bisect.bisect_left(starts, end))

    def run_of(self, g: int) -> int:
        return bisect.bisect_right(self.starts, g) - 1

    def fold(self, g: int, run: int | None = None) -> Fold:
        if run is None:
            run = self.run_of(g)
        r = self.runs[run]
        return Fold(
            r.layer,
            g - r.layer_start,
            r.compute_cycles,
            r.on_array,
            r.read_bytes,
            r.write_bytes,
            r.working_set_bytes,
            r.first,
            r.last,
        )

    def cursor(self) -> FoldCursor:
        return FoldCursor(self)

    def extent(self, x: int, period: int) -> int:
        """How many consecutive folds from `x` on equal the fold `period` later (0 if none)."""
        if x < 0 or x + period >= self.total:
            return 0
        ends, ids = self.ends, self.ids
        i, j = self.run_of(x), self.run_of(x + period)
        pos = x
        n = len(ids)
        while j < n and ids[i] == ids[j] and ids[i] >= 0:
            step = min(ends[i] - pos, ends[j] - (pos + period))
            pos += step
            if ends[i] == pos:
                i += 1
            if ends[j] == pos + period:
                j += 1
        return pos - x


class FoldCursor:
    """One process's position in the stream: `next()` yields folds in order, `skip(n)` jumps."""

    __slots__ = ("_run", "_run_end", "position", "stream")

    def __init__(self, stream: FoldStream):
        self.stream = stream
        self.position = 0
        self._run = 0
        self._run_end = stream.ends[0] if stream.ends else 0

    def __bool__(self) -> bool:
        return self.position < self.stream.total

    def next(self) -> Fold:
        g = self.position
        if g >= self._run_end:
            self._run = self.stream.run_of(g)
            self._run_end = self.stream.ends[self._run]
        self.position = g + 1
        return self.stream.fold(g, self._run)

    def skip(self, n: int) -> None:
        self.position += n
