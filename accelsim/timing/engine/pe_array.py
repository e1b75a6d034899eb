"""The PE array (and the vector unit beside it): consumes folds in order, one at a time.

A fold computes once its ifmap and filter data are resident and a half of the ofmap buffer is
free for its outputs. The halves swap ping-pong style when a fold *starts*: only then are the
previous fold's input halves handed back to the loaders and its outputs to the write-back (a
layer's last fold hands its outputs over when it ends, so the layer drains at once). The array
is the serial resource of the accelerator, so every cycle of the run belongs to the layer whose
fold it is computing or waiting for; each wait is split by cause over the phases of the process
it waited for (`accelsim.timing.engine.phases`).

At each swap (but the first) the array offers its `SwapHook`, if it has one, to advance many
folds in one event (`accelsim.timing.engine.coalesce`); the hook adds what it advances to the same
`LayerCounters`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import simpy

from accelsim.timing.engine.buffers import DoubleBuffer
from accelsim.timing.engine.folds import FoldCursor
from accelsim.timing.engine.phases import PhaseLog
from accelsim.timing.engine.power import PowerState
from accelsim.timing.engine.trace import Activity


class Jump(NamedTuple):
    """Folds advanced without their own events, and the cycles they took."""

    folds: int
    cycles: int


class SwapHook(Protocol):
    """Called as each fold (but the first) is about to start, every other process blocked on
    the swap (`accelsim.timing.engine.coalesce.Coalescer`)."""

    def at_swap(self, g: int) -> Jump | None: ...


class LayerCounters:
    """What the array's time is spent on, per layer: compute and stall cycles by cause, and the
    cycle its last fold ended. Shared with the coalescer, which adds the folds it advances."""

    __slots__ = ("compute_cycles", "end_cycles", "stalls")

    def __init__(self, num_layers: int) -> None:
        self.compute_cycles = [0] * num_layers
        self.stalls: list[dict[str, int]] = [{} for _ in range(num_layers)]
        self.end_cycles = [0] * num_layers


class ArrayProcess:
    """The process that computes folds on the PE array (or the vector unit), one at a time."""

    def __init__(
        self,
        env: simpy.Environment,
        folds: FoldCursor,
        buffers: dict[str, DoubleBuffer],
        power: PowerState,
        phases: dict[str, PhaseLog],
        counters: LayerCounters,
        layer_names: Sequence[str],
        activities: list[Activity] | None,
        swap_hook: SwapHook | None = None,
    ) -> None:
        self.env = env
        self.folds = folds
        self.swap_hook = swap_hook  # None: every fold is simulated
        self.buffers = buffers
        self.power = power
        self.phases = phases  # "ifmap" / "filter": loader logs, "ofmap": write-back log
        self.counters = counters
        self.layer_names = layer_names
        self.activities = activities
        self.process = env.process(self._run(folds))

    def _run(self, folds):
        env = self.env
        ifmap, filt, ofmap = self.buffers["ifmap"], self.buffers["filter"], self.buffers["ofmap"]
        ifmap_log, filter_log, ofmap_log = self.phases["ifmap"], self.phases["filter"], self.phases["ofmap"]
        hook = self.swap_hook
        counters = self.counters
        previous = None
        while folds:
            fold = folds.next()
            stalls = counters.stalls[fold.layer]
            start = env.now
            yield ifmap.resident.get()
            ifmap_log.attribute(start, env.now, stalls)
            start = env.now
            yield filt.resident.get()
            filter_log.attribute(start, env.now, stalls)
            start = env.now
            yield ofmap.halves.get(1)
            ofmap_log.attribute(start, env.now, stalls)
            wake = ofmap.take_half(fold.working_set_bytes["ofmap"])
            if fold.on_array:
                wake = max(wake, self.power.acquire())
            if wake:
                yield env.timeout(wake)
                stalls["wake_up"] = stalls.get("wake_up", 0) + wake
            if hook is not None and previous is not None:
                # Every other process is blocked on this swap: a steady state may be advanced
                # by whole periods in one step (see `accelsim.timing.engine.coalesce`).
                jump = hook.at_swap(folds.position - 1)
                while jump is not None:
                    skipped, cycles = jump
                    yield env.timeout(cycles)
                    previous = folds.stream.fold(folds.position + skipped - 2)
                    folds.skip(skipped)
                    fold = folds.stream.fold(folds.position - 1)
                    stalls = counters.stalls[fold.layer]
                    jump = hook.at_swap(folds.position - 1)
            if previous is not None:
                self._swap_out(previous, ifmap, filt, ofmap)
            start = env.now
            yield env.timeout(fold.compute_cycles)
            counters.compute_cycles[fold.layer] += fold.compute_cycles
            if fold.on_array:
                self.power.release()
            if self.activities is not None:
                unit = "pe_array" if fold.on_array else "vector_unit"
                self.activities.append(
                    Activity(unit, self.layer_names[fold.layer], fold.index, start, env.now)
                )
            if fold.last:
                counters.end_cycles[fold.layer] = env.now
                ofmap.resident.put(fold)
            previous = fold
        if previous is not None:
            self._swap_out(previous, ifmap, filt, ofmap)

    @staticmethod
    def _swap_out(fold, ifmap, filt, ofmap) -> None:
        ifmap.free_half(fold.working_set_bytes["ifmap"])
        filt.free_half(fold.working_set_bytes["filter"])
        if not fold.last:
            ofmap.resident.put(fold)
