"""Turn a mapped layer into `(component, action)` counts, and counts into energy.

The simulator only counts; the energy table prices. Memory actions are counted in bytes,
array actions in operations, matching the units of `accelsim.energy` tables.
"""

from __future__ import annotations

from typing import Mapping

from accelsim.hardware import Hardware
from accelsim.mapping import LayerMapping

Counts = dict[tuple[str, str], float]


def _add(counts: Counts, key: tuple[str, str], amount: float) -> None:
    if amount:
        counts[key] = counts.get(key, 0) + amount


def sram_bytes(mapping: LayerMapping, hardware: Hardware) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes the array reads from and writes to on-chip buffers, by operand."""
    reads = {op: words * hardware.word_bytes(op) for op, words in mapping.sram_reads.items()}
    writes = {op: words * hardware.word_bytes(op) for op, words in mapping.sram_writes.items()}
    return reads, writes


def count_actions(mapping: LayerMapping, hardware: Hardware) -> Counts:
    """Dynamic actions of one layer: MACs, buffer reads/writes (array side and DRAM side), DRAM."""
    counts: Counts = {}
    if mapping.unit == "array":
        _add(counts, ("pe_array", "mac"), mapping.macs)
    else:
        _add(counts, ("vector_unit", "op"), mapping.ops)
    reads, writes = sram_bytes(mapping, hardware)
    buffers = hardware.buffers
    for operand, num_bytes in reads.items():
        _add(counts, (buffers.buffer_name(operand), "read"), num_bytes)
    for operand, num_bytes in writes.items():
        _add(counts, (buffers.buffer_name(operand), "write"), num_bytes)
    # DRAM fills land in a buffer (a write there); write-backs leave one (a read there).
    for operand, num_bytes in mapping.dram_read_bytes.items():
        _add(counts, (buffers.buffer_name(operand), "write"), num_bytes)
        _add(counts, ("dram", "read"), num_bytes)
    for operand, num_bytes in mapping.dram_write_bytes.items():
        _add(counts, (buffers.buffer_name(operand), "read"), num_bytes)
        _add(counts, ("dram", "write"), num_bytes)
    return counts


WAKE = "wake"


def count_wakes(wakes: Mapping[str, int]) -> Counts:
    """Power-state transitions as actions: `(component, "wake")`, one per wake-up from sleep."""
    counts: Counts = {}
    for component, number in wakes.items():
        _add(counts, (component, WAKE), number)
    return counts


def price_actions(counts: Mapping[tuple[str, str], float], table) -> dict[tuple[str, str], float]:
    """Energy per counted action; wake-ups are priced from the table's transitions."""
    return {
        key: count * (table.transition_pj(key[0], WAKE) if key[1] == WAKE else table.energy_pj(*key))
        for key, count in counts.items()
    }


def leakage_energy_pj(
    residency_cycles: Mapping[tuple[str, str], int], table, clock_mhz: float
) -> dict[str, float]:
    """Leakage power times time in each state, summed per component.

    E[pJ] = P[mW] * t[s] * 1e9 and t = cycles / (clock_mhz * 1e6), so E = P * cycles * 1e3 / MHz.
    """
    energy: dict[str, float] = {}
    for (component, state), cycles in residency_cycles.items():
        if cycles:
            value = table.leak_mw(component, state) * cycles * 1e3 / clock_mhz
            energy[component] = energy.get(component, 0.0) + value
    return energy


def leaking_components(hardware: Hardware) -> tuple[str, ...]:
    buffers = hardware.buffers
    names = dict.fromkeys(buffers.buffer_name(op) for op in ("ifmap", "filter", "ofmap"))
    return ("pe_array", *names, "dram")
