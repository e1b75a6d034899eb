"""Power state of one component: active, idle (clock-gated) and sleep (power-gated).

The state is advanced lazily at demand edges instead of by timer processes: when a demand
arrives after an idle gap, the gap is split into `idle` and, under `gate_after`, `sleep` once the
component had been idle for `idle_cycles_to_gate` cycles. A sleeping component wakes on demand;
the demand waits `wake_latency_cycles` (counted as `active`: the supply is back up) and one
`wake` transition is counted. This costs no events and gives the same states a timer would.

Memories without a gating policy are modelled as always on (`active` for the whole run), as in
analytical mode; the PE array is clock-gated (`idle`) whenever it is not computing.
"""

from __future__ import annotations

from accelsim.arch.hardware import PowerPolicy

ACTIVE, IDLE, SLEEP = "active", "idle", "sleep"


class PowerState:
    __slots__ = ("env", "component", "gate_after", "wake_latency", "always_on", "intervals",
                 "wakes", "bulk", "_users", "_since", "_awake_at", "_mark")

    def __init__(self, env, component: str, policy: PowerPolicy, *, always_on_without_policy: bool):
        self.env = env
        self.component = component
        self.gate_after = policy.idle_cycles_to_gate if policy.policy == "gate_after" else None
        self.wake_latency = policy.wake_latency_cycles
        self.always_on = always_on_without_policy and self.gate_after is None
        self.intervals: list[tuple[str, int, int]] = []    # (state, start, end), in time order
        self.wakes: list[int] = []                           # cycles at which a wake-up began
        # Coalesced periods (`accelsim.timing.engine.coalesce`) without a trace: (cycle, state, cycles in
        # state) and (cycle, "wake", wake-ups) totals, each inside the layer span holding `cycle`.
        self.bulk: list[tuple[int, str, int]] = []
        self._users = 0
        self._since = 0          # start of the current idle (no users) or active (users) period
        self._awake_at = 0
        self._mark = 0           # bumped whenever `_since` moves (coalescing compares periods)

    def _record(self, state: str, start: int, end: int) -> None:
        if end <= start:
            return
        intervals = self.intervals
        if intervals and intervals[-1][0] == state and intervals[-1][2] == start:
            intervals[-1] = (state, intervals[-1][1], end)
        else:
            intervals.append((state, start, end))

    def _close_idle(self, end: int) -> bool:
        """Record the idle gap [since, end); True if the component went to sleep in it."""
        start = self._since
        if self.gate_after is not None and end - start > self.gate_after:
            self._record(IDLE, start, start + self.gate_after)
            self._record(SLEEP, start + self.gate_after, end)
            return True
        self._record(IDLE, start, end)
        return False

    def acquire(self) -> int:
        """Begin a use now; returns the cycles the user must wait for the component to be awake."""
        if self.always_on:
            return 0
        return self.acquire_at(self.env.now)

    def acquire_at(self, now: int) -> int:
        """`acquire` at cycle `now` (the closed-form steps of `accelsim.timing.engine.coalesce`)."""
        if self.always_on:
            return 0
        if self._users == 0:
            slept = self._close_idle(now)
            self._since = now
            self._mark += 1
            if slept and self.wake_latency:
                self.wakes.append(now)
                self._awake_at = now + self.wake_latency
            elif slept:
                self.wakes.append(now)
        self._users += 1
        return max(0, self._awake_at - now)

    def release(self) -> None:
        if self.always_on:
            return
        self.release_at(self.env.now)

    def release_at(self, now: int) -> None:
        """`release` at cycle `now`."""
        if self.always_on:
            return
        self._users -= 1
        if self._users == 0:
            self._record(ACTIVE, self._since, now)
            self._since = now
            self._mark += 1

    def finish(self, end: int) -> None:
        """Close the timeline at the end of the run."""
        if self.always_on:
            self._record(ACTIVE, 0, end)
        elif self._users == 0:
            self._close_idle(end)
        else:
            self._record(ACTIVE, self._since, end)
