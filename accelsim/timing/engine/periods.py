"""Whole periods: advance over a repeating stretch of folds by replaying its last period.

At a swap (`accelsim.timing.engine.coalesce`), `Periods.advance` snapshots the state that decides what
happens next (plus every counter the run accumulates) at each swap it sees. If the snapshot `L`
folds back has the same state relative to its time, and the fold stream repeats with period `L`
from `g-L-1` on, then the next `L` folds replay the last `L` shifted by the period `P` (cycles) —
and so on for as many periods `N` as the stream keeps repeating. `N` periods are then applied at
once: stall, compute and byte counters grow by `N` times their last-period increase; power-state
intervals, wake-ups, buffer occupancy changes and trace activities recorded in the last period
are replayed `N` times shifted by `i*P` (through the same merging rules, so the records equal
those of a fold-by-fold run); the loaders' and the write-back's fold cursors skip `N*L` folds.
The array then waits `N*P` cycles in one event and carries on with fold `g+N*L`. Periods `L`
tried: 1 (a run of identical folds) and the layer's repeating block of runs (e.g. one column
fold), so a block containing coalesced runs is itself coalesced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from accelsim.timing.engine.buffers import Occupancy, OccupancySnapshot
from accelsim.timing.engine.dram import DramChannel
from accelsim.timing.engine.folds import FoldStream
from accelsim.timing.engine.pe_array import Jump, LayerCounters
from accelsim.timing.engine.power import PowerSnapshot, PowerState
from accelsim.timing.engine.trace import Activity

MAX_BLOCK_RUNS = 16  # longest repeating block of runs looked for in a layer
MISMATCHES_ALLOWED = 4  # runs of a layer that may break its block (first and last blocks)


@dataclass(slots=True)
class SwapState:
    """The state at the swap of one fold: what decides the future, and the counters so far.
    Never changed once built (a slotted class, not a tuple: read on the coalescer's hot path)."""

    fold: int
    now: int
    powers: list[PowerSnapshot]
    occupancy: list[OccupancySnapshot]
    stalls: dict[str, int]
    compute_cycles: int
    read_bytes: int
    write_bytes: int
    activities: int  # len(activities), 0 without a trace

    def same_state(self, other: SwapState) -> bool:
        """The same state relative to each snapshot's time (see the module docstring)."""
        now, other_now = self.now, other.now
        for mine, theirs in zip(self.powers, other.powers):
            if not mine.same_state(now, theirs, other_now):
                return False
        return all(mine.bytes == theirs.bytes for mine, theirs in zip(self.occupancy, other.occupancy))


class Periods:
    """Finds repeating periods at swaps and applies as many as the fold stream allows."""

    def __init__(
        self,
        stream: FoldStream,
        counters: LayerCounters,
        dram: DramChannel,
        powers: Iterable[PowerState],
        occupancies: Iterable[Occupancy],
        activities: list[Activity] | None,
    ) -> None:
        self.stream = stream
        self.counters = counters
        self.dram = dram
        self.powers = tuple(p for p in powers if not p.always_on)
        self.occupancies = tuple(o for o in occupancies if o.changes is not None)
        self.activities = activities
        self._layer = -1
        self._snapshots: dict[int, SwapState] = {}
        self._periods: dict[int, tuple[int, ...]] = {}
        self.periods = 0  # statistics, for benchmarks: periods applied
        self.folds = 0  # folds advanced by whole periods

    def candidate_periods(self, layer: int) -> tuple[int, ...]:
        """Periods (in folds) to try in this layer: its repeating block of runs, then 1."""
        periods = self._periods.get(layer)
        if periods is None:
            stream = self.stream
            seq = [
                (stream.ids[r], stream.ends[r] - stream.starts[r])
                for r in stream.layer_runs(layer)
                if stream.ids[r] >= 0
            ]
            found = []
            for p in range(2, min(len(seq) // 2, MAX_BLOCK_RUNS) + 1):
                # A block of p runs repeating; the first and last blocks may differ (a run cut
                # short by the layer's first or last fold), `extent` checks the folds exactly.
                pairs = len(seq) - p
                if sum(seq[i] == seq[i + p] for i in range(pairs)) >= pairs - MISMATCHES_ALLOWED:
                    middle = pairs // 2
                    found.append(sum(n for _, n in seq[middle : middle + p]))
                    break
            periods = tuple(found) + (1,)
            self._periods[layer] = periods
        return periods

    def snapshot(self, g: int, layer: int, now: int) -> SwapState:
        counters, dram, activities = self.counters, self.dram, self.activities
        return SwapState(
            g,
            now,
            [p.snapshot() for p in self.powers],
            [o.snapshot() for o in self.occupancies],
            dict(counters.stalls[layer]),
            counters.compute_cycles[layer],
            dram.read_bytes,
            dram.write_bytes,
            len(activities) if activities is not None else 0,
        )

    def advance(self, g: int, r: int, now: int) -> Jump | None:
        """Whole periods from the swap of fold `g` (in run `r`) at cycle `now`, or None (and a
        snapshot, where a later swap may use it)."""
        stream = self.stream
        layer = stream.runs[r].layer
        if layer != self._layer:
            self._layer = layer
            self._snapshots = {}
        snapshots = self._snapshots
        current = None
        periods = self._periods.get(layer) or self.candidate_periods(layer)
        for period in periods:
            h = snapshots.get(g - period)
            if h is None or now <= h.now:
                continue
            count = (stream.extent(g - period - 1, period) - 2) // period
            if count < 1:
                continue
            if current is None:
                current = self.snapshot(g, layer, now)
            if h.same_state(current):
                return self._apply(h, current, layer, period, count)
        if current is None:
            # Keep a snapshot only where a later swap may use it: a layer with a repeating block,
            # or folds g-1 .. g+2 identical (one run), which a period of 1 needs at swap g+1.
            if len(periods) == 1 and not (stream.ids[r] >= 0 and stream.starts[r] < g < stream.ends[r] - 2):
                return None
            current = self.snapshot(g, layer, now)
        snapshots[g] = current
        return None

    def _apply(self, h: SwapState, g: SwapState, layer: int, period: int, count: int) -> Jump:
        """The period from snapshot `h` to `g` happens `count` more times."""
        cycles = g.now - h.now
        counters = self.counters
        stalls = counters.stalls[layer]
        for cause, value in g.stalls.items():
            delta = value - h.stalls.get(cause, 0)
            if delta:
                stalls[cause] = value + count * delta
        counters.compute_cycles[layer] += count * (g.compute_cycles - h.compute_cycles)
        self.dram.count_bytes(count * (g.read_bytes - h.read_bytes), count * (g.write_bytes - h.write_bytes))

        # Without a trace only the time per state and layer matters: all but the last replayed
        # period go into `bulk` totals (every one lies inside this layer's span).
        activities = self.activities
        totals_only = activities is None
        for power, start, end in zip(self.powers, h.powers, g.powers):
            power.repeat_period(start, end, g.now, count, cycles, totals_only=totals_only)
        for occupancy, start_occupancy in zip(self.occupancies, h.occupancy):
            occupancy.repeat_period(start_occupancy, count, cycles)
        if activities is not None and len(activities) > h.activities:
            new = activities[h.activities :]
            for i in range(1, count + 1):
                d, k = i * cycles, i * period
                activities.extend(
                    Activity(a.component, a.layer, a.fold + k, a.start_cycle + d, a.end_cycle + d)
                    for a in new
                )
        folds = count * period
        self.periods += count
        self.folds += folds
        return Jump(folds, count * cycles)
