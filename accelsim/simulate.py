"""`simulate(network, hardware)`: the public entry point of the timing and energy model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from accelsim.actions import (count_actions, count_wakes, leakage_energy_pj, leaking_components,
                              price_actions, sram_bytes)
from accelsim.analytical import time_layer
from accelsim.energy import load_energy_table
from accelsim.hardware import Hardware, load_hardware
from accelsim.mapping import LayerMapping, map_layer
from accelsim.report import STALL_CAUSES, LayerReport, Report
from workloads.network import Network
from workloads.zoo import get_network

MODES = ("event", "analytical")


@dataclass(frozen=True)
class _Timing:
    """What a timing mode says about one layer; the rest of the report is mode-independent."""

    cycles: int
    compute_cycles: int
    stall_cycles: Mapping[str, int]
    residency_cycles: Mapping[tuple[str, str], int]
    wakes: Mapping[str, int]


def _resolve(network: Network | str, hardware: Hardware | str) -> tuple[Network, Hardware]:
    if isinstance(network, str):
        network = get_network(network)
    if isinstance(hardware, str):
        hardware = load_hardware(hardware)
    return network, hardware


def simulate(network: Network | str, hardware: Hardware | str, *, mode: str = "event",
             trace: bool = False, _coalesce: bool = True) -> Report:
    """Simulate a dense forward pass of `network` on `hardware`.

    `network` and `hardware` may be objects or the names of a zoo network and a shipped preset.
    `mode="event"` runs the SimPy model (`accelsim.engine`) in a fresh environment;
    `mode="analytical"` the closed form (`accelsim.analytical`). The two agree exactly wherever
    nothing contends. `trace=True` (event mode only) attaches the tile-level timeline as
    `Report.trace`. Pure: no I/O beyond reading shipped presets, no global state.
    `_coalesce=False` (tests only) makes event mode simulate every fold instead of advancing
    steady runs of identical folds in one step; the results are identical either way.
    """
    if mode not in MODES:
        raise ValueError(f"mode: unknown simulation mode {mode!r}; choose one of {list(MODES)}")
    if trace and mode != "event":
        raise ValueError(f"trace: only mode 'event' records a trace, got mode {mode!r}")
    network, hardware = _resolve(network, hardware)
    table = load_energy_table(hardware.energy_table, hardware)
    layers = network.layers()
    mappings = [map_layer(layer, hardware) for layer in layers]
    timeline = None
    if mode == "event":
        from accelsim.engine import run_engine   # SimPy is only needed in event mode

        result = run_engine(mappings, [layer.name for layer in layers], hardware, trace=trace,
                            coalesce=_coalesce)
        timings = [_Timing(t.cycles, t.compute_cycles, _all_causes(t.stall_cycles), t.residency_cycles,
                           t.wakes) for t in result.layers]
        timeline = result.trace
    else:
        timings = _analytical_timings(mappings, hardware)
    reports = tuple(
        _layer_report(layer, mapping, timing, hardware, table)
        for layer, mapping, timing in zip(layers, mappings, timings)
    )
    return Report(
        network=network.name,
        hardware=hardware.name,
        clock_mhz=hardware.clock_mhz,
        mode=mode,
        pe_count=hardware.pe.rows * hardware.pe.cols,
        layers=reports,
        trace=timeline,
    )


def _all_causes(stalls: Mapping[str, int]) -> dict[str, int]:
    return {cause: stalls.get(cause, 0) for cause in STALL_CAUSES}


def _analytical_timings(mappings: Sequence[LayerMapping], hardware: Hardware) -> list[_Timing]:
    """Closed-form timing per layer. A layer's inputs are read only after the previous layer's
    outputs are written, so that drain is charged to the next layer as a `dependency` stall (the
    last layer keeps its own), exactly as event mode's layer spans do."""
    dram = hardware.dram
    timings = [time_layer(m.tiles, dram.bandwidth_bytes_per_cycle, dram.latency_cycles) for m in mappings]
    components = leaking_components(hardware)
    out = []
    for j, (mapping, timing) in enumerate(zip(mappings, timings)):
        keeps_drain = j == len(timings) - 1
        stalls = {
            "dram_bandwidth": timing.stall_dram_bandwidth - (0 if keeps_drain else timing.drain_bandwidth),
            "dram_latency": timing.stall_dram_latency - (0 if keeps_drain else timing.drain_latency),
            "wake_up": 0,
            "dependency": timings[j - 1].drain_latency + timings[j - 1].drain_bandwidth if j else 0,
        }
        cycles = timing.compute_cycles + sum(stalls.values())
        residency = _residency(timing.compute_cycles, cycles, components, mapping.unit)
        out.append(_Timing(cycles, timing.compute_cycles, stalls, residency, {}))
    return out


def _residency(compute_cycles: int, cycles: int, components: Sequence[str], unit: str) -> dict:
    """Analytical power states: the PE array is active while it computes and idle (clock-gated)
    otherwise; buffers and DRAM stay active for the whole layer. The vector unit's leakage is
    folded into the PE array's, as it shares the array's datapath. Power-gating policies are
    not modelled here (event mode models them)."""
    residency = {}
    for component in components:
        if component == "pe_array":
            busy = compute_cycles if unit == "array" else 0
            residency[(component, "active")] = busy
            residency[(component, "idle")] = cycles - busy
        else:
            residency[(component, "active")] = cycles
    return {key: value for key, value in residency.items() if value}


def _layer_report(layer, mapping: LayerMapping, timing: _Timing, hardware: Hardware, table) -> LayerReport:
    counts = count_actions(mapping, hardware)
    counts.update(count_wakes(timing.wakes))
    reads, writes = sram_bytes(mapping, hardware)
    pe_count = hardware.pe.rows * hardware.pe.cols
    return LayerReport(
        name=layer.name,
        kind=type(layer).__name__,
        unit=mapping.unit,
        macs=mapping.macs,
        folds=mapping.folds,
        cycles=timing.cycles,
        compute_cycles=timing.compute_cycles,
        stall_cycles=dict(timing.stall_cycles),
        mapping_efficiency=mapping.mapping_efficiency,
        utilisation=(mapping.macs / (timing.cycles * pe_count)) if timing.cycles else 0.0,
        sram_read_bytes=reads,
        sram_write_bytes=writes,
        dram_read_bytes=dict(mapping.dram_read_bytes),
        dram_write_bytes=dict(mapping.dram_write_bytes),
        action_counts=counts,
        dynamic_energy_pj=price_actions(counts, table),
        residency_cycles=dict(timing.residency_cycles),
        leakage_energy_pj=leakage_energy_pj(timing.residency_cycles, table, hardware.clock_mhz),
    )
