"""Coalescing: advance a steady state over many identical folds in one step, exactly.

The PE array calls `Coalescer.at_swap(g)` when fold `g` is about to start computing, just before
it swaps the previous fold's halves out. At that instant every other process is blocked on the
swap (the loaders wait for a free half for fold `g+1`, the write-back for fold `g-1`, no DRAM
transfer is in flight: all of `g`'s data is resident and `g-2` is written back), so what happens
next depends only on

- the folds from `g-1` on (the write-back's, the array's and the loaders' next work), and
- the power state of each component: users, the start of the current active/idle period (only
  if it moved during the last period: otherwise no transition used it) and a pending wake-up.

`at_swap` snapshots that state (plus every counter the run accumulates) at each swap it sees.
If the snapshot `L` folds back has the same state relative to its time, and the fold stream
repeats with period `L` from `g-L-1` on, then the next `L` folds replay the last `L` shifted by
the period `P` (cycles) — and so on for as many periods `N` as the stream keeps repeating. The
coalescer then applies `N` periods at once: stall, compute and byte counters grow by `N` times
their last-period increase; power-state intervals, wake-ups, buffer occupancy changes and
trace activities recorded in the last period are replayed `N` times shifted by `i*P` (through
the same merging rules, so the records equal those of a fold-by-fold run); the loaders' and the
write-back's fold cursors skip `N*L` folds. The array then waits `N*P` cycles in one event and
carries on with fold `g+N*L`. Periods `L` tried: 1 (a run of identical folds) and the layer's
repeating block of runs (e.g. one column fold), so a block containing coalesced runs is itself
coalesced.

Nothing here is approximate: `tests/test_engine_coalescing.py` checks coalesced and fold-by-fold
runs give identical reports and traces.
"""

from __future__ import annotations

from accelsim.engine.trace import Activity


class _Snapshot:
    __slots__ = ("fold", "now", "powers", "occupancy", "stalls", "compute", "read_bytes", "write_bytes",
                 "activities")


