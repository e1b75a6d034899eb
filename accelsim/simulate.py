"""`simulate(network, hardware)`: the public entry point of the timing and energy model."""

from __future__ import annotations

from typing import Iterable

from accelsim.actions import count_actions, leakage_energy_pj, leaking_components, price_actions, sram_bytes
from accelsim.analytical import time_layer
from accelsim.energy import load_energy_table
from accelsim.hardware import Hardware, load_hardware
from accelsim.mapping import LayerMapping, map_layer
from accelsim.report import LayerReport, Report
from workloads.network import Network
from workloads.zoo import get_network

MODES = ("analytical",)


def _resolve(network: Network | str, hardware: Hardware | str) -> tuple[Network, Hardware]:
    if isinstance(network, str):
        network = get_network(network)
    if isinstance(hardware, str):
        hardware = load_hardware(hardware)
    return network, hardware


def simulate(network: Network | str, hardware: Hardware | str, *, mode: str = "analytical") -> Report:
    """Simulate a dense forward pass of `network` on `hardware`.

    `network` and `hardware` may be objects or the names of a zoo network and a shipped preset.
    Pure: no I/O beyond reading shipped presets, no global state.
    """
    if mode not in MODES:
        raise ValueError(f"mode: unknown simulation mode {mode!r}; choose one of {list(MODES)}")
    network, hardware = _resolve(network, hardware)
    table = load_energy_table(hardware.energy_table, hardware)
    layers = tuple(
        _layer_report(layer, map_layer(layer, hardware), hardware, table) for layer in network.layers()
    )
    return Report(
        network=network.name,
        hardware=hardware.name,
        clock_mhz=hardware.clock_mhz,
        mode=mode,
        pe_count=hardware.pe.rows * hardware.pe.cols,
        layers=layers,
    )


def _residency(compute_cycles: int, cycles: int, components: Iterable[str], unit: str) -> dict:
    """Analytical power states: the PE array is active while it computes and idle (clock-gated)
    otherwise; buffers and DRAM stay active for the whole layer. The vector unit's leakage is
    folded into the PE array's, as it shares the array's datapath."""
    residency = {}
    for component in components:
        if component == "pe_array":
            busy = compute_cycles if unit == "array" else 0
            residency[(component, "active")] = busy
            residency[(component, "idle")] = cycles - busy
        else:
            residency[(component, "active")] = cycles
    return residency


def _layer_report(layer, mapping: LayerMapping, hardware: Hardware, table) -> LayerReport:
    timing = time_layer(mapping.tiles, hardware.dram.bandwidth_bytes_per_cycle, hardware.dram.latency_cycles)
    counts = count_actions(mapping, hardware)
    residency = _residency(timing.compute_cycles, timing.cycles, leaking_components(hardware), mapping.unit)
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
        stall_cycles={
            "dram_latency": timing.stall_dram_latency,
            "dram_bandwidth": timing.stall_dram_bandwidth,
        },
        mapping_efficiency=mapping.mapping_efficiency,
        utilisation=(mapping.macs / (timing.cycles * pe_count)) if timing.cycles else 0.0,
        sram_read_bytes=reads,
        sram_write_bytes=writes,
        dram_read_bytes=dict(mapping.dram_read_bytes),
        dram_write_bytes=dict(mapping.dram_write_bytes),
        action_counts=counts,
        dynamic_energy_pj=price_actions(counts, table),
        residency_cycles=residency,
        leakage_energy_pj=leakage_energy_pj(residency, table, hardware.clock_mhz),
    )
