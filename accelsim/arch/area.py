"""Silicon area of a `Hardware`, from the `area` section of its energy table (each figure cited).

A PE is one multiplier at the MAC precision, one adder at the accumulator precision and the
pipeline registers holding its two operands and its partial sum; the PE array is ``rows x cols``
of them. The vector unit is one accumulator-width adder per lane (``cols`` lanes). An SRAM is
its cells (per KiB) plus fixed periphery per bank. DRAM is off chip and has no area here.
The PE pitch (square PEs) also sets the wire length of one hop between neighbouring PEs, which
`accelsim.arch.energy` prices as operand forwarding.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from accelsim.arch.hardware import DATATYPE_BITS, Hardware

__all__ = ["AREA_KEYS", "Area", "AreaEntry", "pe_register_bits", "resolve_area"]

AREA_KEYS = ("mult", "add", "register", "sram", "sram_bank")
_UM2_PER_MM2 = 1e6


@dataclass(frozen=True)
class AreaEntry:
    value_mm2: float
    source: str


@dataclass(frozen=True)
class Area:
    """Area by component (mm^2) with sources, and the PE's own area and pitch."""

    components: Mapping[str, AreaEntry]
    pe_um2: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "components", MappingProxyType(dict(self.components)))

    @property
    def total_mm2(self) -> float:
        return math.fsum(entry.value_mm2 for entry in self.components.values())

    def by_component_mm2(self) -> dict[str, float]:
        return {component: entry.value_mm2 for component, entry in self.components.items()}

    @property
    def pe_pitch_mm(self) -> float:
        """Side of a square PE: the wire length of one hop between neighbouring PEs."""
        return math.sqrt(self.pe_um2) / 1e3


def pe_register_bits(hardware: Hardware) -> int:
    """Pipeline register bits of one PE: its ifmap and filter operands and its partial sum."""
    types = hardware.datatypes
    return types.bits("ifmap") + types.bits("filter") + types.bits("accum")


def resolve_area(doc: Any, node: Mapping, hardware: Hardware) -> Area:
    """The `area` mapping `node` of an energy table, read through `doc` (the table's strict
    accessor, which names file, path and line in its errors), resolved for `hardware`."""
    precisions = tuple(DATATYPE_BITS)
    mults = doc.mapping(node, "mult", "area.mult", precisions, precisions)
    adds = doc.mapping(node, "add", "area.add", precisions, precisions)
    mac_t, acc_t = hardware.datatypes.mac, hardware.datatypes.accum
    mult = doc.entry(mults, mac_t, f"area.mult.{mac_t}", "um^2")
    add = doc.entry(adds, acc_t, f"area.add.{acc_t}", "um^2")
    register = doc.entry(node, "register", "area.register", "um^2 per bit")
    sram = doc.entry(node, "sram", "area.sram", "mm^2 per KiB")
    bank = doc.entry(node, "sram_bank", "area.sram_bank", "mm^2 per bank")
    bits = pe_register_bits(hardware)
    pe_um2 = mult.value + add.value + bits * register.value
    pes = hardware.pe.num_pes
    components = {
        "pe_array": AreaEntry(
            pes * pe_um2 / _UM2_PER_MM2,
            f"{pes} PEs x ({mac_t} mult {mult.value:g} + {acc_t} add {add.value:g} + {bits} register bits x "
            f"{register.value:g}) um^2: {mult.source}; {add.source}; {register.source}",
        ),
        "vector_unit": AreaEntry(
            hardware.pe.cols * add.value / _UM2_PER_MM2,
            f"{hardware.pe.cols} lanes x {acc_t} add {add.value:g} um^2: {add.source}",
        ),
    }
    for component, buffer in hardware.buffers.components().items():
        kib = buffer.size_bytes / 1024
        components[component] = AreaEntry(
            kib * sram.value + buffer.banks * bank.value,
            f"{kib:g} KiB x {sram.value:g} mm^2 + {buffer.banks} banks x {bank.value:g} mm^2: "
            f"{sram.source}; {bank.source}",
        )
    return Area(components, pe_um2)