class Coalescer:
    def __init__(self, env, stream, pe, loaders, writer, powers, occupancies, dram, activities):
        self.env = env
        self.stream = stream
        self.pe = pe
        self.loaders = tuple(loaders)
        self.writer = writer
        self.powers = tuple(p for p in powers if not p.always_on)
        self.occupancies = tuple(o for o in occupancies if o.changes is not None)
        self.dram = dram
        self.phase_logs = tuple(l.phases for l in self.loaders) + (writer.phases,)
        self.activities = activities
        self._layer = -1
        self._snapshots: dict[int, _Snapshot] = {}
        self._periods: dict[int, tuple[int, ...]] = {}
        self.periods_coalesced = 0       # statistics, for benchmarks
        self.folds_coalesced = 0

    # -- the fold structure ---------------------------------------------------------------

    def _candidate_periods(self, layer: int) -> tuple[int, ...]:
        """Periods (in folds) to try in this layer: its repeating block of runs, then 1."""
        periods = self._periods.get(layer)
        if periods is None:
            stream = self.stream
            seq = [(stream.ids[r], stream.ends[r] - stream.starts[r]) for r in stream.layer_runs(layer)
                   if stream.ids[r] >= 0]
            found = []
            for p in range(2, min(len(seq) // 2, 16) + 1):
                # A block of p runs repeating; the first and last blocks may differ (a run cut
                # short by the layer's first or last fold), `extent` checks the folds exactly.
                pairs = len(seq) - p
                if sum(seq[i] == seq[i + p] for i in range(pairs)) >= pairs - 4:
                    middle = pairs // 2
                    found.append(sum(n for _, n in seq[middle:middle + p]))
                    break
            periods = tuple(found) + (1,)
            self._periods[layer] = periods
        return periods

    # -- snapshots ---------------------------------------------------------------------------

    def _blocked(self, g: int) -> bool:
        """Every other process waits on the swap of fold `g` (the invariant coalescing needs)."""
        now = self.env.now
        for loader in self.loaders:
            if not loader.waiting_for_half or loader.folds.position != g + 1:
                return False
        writer = self.writer
        if not writer.waiting_for_fold or writer.folds.position != g:
            return False
        port = self.dram.port
        if port.count or port.queue:
            return False
        for log in self.phase_logs:
            if log.ends and log.ends[-1] > now:
                return False
        return True

    def _snapshot(self, g: int, layer: int) -> _Snapshot:
        s = _Snapshot()
        s.fold = g
        s.now = self.env.now
        s.powers = [(p._users, p._since, p._mark, p._awake_at, len(p.intervals),
                     p.intervals[-1] if p.intervals else None, len(p.wakes), len(p.bulk)) for p in self.powers]
        s.occupancy = [(o.bytes, len(o.changes), o.changes[-1] if o.changes else None)
                       for o in self.occupancies]
        s.stalls = dict(self.pe.stalls[layer])
        s.compute = self.pe.compute_cycles[layer]
        s.read_bytes = self.dram.read_bytes
        s.write_bytes = self.dram.write_bytes
        s.activities = len(self.activities) if self.activities is not None else 0
        return s

    @staticmethod
    def _same_state(h: _Snapshot, g: _Snapshot) -> bool:
        """The same state relative to the snapshot's time (see the module docstring)."""
        for (users_h, since_h, mark_h, awake_h, *_), (users_g, since_g, mark_g, awake_g, *_) in zip(h.powers, g.powers):
            if users_h != users_g:
                return False
            if mark_h != mark_g and since_h - h.now != since_g - g.now:
                return False
            if max(0, awake_h - h.now) != max(0, awake_g - g.now):
                return False
        return all(oh[0] == og[0] for oh, og in zip(h.occupancy, g.occupancy))

    # -- the step ------------------------------------------------------------------------------

    def at_swap(self, g: int):
        """Fold `g` is about to start. Returns None, or `(folds, cycles)` to skip in one step."""
        stream = self.stream
        layer = stream.runs[stream.run_of(g)][0]
        if layer != self._layer:
            self._layer = layer
            self._snapshots = {}
        if not self._blocked(g):
            return None
        snapshots = self._snapshots
        now = self.env.now
        current = None
        for period in self._candidate_periods(layer):
            h = snapshots.get(g - period)
            if h is None or now <= h.now:
                continue
            count = (stream.extent(g - period - 1, period) - 2) // period
            if count < 1:
                continue
            if current is None:
                current = self._snapshot(g, layer)
            if self._same_state(h, current):
                return self._jump(h, current, layer, period, count)
        snapshots[g] = current if current is not None else self._snapshot(g, layer)
        return None

    def _jump(self, h: _Snapshot, g: _Snapshot, layer: int, period: int, count: int):
        cycles = g.now - h.now
        pe, dram = self.pe, self.dram
        stalls = pe.stalls[layer]
        for cause, value in g.stalls.items():
            delta = value - h.stalls.get(cause, 0)
            if delta:
                stalls[cause] = value + count * delta
        pe.compute_cycles[layer] += count * (g.compute - h.compute)
        dram.read_bytes += count * (g.read_bytes - h.read_bytes)
        dram.write_bytes += count * (g.write_bytes - h.write_bytes)

        now = g.now
        shift = count * cycles
        # Without a trace only the time per state and layer matters: all but the last replayed
        # period go into `bulk` totals (every one lies inside this layer's span).
        bulk_at = now if self.activities is None else None
        for power, ph, pg in zip(self.powers, h.powers, g.powers):
            bulk = power.bulk[ph[7]:]           # totals of periods coalesced inside the last one
            _replay_intervals(power, ph[4], ph[5], count, cycles, bulk_at)
            if len(power.wakes) > ph[6]:
                power.bulk.append((now, "wake", count * (len(power.wakes) - ph[6])))
            power.bulk.extend((now, state, count * total) for _, state, total in bulk)
            if pg[2] != ph[2]:
                power._since += shift
                power._mark += 1
            if power._awake_at > now:
                power._awake_at += shift
        for occupancy, oh in zip(self.occupancies, h.occupancy):
            _replay_changes(occupancy.changes, oh[1], oh[2], count, cycles)
        activities = self.activities
        if activities is not None and len(activities) > h.activities:
            new = activities[h.activities:]
            for i in range(1, count + 1):
                d, k = i * cycles, i * period
                activities.extend(Activity(a.component, a.layer, a.fold + k, a.start_cycle + d, a.end_cycle + d)
                                  for a in new)
        folds = count * period
        for loader in self.loaders:
            loader.folds.skip(folds)
        self.writer.folds.skip(folds)
        self.periods_coalesced += count
        self.folds_coalesced += folds
        return folds, shift


def _replay_intervals(power, n_before: int, last_before, count: int, cycles: int, bulk_at) -> None:
    """Replay the `_record` calls of the last period `count` times, shifted by `i * cycles`;
    with `bulk_at` all but the last replay are only added up (into `power.bulk`)."""
    intervals = power.intervals
    calls = []
    if n_before and intervals[n_before - 1] != last_before:
        state, _, end = last_before
        calls.append((state, end, intervals[n_before - 1][2]))
    calls.extend(intervals[n_before:])
    if not calls:
        return
    if len(calls) == 1:
        state, start, end = calls[0]
        last = intervals[-1]
        if last[0] == state and last[2] == start + cycles and end - start == cycles:
            # Each replayed call extends the last interval by one period.
            intervals[-1] = (state, last[1], last[2] + count * cycles)
            return
    first = 1
    if bulk_at is not None and count > 1:
        totals: dict[str, int] = {}
        for state, start, end in calls:
            totals[state] = totals.get(state, 0) + (end - start)
        power.bulk.extend((bulk_at, state, (count - 1) * total) for state, total in totals.items())
        # The last replay still goes through `_record`: it may merge with the previous interval
        # where a fold-by-fold run would merge with a longer one, but state and end are the same.
        first = count
    record = power._record
    for i in range(first, count + 1):
        d = i * cycles
        for state, start, end in calls:
            record(state, start + d, end + d)


def _replay_changes(changes: list, n_before: int, last_before, count: int, cycles: int) -> None:
    """Replay the occupancy change points of the last period, with `Occupancy.add`'s merging."""
    calls = []
    if n_before and changes[n_before - 1] != last_before:
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
