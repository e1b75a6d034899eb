"""Double-buffered on-chip storage: per operand two halves, filled by DMA, drained by the array.

`halves` is a Container of free halves (a fold needs one before its data can land), `resident`
a Store of folds whose data is in the buffer, in order. While one half feeds the array the other
fills, so the next fold's load overlaps the current compute whenever a half is free. Occupancy
and power are per physical buffer: a unified `glb` is shared by all three operands.
"""

from __future__ import annotations

import simpy

from accelsim.timing.engine.power import PowerState


class Occupancy:
    """Bytes held in one physical buffer; the change points are kept only when tracing."""

    __slots__ = ("env", "component", "bytes", "changes")

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
