"""Closed-form steps: advance from one swap to the next without events, over folds that differ.

Where no period repeats (`accelsim.timing.engine.periods`) — sparse masks give every column fold its own
compute cycles and bytes, so runs of identical folds are short — `Steps.advance` goes from the
swap of fold `g` at cycle `t` to the swap of fold `g+1` without events. Every other process being
blocked on the swap (`accelsim.timing.engine.coalesce`), the step is determined by folds `g-1`, `g`,
`g+1` and the power states:

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from accelsim.timing.engine.buffers import DoubleBuffer
from accelsim.timing.engine.dram import DramChannel
from accelsim.timing.engine.folds import FoldStream
from accelsim.timing.engine.pe_array import LayerCounters
from accelsim.timing.engine.power import PowerState
from accelsim.timing.engine.trace import Activity

# Ranks of the completions after `t`, for SimPy's order on a tie: the array's compute end first,
# then the transfers in the order they queued for the port.
ARRAY, IFMAP_LOAD, FILTER_LOAD, WRITE_BACK = 0, 1, 2, 3


class Steps:
    """Advances one fold at a time in closed form, where that is exact."""

    def __init__(
        self,
        stream: FoldStream,
        counters: LayerCounters,
        array_power: PowerState,
        buffers: Mapping[str, DoubleBuffer],
        dram: DramChannel,
        layer_names: Sequence[str],
        loader_names: tuple[str, str],
        activities: list[Activity] | None,
    ) -> None:
        self.stream = stream
        self.counters = counters
        self.array_power = array_power
        self.dram = dram
        self.layer_names = layer_names
        self.loader_names = loader_names  # the ifmap's, then the filter's
        self.activities = activities
        # Per operand the buffer's occupancy and power (the same objects for all three with a
        # unified buffer).
        self._occupancy = tuple(buffers[op].occupancy for op in ("ifmap", "filter", "ofmap"))
        self._buffer_power = tuple(buffers[op].power for op in ("ifmap", "filter", "ofmap"))
        self._quiet = (
            activities is None
            and dram.power.always_on
            and all(p.always_on for p in self._buffer_power)
            and all(o.changes is None for o in self._occupancy)
        )
        self._cycles_of: dict[int, int] = {}  # bytes -> streaming cycles
        # A DRAM transfer begun at a swap may wait for the channel to wake (the one wait the
        # closed-form step does not model): only with a gating policy and a wake latency.
        self._dram_may_wake = dram.power.may_delay_use()
        self.folds = 0  # statistics, for benchmarks: folds stepped

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

    def advance(self, g: int, r: int, t: int) -> int | None:
        """Advance from the swap of fold `g` (in run `r`) at cycle `t` to the swap of fold `g+1`
        in closed form (see the module docstring); returns that swap's cycle, or None where it
        does not apply (nothing is changed then)."""
        stream = self.stream
        runs = stream.runs
        cur = runs[r]
        if cur.last or g + 2 >= stream.total:
            # g is its layer's last fold (the next layer overlaps the drain), or g+1 is the last
            # fold of all (at its swap the loaders are done, not waiting for a half).
            return None
        if g > stream.starts[r]:
            prev = cur
        else:
            prev = runs[r - 1]
            if prev.last:
                return None  # g is its layer's first fold
        nxt = cur if g + 1 < stream.ends[r] else runs[r + 1]
        compute = cur.compute_cycles
        if compute <= 0:
            return None
        read_i, read_f, write = nxt.read_ifmap_bytes, nxt.read_filter_bytes, prev.write_bytes
        dram = self.dram
        if self._dram_may_wake and (read_i or read_f or write) and not dram.power.ready_at(t):
            return None  # the channel may be asleep: its wake would reorder the requests
        if not self._quiet:
            for power in self._buffer_power:
                if power.waking_at(t):
                    return None  # (never at a swap: whoever woke a buffer waited for it)
        self.folds += 1

        # The transfers begun at t: fold g+1's ifmap and filter loads, then fold g-1's write-back,
        # queue for the channel in this order; each ends its latency after leaving the port.
        # (Their phases are not logged: only a wait of the array reads a log, from its start on,
        # and every wait from here on starts after these transfers end.)
        port = t
        port_i, end_i, port = self._queue(read_i, t, port)
        port_f, end_f, port = self._queue(read_f, t, port)
        port_w, end_w, port = self._queue(write, t, port)
        dram.count_bytes(read_i + read_f, write)
        end = t + compute
        layer, on_array = cur.layer, cur.on_array
        counters = self.counters
        array_power = self.array_power
        transfers = ((port_i, end_i), (port_f, end_f), (port_w, end_w))
        if self._quiet:
            # No trace and every buffer and the channel always on: only the buffers' byte counts
            # and the array's power state change, in no order that matters.
            occ_i, occ_f, occ_o = self._occupancy
            occ_i.bytes += nxt.working_ifmap_bytes - prev.working_ifmap_bytes
            occ_f.bytes += nxt.working_filter_bytes - prev.working_filter_bytes
            occ_o.bytes += nxt.working_ofmap_bytes - prev.working_ofmap_bytes
            counters.compute_cycles[layer] += compute
            if on_array:
                array_power.release_at(end)
            stalls = counters.stalls[layer]
            at = _wait_for_transfers(stalls, end, transfers)
            wake = array_power.acquire_at(at) if nxt.on_array else 0
            if wake:
                stalls["wake_up"] = stalls.get("wake_up", 0) + wake
            return at + wake

        # Otherwise every record is made in the order the processes would make it.
        occ_i, occ_f, occ_o = self._occupancy
        pow_i, pow_f, pow_o = self._buffer_power
        dram_power = dram.power
        activities = self.activities
        names = self.layer_names
        name_prev, name_next = names[prev.layer], names[nxt.layer]
        index_prev, index_next = g - 1 - prev.layer_start, g + 1 - nxt.layer_start
        prev_i, prev_f, prev_o = prev.working_ifmap_bytes, prev.working_filter_bytes, prev.working_ofmap_bytes
        next_i, next_f, next_o = nxt.working_ifmap_bytes, nxt.working_filter_bytes, nxt.working_ofmap_bytes
        # At t the array hands fold g-1's input halves back, ...
        occ_i.add_at(-prev_i, t)
        pow_i.release_at(t)
        occ_f.add_at(-prev_f, t)
        pow_f.release_at(t)
        # ... the loaders take them for fold g+1 (none waits: the half it frees keeps the
        # buffer powered) and start their transfers (one with neither bytes, bandwidth
        # time nor latency ends at once) ...
        events: list[tuple[int, int]] = []  # completions after t: (cycle, rank)
        occ_i.add_at(next_i, t)
        pow_i.acquire_at(t)
        _start_transfer(dram_power, events, read_i, t, end_i, IFMAP_LOAD)
        if end_i == t and activities is not None:
            activities.append(Activity(self.loader_names[0], name_next, index_next, t, t))
        occ_f.add_at(next_f, t)
        pow_f.acquire_at(t)
        _start_transfer(dram_power, events, read_f, t, end_f, FILTER_LOAD)
        if end_f == t and activities is not None:
            activities.append(Activity(self.loader_names[1], name_next, index_next, t, t))
        # ... and the write-back takes fold g-1's outputs.
        _start_transfer(dram_power, events, write, t, end_w, WRITE_BACK)
        if end_w == t:
            if activities is not None:
                activities.append(Activity("write_back", name_prev, index_prev, t, t))
            occ_o.add_at(-prev_o, t)
            pow_o.release_at(t)
        # Fold g computes. Completions follow in time order; on a tie the array's first (its
        # timeout was scheduled first), then the loaders' and the write-back's in their order.
        events.append((end, ARRAY))
        if len(events) > 1:
            events.sort()
        for cycle, rank in events:
            if rank == ARRAY:
                counters.compute_cycles[layer] += compute
                if on_array:
                    array_power.release_at(end)
                if activities is not None:
                    activities.append(
                        Activity(
                            "pe_array" if on_array else "vector_unit",
                            names[layer],
                            g - cur.layer_start,
                            t,
                            end,
                        )
                    )
            elif rank == WRITE_BACK:
                dram_power.release_at(cycle)
                if activities is not None:
                    activities.append(Activity("write_back", name_prev, index_prev, t, cycle))
                occ_o.add_at(-prev_o, cycle)
                pow_o.release_at(cycle)
            else:
                dram_power.release_at(cycle)
                if activities is not None:
                    loader = self.loader_names[rank - IFMAP_LOAD]
                    activities.append(Activity(loader, name_next, index_next, t, cycle))
        # The array waits for fold g+1's ifmap, then its filter, then a free ofmap half ...
        stalls = counters.stalls[layer]
        at = _wait_for_transfers(stalls, end, transfers)
        # ... takes the half and wakes what it uses, which every other process waits for.
        occ_o.add_at(next_o, at)
        wake = pow_o.acquire_at(at)
        if nxt.on_array:
            wake = max(wake, array_power.acquire_at(at))
        if wake:
            stalls["wake_up"] = stalls.get("wake_up", 0) + wake
        return at + wake


def _start_transfer(
    dram_power: PowerState, events: list[tuple[int, int]], num_bytes: int, t: int, end: int, rank: int
) -> None:
    """A transfer begun at `t` powers the channel; one that ends later is an event to come
    (ranked for ties), one that ends at once releases the channel again."""
    if not num_bytes:
        return
    dram_power.acquire_at(t)
    if end > t:
        events.append((end, rank))
    else:
        dram_power.release_at(t)


def _wait_for_transfers(stalls: dict[str, int], at: int, transfers: Iterable[tuple[int, int]]) -> int:
    """The array, free at `at`, waits for each (left the port, ends) transfer in turn: ifmap,
    filter, then the write-back freeing an ofmap half. Returns when the last one it needs ends."""
    for port, end in transfers:
        if end > at:
            _wait(stalls, at, port, end)
            at = end
    return at


def _wait(stalls: dict[str, int], start: int, port: int, end: int) -> None:
    """The array waits over [start, end) for a transfer that held the channel's port until `port`
    (queueing included) and then spent its latency: `PhaseLog.attribute` over those two phases."""
    if port > start:
        stalls["dram_bandwidth"] = stalls.get("dram_bandwidth", 0) + (port - start)
        start = port
    if end > start:
        stalls["dram_latency"] = stalls.get("dram_latency", 0) + (end - start)
