"""Double-buffered on-chip storage: per operand two halves, filled by DMA, drained by the array.

`halves` is a Container of free halves (a fold needs one before its data can land), `resident`
a Store of folds whose data is in the buffer, in order. While one half feeds the array the other
fills, so the next fold's load overlaps the current compute whenever a half is free. Occupancy
and power are per physical buffer: a unified `glb` is shared by all three operands.
"""

from __future__ import annotations

from dataclasses import dataclass

import simpy

from accelsim.timing.engine.power import PowerState


@dataclass(slots=True)
class OccupancySnapshot:
    """Bytes held at one cycle, and how long the change points were then (`Occupancy.snapshot`).
    Never changed once built (a slotted class, not a tuple: read on the coalescer's hot path)."""

    bytes: int
    changes: int  # len(changes), 0 when they are not kept
    last_change: tuple[int, int] | None


class Occupancy:
    """Bytes held in one physical buffer; the change points are kept only when tracing."""

    __slots__ = ("bytes", "changes", "component", "env")

    def __init__(self, env, component: str, keep: bool):
        self.env = env
        self.component = component
        self.bytes = 0
        self.changes: list[tuple[int, int]] | None = [] if keep else None

    def add(self, delta: int) -> None:
        self.add_at(delta, self.env.now)

    def add_at(self, delta: int, now: int) -> None:
        """`add` at cycle `now` (the closed-form steps of `accelsim.timing.engine.coalesce`)."""
        if not delta:
            return
        self.bytes += delta
        if self.changes is not None:
            if self.changes and self.changes[-1][0] == now:
                self.changes[-1] = (now, self.bytes)
            else:
                self.changes.append((now, self.bytes))

    def snapshot(self) -> OccupancySnapshot:
        changes = self.changes
        if not changes:
            return OccupancySnapshot(self.bytes, 0, None)
        return OccupancySnapshot(self.bytes, len(changes), changes[-1])

    def repeat_period(self, start: OccupancySnapshot, count: int, cycles: int) -> None:
        """The change points made since snapshot `start` happen `count` more times, shifted by
        `i * cycles`, merged as `add` merges them (`accelsim.timing.engine.coalesce`)."""
        changes = self.changes
        if changes is None:
            return
        n_before = start.changes
        calls = []
        if n_before and changes[n_before - 1] != start.last_change:
            calls.append(changes[n_before - 1])
        calls.extend(changes[n_before:])
        for i in range(1, count + 1):
            d = i * cycles
            for time, value in calls:
                time += d
                if changes and changes[-1][0] == time:
                    changes[-1] = (time, value)
                else:
                    changes.append((time, value))


class DoubleBuffer:
    def __init__(self, env: simpy.Environment, operand: str, power: PowerState, occupancy: Occupancy):
        self.env = env
        self.operand = operand
        self.power = power
        self.occupancy = occupancy
        self.halves = simpy.Container(env, capacity=2, init=2)
        self.resident = simpy.Store(env)

    def take_half(self, working_set_bytes: int) -> int:
        """A half was just obtained: power it and count its bytes. Returns wake-up cycles to wait."""
        self.occupancy.add(working_set_bytes)
        return self.power.acquire()

    def free_half(self, working_set_bytes: int) -> None:
        self.occupancy.add(-working_set_bytes)
        self.power.release()
        self.halves.put(1)
