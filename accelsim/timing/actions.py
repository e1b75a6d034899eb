"""Turn a mapped layer into `(component, action)` counts, and counts into energy.

The simulator only counts; the energy table prices. Memory actions are counted in bytes,
array actions in operations, matching the units of `accelsim.arch.energy` tables.
"""

from __future__ import annotations

from collections.abc import Mapping

from accelsim.arch.hardware import Hardware
from accelsim.timing.mapping import LayerMapping

Counts = dict[tuple[str, str], float]
#: The MAC actions a sparse layer re-counts by fate (`sparse_mac_actions`).
MAC_ACTIONS = ("mac", "mac_gated", "mac_skipped")


def _add(counts: Counts, key: tuple[str, str], amount: float) -> None:
    if amount:
        counts[key] = counts.get(key, 0) + amount


def sram_bytes(mapping: LayerMapping, hardware: Hardware) -> tuple[dict[str, int], dict[str, int]]:
    """Bytes the array reads from and writes to on-chip buffers, by operand."""
    reads = {op: hardware.bytes_of(op, words) for op, words in mapping.sram_reads.items()}
    writes = {op: hardware.bytes_of(op, words) for op, words in mapping.sram_writes.items()}
    return reads, writes


#: Bytes per MAC that move one PE further: the two operands that travel through the array (the
#: stationary one stays; in ws and is the partial sum travels, at accumulator width).
_MOVING = {"os": ("ifmap", "filter"), "ws": ("ifmap", "accum"), "is": ("filter", "accum")}


def array_actions(mapping: LayerMapping, hardware: Hardware, output_words: int) -> Counts:
    """What the array's size costs beyond its MACs (docs/model.md, "Energy"):

    * ``clock``: every PE's pipeline registers are clocked while the array computes (fill, drain
      and idle PEs of a partly used fold included), in PE-cycles;
    * ``forward``: operand forwarding in byte-hops between neighbouring PEs -- each MAC passes its
      moving operands one PE on, and every word the array exchanges with a buffer crosses on
      average a quarter of the array's perimeter, ``(rows + cols) / 4`` hops, along its edge;
    * ``accumulate``: partial sums that leave the array before their reduction ends (ws, is:
      every row fold) are added to the stored ones, an accumulator-width add and a read-back of
      the partial sum from the ofmap buffer each."""
    counts: Counts = {}
    if mapping.unit != "array":
        return counts
    rows, cols = mapping.rows, mapping.cols
    _add(counts, ("pe_array", "clock"), rows * cols * mapping.compute_cycles)
    reads, writes = sram_bytes(mapping, hardware)
    moving = sum(hardware.datatypes.bytes(operand) for operand in _MOVING[mapping.dataflow])
    edge = (sum(reads.values()) + sum(writes.values())) * (rows + cols) / 4
    _add(counts, ("pe_array", "forward"), mapping.macs * moving + edge)
    partial_sums = max(0, mapping.sram_writes.get("ofmap", 0) - output_words)
    _add(counts, ("pe_array", "accumulate"), partial_sums)
    _add(counts, (hardware.buffers.buffer_name("ofmap"), "read"), hardware.bytes_of("ofmap", partial_sums))
    return counts


def count_actions(mapping: LayerMapping, hardware: Hardware, output_words: int = 0) -> Counts:
    """Dynamic actions of one layer: MACs, buffer reads/writes (array side and DRAM side), DRAM,
    and the array's size-dependent actions (`array_actions`; `output_words` is the layer's
    output elements, each written once: only writes beyond them are partial sums)."""
    counts: Counts = {}
    if mapping.unit == "array":
        _add(counts, ("pe_array", "mac"), mapping.macs)
    else:
        _add(counts, ("vector_unit", "op"), mapping.ops)
    counts.update(array_actions(mapping, hardware, output_words))
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


def sparse_mac_actions(
    dense_macs: int,
    effectual_macs: int,
    issued_macs: int,
    *,
    weights_mode: str,
    skipping: bool,
    ifmap_mode: str,
    ifmap_density: float,
    dataflow: str,
) -> Counts:
    """MACs by fate when weights (and activations) carry zeros (docs/model.md, "Sparsity").

    A MAC with a zero weight is multiplied anyway (``none``), clock-gated (``mac_gated``) or, when
    the hardware skips it, never issued (``mac_skipped``); zeros inside the structure a skipping
    format stores are issued and gated. Of the effectual MACs, the fraction ``1 - ifmap_density``
    meets a zero activation: gated, or skipped when the hardware skips zero activations in a
    dataflow that streams them (not ``is``, whose inputs stay in place).
    """
    counts: Counts = {}
    if weights_mode == "none":
        mac, gated, skipped = dense_macs, 0, 0
    elif skipping:
        mac, gated, skipped = effectual_macs, issued_macs - effectual_macs, dense_macs - issued_macs
    else:  # gating, or a skipping format this mask falls back from: gate zeros
        mac, gated, skipped = effectual_macs, dense_macs - effectual_macs, 0
    if ifmap_mode != "none" and ifmap_density < 1.0:
        zero_inputs = round(effectual_macs * (1.0 - ifmap_density))
        mac -= zero_inputs
        if ifmap_mode == "skipping" and dataflow != "is":
            skipped += zero_inputs
        else:
            gated += zero_inputs
    _add(counts, ("pe_array", "mac"), mac)
    _add(counts, ("pe_array", "mac_gated"), gated)
    _add(counts, ("pe_array", "mac_skipped"), skipped)
    return counts
