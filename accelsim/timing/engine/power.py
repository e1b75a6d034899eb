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

from dataclasses import dataclass

from accelsim.arch.hardware import PowerPolicy

ACTIVE, IDLE, SLEEP = "active", "idle", "sleep"


@dataclass(slots=True)
class PowerSnapshot:
    """A power state at one cycle, and how long its records were then (`PowerState.snapshot`).
    Never changed once built (a slotted class, not a tuple: read on the coalescer's hot path)."""

    users: int
    since: int  # start of the current idle or active period
    mark: int  # how often `since` had moved
    awake_at: int  # a pending wake-up ends here (the past if none)
    intervals: int  # len(intervals)
    last_interval: tuple[str, int, int] | None
    wakes: int  # len(wakes)
    bulk: int  # len(bulk)

    def same_state(self, now: int, other: PowerSnapshot, other_now: int) -> bool:
        """The same state relative to each snapshot's cycle: users, a pending wake-up and, if it
        moved in between (a transition used it), the start of the current period."""
        if self.users != other.users:
            return False
        if self.mark != other.mark and self.since - now != other.since - other_now:
            return False
        return max(0, self.awake_at - now) == max(0, other.awake_at - other_now)


class PowerState:
    __slots__ = (
        "_awake_at",
        "_mark",
        "_since",
        "_users",
        "always_on",
        "bulk",
        "component",
        "env",
        "gate_after",
        "intervals",
        "wake_latency",
        "wakes",
    )

    def __init__(self, env, component: str, policy: PowerPolicy, *, always_on_without_policy: bool):
        self.env = env
        self.component = component
        self.gate_after = policy.idle_cycles_to_gate if policy.policy == "gate_after" else None
        self.wake_latency = policy.wake_latency_cycles
        self.always_on = always_on_without_policy and self.gate_after is None
        self.intervals: list[tuple[str, int, int]] = []  # (state, start, end), in time order
        self.wakes: list[int] = []  # cycles at which a wake-up began
        # Coalesced periods (`accelsim.timing.engine.coalesce`) without a trace: (cycle, state, cycles in
        # state) and (cycle, "wake", wake-ups) totals, each inside the layer span holding `cycle`.
        self.bulk: list[tuple[int, str, int]] = []
        self._users = 0
        self._since = 0  # start of the current idle (no users) or active (users) period
        self._awake_at = 0
        self._mark = 0  # bumped whenever `_since` moves (coalescing compares periods)

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

    # -- for coalescing (`accelsim.timing.engine.coalesce`): state at a swap, and replaying a period ----

    def snapshot(self) -> PowerSnapshot:
        intervals = self.intervals
        return PowerSnapshot(
            self._users,
            self._since,
            self._mark,
            self._awake_at,
            len(intervals),
            intervals[-1] if intervals else None,
            len(self.wakes),
            len(self.bulk),
        )

    def may_delay_use(self) -> bool:
        """A use may have to wait for a wake-up: the component gates and waking takes time."""
        return not self.always_on and self.gate_after is not None and self.wake_latency > 0

    def waking_at(self, now: int) -> bool:
        """A wake-up is still under way at cycle `now`."""
        return self._awake_at > now

    def ready_at(self, now: int) -> bool:
        """Unused, awake and not yet past its gating threshold at `now`: a use beginning then
        starts at once (False is the safe answer)."""
        if self.always_on:
            return True
        if self._users or self._awake_at > now:
            return False
        return self.gate_after is None or now - self._since <= self.gate_after

    def repeat_period(
        self,
        start: PowerSnapshot,
        end: PowerSnapshot,
        end_cycle: int,
        count: int,
        cycles: int,
        *,
        totals_only: bool,
    ) -> None:
        """The period from snapshot `start` to `end` (taken at `end_cycle`, `cycles` later) happens
        `count` more times: replay its records shifted by `i * cycles`, through the same merging
        as a fold-by-fold run, and move the current period and a pending wake-up along. With
        `totals_only` (no trace) all but the last replay only add to `bulk`, at `end_cycle`."""
        shift = count * cycles
        bulk = self.bulk[start.bulk :]  # totals of periods coalesced inside this one
        self._replay_intervals(start, count, cycles, end_cycle if totals_only else None)
        if len(self.wakes) > start.wakes:
            self.bulk.append((end_cycle, "wake", count * (len(self.wakes) - start.wakes)))
        self.bulk.extend((end_cycle, state, count * total) for _, state, total in bulk)
        if end.mark != start.mark:
            self._since += shift
            self._mark += 1
        if self._awake_at > end_cycle:
            self._awake_at += shift

    def _replay_intervals(self, start: PowerSnapshot, count: int, cycles: int, bulk_at: int | None) -> None:
        """Replay the `_record` calls made since `start` `count` times, shifted by `i * cycles`;
        with `bulk_at` all but the last replay are only added up (into `bulk`)."""
        intervals = self.intervals
        n_before = start.intervals
        calls = []
        if n_before and intervals[n_before - 1] != start.last_interval:
            assert start.last_interval is not None
            state, _, end = start.last_interval
            calls.append((state, end, intervals[n_before - 1][2]))
        calls.extend(intervals[n_before:])
        if not calls:
            return
        if len(calls) == 1:
            state, begin, end = calls[0]
            last = intervals[-1]
            if last[0] == state and last[2] == begin + cycles and end - begin == cycles:
                # Each replayed call extends the last interval by one period.
                intervals[-1] = (state, last[1], last[2] + count * cycles)
                return
        first = 1
        if bulk_at is not None and count > 1:
            totals: dict[str, int] = {}
            for state, begin, end in calls:
                totals[state] = totals.get(state, 0) + (end - begin)
            self.bulk.extend((bulk_at, state, (count - 1) * total) for state, total in totals.items())
            # The last replay still goes through `_record`: it may merge with the previous interval
            # where a fold-by-fold run would merge with a longer one, but state and end are the same.
            first = count
        record = self._record
        for i in range(first, count + 1):
            d = i * cycles
            for state, begin, end in calls:
                record(state, begin + d, end + d)
