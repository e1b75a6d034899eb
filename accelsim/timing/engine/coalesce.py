"""Coalescing: advance the pipeline over many folds without their events, exactly — by whole
periods over identical folds (`accelsim.timing.engine.periods`), and by closed-form steps over folds
that differ (`accelsim.timing.engine.steps`).

The array process calls `Coalescer.at_swap(g)` when fold `g` is about to start computing, just
before it swaps the previous fold's halves out. At that instant every other process is blocked on
the swap (the loaders wait for a free half for fold `g+1`, the write-back for fold `g-1`, no DRAM
transfer is in flight: all of `g`'s data is resident and `g-2` is written back), so what happens
next depends only on

- the folds from `g-1` on (the write-back's, the array's and the loaders' next work), and
- the power state of each component: users, the start of the current active/idle period (only
  if it moved during the last period: otherwise no transition used it) and a pending wake-up.

`at_swap` interleaves the two ways forward: at each swap, real or reached by steps, it tries a
period first (snapshots are kept where one may later apply), else a step; then the loaders' and
the write-back's cursors skip every fold advanced and the array waits the total in one event.

The coalescer touches the components only through their public methods: snapshots and period
replays of power states (`PowerState.snapshot`, `repeat_period`) and buffer occupancy, the
`*_at(cycle)` variants of their calls, the loaders' `waits_for` and `skip`, the DRAM channel's
`idle` and `count_bytes`, and the array's `LayerCounters`. It is built before the array process
and handed to it as its `SwapHook`.

Nothing here is approximate: `tests/test_engine_coalescing.py` and `tests/test_engine_steps.py`
check coalesced and fold-by-fold runs give identical reports and traces (the latter for sparse
masks on zoo networks and presets, gated or not, and random distinct folds on random hardware).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import simpy

from accelsim.timing.engine.buffers import DoubleBuffer, Occupancy
from accelsim.timing.engine.dram import DramChannel
from accelsim.timing.engine.folds import FoldStream
from accelsim.timing.engine.loaders import Loader, WriteBack
from accelsim.timing.engine.pe_array import Jump, LayerCounters
from accelsim.timing.engine.periods import Periods
from accelsim.timing.engine.power import PowerState
from accelsim.timing.engine.steps import Steps
from accelsim.timing.engine.trace import Activity


class Coalescer:
    """The array's `SwapHook`: advances from a swap by periods and steps, as far as they go."""

    def __init__(
        self,
        env: simpy.Environment,
        stream: FoldStream,
        *,
        counters: LayerCounters,
        array_power: PowerState,
        buffers: Mapping[str, DoubleBuffer],
        loaders: Iterable[Loader],
        writer: WriteBack,
        powers: Iterable[PowerState],
        occupancies: Iterable[Occupancy],
        dram: DramChannel,
        layer_names: Sequence[str],
        activities: list[Activity] | None,
    ) -> None:
        self.env = env
        self.stream = stream
        self.loaders = tuple(loaders)
        self.writer = writer
        self.dram = dram
        self.phase_logs = tuple(loader.phases for loader in self.loaders) + (writer.phases,)
        self.periods = Periods(stream, counters, dram, powers, occupancies, activities)
        by_operand = {loader.operand: loader for loader in self.loaders}
        self.steps = Steps(
            stream,
            counters,
            array_power,
            buffers,
            dram,
            layer_names,
            (by_operand["ifmap"].name, by_operand["filter"].name),
            activities,
        )
        self._run = 0  # run of the last fold looked at

    @property
    def folds_coalesced(self) -> int:
        """Folds advanced by whole periods (statistics, for benchmarks)."""
        return self.periods.folds

    @property
    def folds_stepped(self) -> int:
        """Folds advanced by closed-form steps."""
        return self.steps.folds

    def at_swap(self, g: int) -> Jump | None:
        """Fold `g` is about to start. Returns None, or the folds and cycles to skip in one step."""
        if not self._blocked(g):
            return None
        start = now = int(self.env.now)
        first = g
        periods, steps = self.periods, self.steps
        while True:
            r = self._run_index(g)
            jump = periods.advance(g, r, now)
            if jump is not None:
                g += jump.folds
                now += jump.cycles
                continue
            after = steps.advance(g, r, now)
            if after is None:
                break
            g += 1
            now = after
        if g == first:
            return None
        folds = g - first
        for loader in self.loaders:
            loader.skip(folds)
        self.writer.skip(folds)
        return Jump(folds, now - start)

    def _blocked(self, g: int) -> bool:
        """Every other process waits on the swap of fold `g` (the invariant coalescing needs)."""
        for loader in self.loaders:
            if not loader.waits_for(g + 1):
                return False
        if not self.writer.waits_for(g - 1) or not self.dram.idle():
            return False
        now = int(self.env.now)
        for log in self.phase_logs:
            if log.busy_after(now):
                return False
        return True

    def _run_index(self, g: int) -> int:
        """The run holding fold `g` (folds are visited mostly in order)."""
        r = self._run
        stream = self.stream
        if not stream.starts[r] <= g < stream.ends[r]:
            r = r + 1 if g == stream.ends[r] and g < stream.total else stream.run_of(g)
            self._run = r
        return r
