"""Coalescing: advance the pipeline over many folds without their events, exactly — by whole
periods over identical folds, and by closed-form steps over folds that differ.

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

Closed-form steps. Where no period repeats — sparse masks give every column fold its own compute
cycles and bytes, so runs of identical folds are short — `_step` advances from the swap of fold
`g` at cycle `t` to the swap of fold `g+1` without events. Every other process being blocked on
the swap, the step is determined by folds `g-1`, `g`, `g+1` and the power states:

- At `t` the array frees fold `g-1`'s input halves; the ifmap loader, then the filter loader,
  take them for fold `g+1`, and the write-back takes fold `g-1`'s outputs. SimPy resumes them in
  that order (the order of the array's puts), so they queue for the channel's port — free at a
  swap — in that order: the `k`-th transfer holds the port until `t` plus the streaming cycles of
  the first `k`, then spends the latency. A transfer without bytes, or without streaming cycles
  and latency, ends at `t` within its process's turn.
- The array computes until `t + c`, then waits for fold `g+1`'s ifmap, its filter and a free
  ofmap half (freed when `g-1`'s write-back ends). Each wait lies inside the awaited transfer's
  bandwidth phase (queueing included, from `t`) and latency phase, so it splits over them as
  `PhaseLog.attribute` would. It then takes the half and powers the buffer and the array, waiting
  for a wake-up if one sleeps: the next swap is at `max(t + c, ends) + wake`.

Every record (counters, power-state calls, occupancy changes, trace activities) is made at its
own cycle (`acquire_at`, `add_at`, ...) in the order the processes would make it: at `t` in the
order above; later by cycle, ties in SimPy's scheduling order — the array's compute end first
(its timeout was scheduled before any transfer's), then the loaders' and the write-back's
completions in queue order; the array's take after all of them (it resumes from events scheduled
at that cycle). With no trace and every buffer and the channel always on, only byte counts and
the array's own power state change, and a shorter path skips the ordering. Phases are not logged:
a log is read only by a later wait of the array, from its start on, and every later wait starts
after these transfers end. A step is refused (the fold is simulated with events) where this does
not hold: at a layer's first or last fold (the drain overlaps the next layer's loads; the ifmap
loader waits for it), before the last fold of all (the loaders finish instead of waiting), for a
fold of zero cycles (its end would follow the loaders' turn), and when the channel may be asleep
(its wake would delay one request and reorder the port; the channel gates only between steps).
Buffers cannot make a loader wait at `t`: each still holds fold `g`'s half, so it is powered.

`at_swap` interleaves the two: at each swap, real or reached by steps, it tries a period first
(snapshots are kept where one may later apply), else a step; then the loaders' and the
write-back's cursors skip every fold advanced and the array waits the total in one event.

Nothing here is approximate: `tests/test_engine_coalescing.py` and `tests/test_engine_steps.py`
check coalesced and fold-by-fold runs give identical reports and traces (the latter for sparse
masks on zoo networks and presets, gated or not, and random distinct folds on random hardware).
"""

from __future__ import annotations

