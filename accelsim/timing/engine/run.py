"""Wire the components into a fresh SimPy environment, run it, and cut the run into layers.

Layer spans follow the PE array: layer `j` owns the cycles from the end of layer `j-1`'s last
compute to the end of its own (the last layer also owns the final write-back drain). Compute plus
the causes of every wait in a span add up to the span exactly; residency is each component's
power-state intervals cut at the same boundaries.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import simpy

from accelsim.arch.dataflow import OPERANDS
from accelsim.arch.hardware import Hardware
from accelsim.timing.engine.buffers import DoubleBuffer, Occupancy
from accelsim.timing.engine.clock import now_cycles
from accelsim.timing.engine.coalesce import Coalescer
from accelsim.timing.engine.dram import DramChannel
from accelsim.timing.engine.folds import FoldStream
from accelsim.timing.engine.loaders import Loader, WriteBack
from accelsim.timing.engine.pe_array import ArrayProcess, LayerCounters
from accelsim.timing.engine.power import ACTIVE, IDLE, SLEEP, PowerState
from accelsim.timing.engine.trace import Activity, PowerInterval, Trace
from accelsim.timing.mapping import LayerMapping


@dataclass(frozen=True)
class LayerTimeline:
    cycles: int
    compute_cycles: int
    stall_cycles: Mapping[str, int]
    residency_cycles: Mapping[tuple[str, str], int]
    wakes: Mapping[str, int]  # component -> wake-ups begun in this layer


@dataclass(frozen=True)
class EngineResult:
    layers: tuple[LayerTimeline, ...]
    dram_read_bytes: int
    dram_write_bytes: int
    trace: Trace | None
    coalesced_folds: int = field(default=0, compare=False)  # folds advanced without their own events


def run_engine(
    mappings: Sequence[LayerMapping],
    layer_names: Sequence[str],
    hardware: Hardware,
    *,
    trace: bool = False,
    coalesce: bool = True,
    layer_hardware: Sequence[Hardware] | None = None,
) -> EngineResult:
    """Simulate the layers' folds in a fresh environment. `coalesce=False` simulates every fold;
    the default advances steady states over identical folds in one step and other folds by
    closed-form steps, with identical results (`accelsim.timing.engine.coalesce`).
    `layer_hardware` (one per mapping) gives each layer its own datatypes (per-layer bit widths,
    `accelsim.timing.layer_bits`); buffers, DRAM and power always come from `hardware`."""
    if len(mappings) != len(layer_names):
        raise ValueError(f"run_engine: {len(mappings)} mappings for {len(layer_names)} layer names")
    if not mappings:
        return EngineResult((), 0, 0, Trace((), (), (), (), {}, {}) if trace else None)
    env = simpy.Environment()
    names = tuple(layer_names)
    policies, buffers = hardware.power, hardware.buffers
    word_bits = [
        {op: hw.datatypes.bits(op) for op in OPERANDS}
        for hw in (layer_hardware if layer_hardware is not None else [hardware] * len(mappings))
    ]
    half_bytes = {op: buffers.capacity_bytes(op) // 2 for op in OPERANDS}

    pe_power = PowerState(env, "pe_array", policies.pe_array, always_on_without_policy=False)
    dram_power = PowerState(env, "dram", policies.dram, always_on_without_policy=True)
    buffer_power = {
        name: PowerState(env, name, policies.buffers, always_on_without_policy=True)
        for name in buffers.components()
    }
    occupancy = {name: Occupancy(env, name, keep=trace) for name in buffers.components()}
    double_buffers = {
        op: DoubleBuffer(env, op, buffer_power[buffers.buffer_name(op)], occupancy[buffers.buffer_name(op)])
        for op in OPERANDS
    }
    dram = DramChannel(env, hardware.dram.bandwidth_bytes_per_cycle, hardware.dram.latency_cycles, dram_power)
    layers_written = [env.event() for _ in mappings]
    activities: list[Activity] | None = [] if trace else None

    stream = FoldStream(mappings, word_bits, half_bytes)
    loaders = {
        op: Loader(env, op, stream.cursor(), double_buffers[op], dram, layers_written, names, activities)
        for op in ("ifmap", "filter")
    }
    writer = WriteBack(env, stream.cursor(), double_buffers["ofmap"], dram, layers_written, names, activities)
    phases = {"ifmap": loaders["ifmap"].phases, "filter": loaders["filter"].phases, "ofmap": writer.phases}
    powers = [pe_power, *buffer_power.values(), dram_power]
    counters = LayerCounters(len(mappings))
    coalescer = None
    if coalesce:
        coalescer = Coalescer(
            env,
            stream,
            counters=counters,
            array_power=pe_power,
            buffers=double_buffers,
            loaders=loaders.values(),
            writer=writer,
            powers=powers,
            occupancies=occupancy.values(),
            dram=dram,
            layer_names=names,
            activities=activities,
        )
    ArrayProcess(
        env,
        stream.cursor(),
        double_buffers,
        pe_power,
        phases,
        counters,
        names,
        activities,
        swap_hook=coalescer,
    )
    env.run()
    end = now_cycles(env)

    last = len(mappings) - 1
    writer.phases.attribute(counters.end_cycles[last], end, counters.stalls[last])  # the final drain
    boundaries = counters.end_cycles[:-1] + [end]
    starts = [0] + boundaries[:-1]
    for power in powers:
        power.finish(end)
    residency = _split_residency(powers, boundaries)
    wakes = _split_wakes(powers, boundaries)
    layers = tuple(
        LayerTimeline(
            cycles=boundaries[j] - starts[j],
            compute_cycles=counters.compute_cycles[j],
            stall_cycles=dict(counters.stalls[j]),
            residency_cycles=residency[j],
            wakes=wakes[j],
        )
        for j in range(len(mappings))
    )
    timeline = None
    if activities is not None:  # kept exactly when tracing
        timeline = Trace(
            layers=names,
            layer_end_cycles=tuple(boundaries),
            activities=tuple(activities),
            power=tuple(
                PowerInterval(p.component, state, s, e) for p in powers for state, s, e in p.intervals
            ),
            occupancy={name: _kept_changes(o) for name, o in occupancy.items()},
            capacity_bytes={name: buf.size_bytes for name, buf in buffers.components().items()},
        )
    coalesced = coalescer.folds_coalesced + coalescer.folds_stepped if coalescer is not None else 0
    return EngineResult(layers, dram.read_bytes, dram.write_bytes, timeline, coalesced)


def _kept_changes(occupancy: Occupancy) -> tuple[tuple[int, int], ...]:
    # run_engine builds every Occupancy with keep=trace, and is only asked for changes when tracing.
    assert occupancy.changes is not None
    return tuple(occupancy.changes)


def _split_residency(powers, boundaries: list[int]) -> list[dict]:
    out: list[dict] = [{} for _ in boundaries]
    for power in powers:
        for cycle, state, cycles in power.bulk:
            if state != "wake":
                j = bisect.bisect_right(boundaries, cycle)
                key = (power.component, state)
                out[j][key] = out[j].get(key, 0) + cycles
        for state, start, end in power.intervals:
            j = bisect.bisect_right(boundaries, start)
            while start < end and j < len(boundaries):
                cut = min(end, boundaries[j])
                if cut > start:
                    key = (power.component, state)
                    out[j][key] = out[j].get(key, 0) + (cut - start)
                start = cut
                j += 1
    # One key order whatever the order of the intervals: component, then active, idle, sleep.
    order = [(power.component, state) for power in powers for state in (ACTIVE, IDLE, SLEEP)]
    return [{key: layer[key] for key in order if key in layer} for layer in out]


def _split_wakes(powers, boundaries: list[int]) -> list[dict]:
    out: list[dict] = [{} for _ in boundaries]
    last = len(boundaries) - 1
    for power in powers:
        for cycle in power.wakes:
            j = min(bisect.bisect_right(boundaries, cycle), last)
            out[j][power.component] = out[j].get(power.component, 0) + 1
        for cycle, state, count in power.bulk:
            if state == "wake":
                j = min(bisect.bisect_right(boundaries, cycle), last)
                out[j][power.component] = out[j].get(power.component, 0) + count
    return out
