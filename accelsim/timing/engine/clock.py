"""The engine's clock read as whole cycles."""

from __future__ import annotations

import simpy


def now_cycles(env: simpy.Environment) -> int:
    """`env.now`, which SimPy types as `int | float`.

    Here it is always an int: the clock starts at 0 and every timeout the engine schedules is a whole
    number of cycles (wake-ups, ceil'd streaming, latency, fold compute)."""
    now = env.now
    assert isinstance(now, int), f"engine clock left whole cycles: {now!r}"
    return now