from accelsim.timing.engine.trace import Activity


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
        self._run = 0                    # run of the last fold looked at
        # What the closed-form steps touch: per operand the buffer's occupancy and power (the
        # same objects for all three with a unified buffer), each process's phase log.
        by_operand = {loader.operand: loader for loader in self.loaders}
        loaders = (by_operand["ifmap"], by_operand["filter"])
        self._loader_names = tuple(loader.name for loader in loaders)
        buffers = pe.buffers
        self._occupancy = tuple(buffers[op].occupancy for op in ("ifmap", "filter", "ofmap"))
        self._buffer_power = tuple(buffers[op].power for op in ("ifmap", "filter", "ofmap"))
        self._quiet = (activities is None and dram.power.always_on
                       and all(p.always_on for p in self._buffer_power)
                       and all(o.changes is None for o in self._occupancy))
        self._flat: list = [None] * len(stream.runs)
        self._cycles_of: dict[int, int] = {}     # bytes -> streaming cycles
        # A DRAM transfer begun at a swap may wait for the channel to wake (the one wait the
        # closed-form step does not model): only with a gating policy and a wake latency.
        power = dram.power
        self._dram_may_wake = not power.always_on and power.gate_after is not None and power.wake_latency > 0
        self.periods_coalesced = 0       # statistics, for benchmarks
        self.folds_coalesced = 0         # folds advanced by whole periods
        self.folds_stepped = 0           # folds advanced by closed-form steps

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

    def _snapshot(self, g: int, layer: int, now: int) -> _Snapshot:
        s = _Snapshot()
        s.fold = g
        s.now = now
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
        if not self._blocked(g):
            return None
        start = now = self.env.now
        first = g
        while True:
            jump = self._periodic(g, now)
            if jump is not None:
                folds, cycles = jump
                g += folds
                now += cycles
                continue
            after = self._step(g, now)
            if after is None:
                break
            g += 1
            now = after
            self.folds_stepped += 1
        if g == first:
            return None
        folds = g - first
        for loader in self.loaders:
            loader.folds.skip(folds)
        self.writer.folds.skip(folds)
        return folds, now - start

    def _periodic(self, g: int, now: int):
        """Whole periods from the swap of fold `g` at cycle `now`, or None (and a snapshot)."""
        stream = self.stream
        r = self._run_index(g)
        layer = stream.runs[r][0]
        if layer != self._layer:
            self._layer = layer
            self._snapshots = {}
        snapshots = self._snapshots
        current = None
        periods = self._periods.get(layer) or self._candidate_periods(layer)
        for period in periods:
            h = snapshots.get(g - period)
            if h is None or now <= h.now:
                continue
            count = (stream.extent(g - period - 1, period) - 2) // period
            if count < 1:
                continue
            if current is None:
                current = self._snapshot(g, layer, now)
            if self._same_state(h, current):
                return self._jump(h, current, layer, period, count)
        if current is None:
            # Keep a snapshot only where a later swap may use it: a layer with a repeating block,
            # or folds g-1 .. g+2 identical (one run), which a period of 1 needs at swap g+1.
            if len(periods) == 1:
                if stream.ids[r] < 0 or stream.starts[r] > g - 1 or stream.ends[r] <= g + 2:
                    return None
            current = self._snapshot(g, layer, now)
        snapshots[g] = current
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
        self.periods_coalesced += count
        self.folds_coalesced += folds
        return folds, shift

    def _run_index(self, g: int) -> int:
        """The run holding fold `g` (folds are visited mostly in order)."""
        r = self._run
        stream = self.stream
        if not stream.starts[r] <= g < stream.ends[r]:
            r = r + 1 if g == stream.ends[r] and g < stream.total else stream.run_of(g)
            self._run = r
        return r

    def _flatten(self, r: int) -> tuple:
        """Run `r`'s figures as one flat tuple (see `_FLAT`)."""
        layer, layer_start, compute, on_array, reads, write, working, first, last = self.stream.runs[r]
        flat = self._flat[r] = (layer, layer_start, compute, on_array, reads["ifmap"], reads["filter"], write,
                                working["ifmap"], working["filter"], working["ofmap"], first, last)
        return flat

    def _queue(self, num_bytes: int, t: int, port: int) -> tuple[int, int, int]:
        """(time it leaves the port, time it ends, port free again) for a transfer queued at `t`
        behind a port busy until `port`; an empty transfer neither waits nor ends later than `t`."""
        if not num_bytes:
            return t, t, port
        stream_cycles = self._cycles_of.get(num_bytes)
        if stream_cycles is None:
            stream_cycles = self._cycles_of[num_bytes] = self.dram.streaming_cycles(num_bytes)
        left = t
        if stream_cycles:
            port += stream_cycles
            left = port
        return left, left + self.dram.latency, port

    def _step(self, g: int, t: int):
        """Advance from the swap of fold `g` at cycle `t` to the swap of fold `g+1`, in closed
        form (see the module docstring); returns that swap's cycle, or None where it does not
        apply (nothing is changed then)."""
        stream = self.stream
        starts, ends = stream.starts, stream.ends
        r = self._run_index(g)
        flat = self._flat
        cur = flat[r] or self._flatten(r)
        if cur[11] or g + 2 >= stream.total:
            # g is its layer's last fold (the next layer overlaps the drain), or g+1 is the last
            # fold of all (at its swap the loaders are done, not waiting for a half).
            return None
        if g > starts[r]:
            prev = cur
        else:
            prev = flat[r - 1] or self._flatten(r - 1)
            if prev[11]:
                return None        # g is its layer's first fold
        nxt = cur if g + 1 < ends[r] else (flat[r + 1] or self._flatten(r + 1))
        compute = cur[2]
        if compute <= 0:
            return None
        read_i, read_f, write = nxt[4], nxt[5], prev[6]
        dram = self.dram
        if self._dram_may_wake and (read_i or read_f or write):
            power = dram.power
            if power._users or power._awake_at > t or t - power._since > power.gate_after:
                return None        # the channel may be asleep: its wake would reorder the requests
        if not self._quiet:
            for power in self._buffer_power:
                if power._awake_at > t:
                    return None    # (never at a swap: whoever woke a buffer waited for it)

        # The transfers begun at t: fold g+1's ifmap and filter loads, then fold g-1's write-back,
        # queue for the channel in this order; each ends its latency after leaving the port.
        # (Their phases are not logged: only a wait of the array reads a log, from its start on,
        # and every wait from here on starts after these transfers end.)
        port = t
        port_i, end_i, port = self._queue(read_i, t, port)
        port_f, end_f, port = self._queue(read_f, t, port)
        port_w, end_w, port = self._queue(write, t, port)
        dram.read_bytes += read_i + read_f
        dram.write_bytes += write
        end = t + compute
        layer = cur[0]
        pe = self.pe
        pe_power = pe.power
        if self._quiet:
            # No trace and every buffer and the channel always on: only the buffers' byte counts
            # and the array's power state change, in no order that matters.
            occ_i, occ_f, occ_o = self._occupancy
            occ_i.bytes += nxt[7] - prev[7]
            occ_f.bytes += nxt[8] - prev[8]
            occ_o.bytes += nxt[9] - prev[9]
            pe.compute_cycles[layer] += compute
            if cur[3]:
                pe_power.release_at(end)
            stalls = pe.stalls[layer]
            at = _wait_for_transfers(stalls, end, ((port_i, end_i), (port_f, end_f), (port_w, end_w)))
            wake = pe_power.acquire_at(at) if nxt[3] else 0
            if wake:
                stalls["wake_up"] = stalls.get("wake_up", 0) + wake
            return at + wake

        # Otherwise every record is made in the order the processes would make it.
        occ_i, occ_f, occ_o = self._occupancy
        pow_i, pow_f, pow_o = self._buffer_power
        dram_power = dram.power
        activities = self.activities
        names = pe.layer_names
        name_prev, name_next = names[prev[0]], names[nxt[0]]
        index_prev, index_next = g - 1 - prev[1], g + 1 - nxt[1]
        # At t the array hands fold g-1's input halves back, ...
        occ_i.add_at(-prev[7], t)
        pow_i.release_at(t)
        occ_f.add_at(-prev[8], t)
        pow_f.release_at(t)
        # ... the loaders take them for fold g+1 (none waits: the half it frees keeps the
        # buffer powered) and start their transfers (one with neither bytes, bandwidth
        # time nor latency ends at once) ...
        events = []                # completions after t: (cycle, rank), ranks order ties
        occ_i.add_at(nxt[7], t)
        pow_i.acquire_at(t)
        _start_transfer(dram_power, events, read_i, t, end_i, 1)
        if end_i == t and activities is not None:
            activities.append(Activity(self._loader_names[0], name_next, index_next, t, t))
        occ_f.add_at(nxt[8], t)
        pow_f.acquire_at(t)
        _start_transfer(dram_power, events, read_f, t, end_f, 2)
        if end_f == t and activities is not None:
            activities.append(Activity(self._loader_names[1], name_next, index_next, t, t))
        # ... and the write-back takes fold g-1's outputs.
        _start_transfer(dram_power, events, write, t, end_w, 3)
        if end_w == t:
            if activities is not None:
                activities.append(Activity("write_back", name_prev, index_prev, t, t))
            occ_o.add_at(-prev[9], t)
            pow_o.release_at(t)
        # Fold g computes. Completions follow in time order; on a tie the array's first (its
        # timeout was scheduled first), then the loaders' and the write-back's in their order.
        on_array = cur[3]
        events.append((end, 0))
        if len(events) > 1:
            events.sort()
        for cycle, rank in events:
            if rank == 0:
                pe.compute_cycles[layer] += compute
                if on_array:
                    pe_power.release_at(end)
                if activities is not None:
                    activities.append(Activity("pe_array" if on_array else "vector_unit", names[layer],
                                               g - cur[1], t, end))
            elif rank == 3:
                dram_power.release_at(cycle)
                if activities is not None:
                    activities.append(Activity("write_back", name_prev, index_prev, t, cycle))
                occ_o.add_at(-prev[9], cycle)
                pow_o.release_at(cycle)
            else:
                dram_power.release_at(cycle)
                if activities is not None:
                    activities.append(Activity(self._loader_names[rank - 1], name_next, index_next, t, cycle))
        # The array waits for fold g+1's ifmap, then its filter, then a free ofmap half ...
        stalls = pe.stalls[layer]
        at = _wait_for_transfers(stalls, end, ((port_i, end_i), (port_f, end_f), (port_w, end_w)))
        # ... takes the half and wakes what it uses, which every other process waits for.
        occ_o.add_at(nxt[9], at)
        wake = pow_o.acquire_at(at)
        if nxt[3]:
            wake = max(wake, pe_power.acquire_at(at))
        if wake:
            stalls["wake_up"] = stalls.get("wake_up", 0) + wake
        return at + wake


def _start_transfer(dram_power, events: list, num_bytes: int, t: int, end: int, rank: int) -> None:
    """A transfer begun at `t` powers the channel; one that ends later is an event to come
    (ranked for ties), one that ends at once releases the channel again."""
    if not num_bytes:
        return
    dram_power.acquire_at(t)
    if end > t:
        events.append((end, rank))
    else:
        dram_power.release_at(t)


def _wait_for_transfers(stalls, at: int, transfers) -> int:
    """The array, free at `at`, waits for each (left the port, ends) transfer in turn: ifmap,
    filter, then the write-back freeing an ofmap half. Returns when the last one it needs ends."""
    for port, end in transfers:
        if end > at:
            _wait(stalls, at, port, end)
            at = end
    return at


def _wait(stalls: dict, start: int, port: int, end: int) -> None:
    """The array waits over [start, end) for a transfer that held the channel's port until `port`
    (queueing included) and then spent its latency: `PhaseLog.attribute` over those two phases."""
    if port > start:
        stalls["dram_bandwidth"] = stalls.get("dram_bandwidth", 0) + (port - start)
        start = port
    if end > start:
        stalls["dram_latency"] = stalls.get("dram_latency", 0) + (end - start)


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
