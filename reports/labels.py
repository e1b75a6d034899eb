"""The one map from frame columns to what a reader sees: axis labels with units, scaled values, and
readable category names. Every figure takes its labels from here, so a column is named the same way
in every plot and no internal field name (``energy_pj``, ``pe.dataflow``) reaches a page.

    scaled("energy_pj", values)   -> Scaled("Energy (mJ)", "mJ", 1e-9)   multiply values by the factor
    axis_label("pe.rows")         -> "PE rows"
    value_label("pe.dataflow", "ws") -> "WS"

Units are scaled to a prefix that keeps the largest value in [1, 1000) (SI for joules and seconds,
k/M/G for counts, Ki/Mi/Gi for bytes), so no axis needs a ``1e10`` offset.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Field", "FIELDS", "Scaled", "axis_label", "field", "scaled", "title", "value_label"]

_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))
_COUNT = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
_BINARY = ((2.0**30, "Gi"), (2.0**20, "Mi"), (2.0**10, "Ki"), (1.0, ""))
_PREFIXES = {"si": _SI, "count": _COUNT, "binary": _BINARY, "fixed": ((1.0, ""),)}


@dataclass(frozen=True)
class Field:
    """How a column reads. `unit` may hold ``{}`` where the scaling prefix goes (``"{}J"``);
    `to_unit` converts stored values to that unit (pJ to J: 1e-12); `prefixes` is one of
    ``si``, ``count``, ``binary`` or ``fixed`` (no prefix)."""

    text: str
    unit: str = ""
    to_unit: float = 1.0
    prefixes: str = "fixed"


_ENERGY = Field("Energy", "{}J", 1e-12, "si")
FIELDS: dict[str, Field] = {
    "energy_pj": _ENERGY,
    "dynamic_energy_pj": Field("Dynamic energy", "{}J", 1e-12, "si"),
    "leakage_energy_pj": Field("Leakage energy", "{}J", 1e-12, "si"),
    "seconds": Field("Latency", "{}s", 1.0, "si"),
    "cycles": Field("Latency", "{}cycles", 1.0, "count"),
    "compute_cycles": Field("Compute time", "{}cycles", 1.0, "count"),
    "dense_cycles": Field("Dense latency", "{}cycles", 1.0, "count"),
    "macs": Field("Work", "{}MACs", 1.0, "count"),
    "edp_j_s": Field("Energy-delay product", "{}J·s", 1.0, "si"),
    # The co-design search prices EDP as cycles x pJ (accelsim.codesign.loop).
    "edp": Field("Energy-delay product", "cycles·{}J", 1e-12, "si"),
    "area_mm2": Field("Area", "mm²"),
    "edap_j_s_mm2": Field("Energy-delay-area product", "{}J·s·mm²", 1.0, "si"),
    "runs_per_s_per_mm2": Field("Throughput per area", "inferences/s/mm²"),
    "utilisation": Field("PE utilisation", "%", 100.0),
    "mapping_efficiency": Field("Mapping efficiency", "%", 100.0),
    "density": Field("Density", "fraction of weights kept"),
    "sparsity": Field("Sparsity", "fraction pruned"),
    "weight_sparsity": Field("Weight sparsity", "fraction pruned"),
    "accuracy": Field("Accuracy", "%", 100.0),
    "ideal_speedup": Field("Ideal speedup", "×"),
    "achieved_speedup": Field("Achieved speedup", "×"),
    "speedup": Field("Speedup over dense", "×"),
    "edp_dense_over_searched": Field("EDP reduction over dense", "×"),
    "test_accuracy": Field("Test accuracy", "%", 100.0),
    "importance": Field("Importance criterion"),
    "schedule": Field("Pruning schedule"),
    "relative_energy": Field("Energy relative to dense", "×"),
    "pe.rows": Field("PE rows"),
    "pe.cols": Field("PE columns"),
    "pe_count": Field("PEs"),
    "pe.dataflow": Field("Dataflow"),
    "clock_mhz": Field("Clock", "MHz"),
    "dram_bytes": Field("DRAM traffic", "{}B", 1.0, "binary"),
    "sram_bytes": Field("SRAM traffic", "{}B", 1.0, "binary"),
    "operational_intensity_mac_per_byte": Field("Operational intensity", "MAC/byte"),
    "throughput_mac_per_cycle": Field("Throughput", "MAC/cycle"),
    "peak_mac_per_cycle": Field("Peak throughput", "MAC/cycle"),
    "dram_bandwidth_bytes_per_cycle": Field("DRAM bandwidth", "bytes/cycle"),
    "pruning.granularity": Field("Granularity"),
    "pruning.amount": Field("Pruning amount", "fraction pruned"),
    "network": Field("Network"),
    "hardware": Field("Hardware"),
    "component": Field("Component"),
    "action": Field("Action"),
    "layer": Field("Layer"),
    "kind": Field("Layer kind"),
    "design": Field("Design"),
    "search": Field("Search"),
    "state": Field("Power state"),
    "pattern": Field("Pattern"),
    "plan": Field("Pruning plan"),
    "time_cycles": Field("Time", "{}cycles", 1.0, "count"),
    "occupancy_bytes": Field("Occupancy", "{}B", 1.0, "binary"),
}

# Fallbacks by suffix, longest first, for the columns the map does not name.
_SUFFIXES = (
    ("_mac_per_byte", Field("", "MAC/byte")),
    ("_mac_per_cycle", Field("", "MAC/cycle")),
    ("_bytes_per_cycle", Field("", "bytes/cycle")),
    ("_size_bytes", Field("", "{}B", 1.0, "binary")),
    ("_bytes", Field("", "{}B", 1.0, "binary")),
    ("_cycles", Field("", "{}cycles", 1.0, "count")),
    ("_j_s", Field("", "{}J·s", 1.0, "si")),
    ("_pj", Field("", "{}J", 1e-12, "si")),
    ("_uj", Field("", "{}J", 1e-6, "si")),
    ("_mw", Field("", "{}W", 1e-3, "si")),
    ("_mhz", Field("", "MHz")),
    ("_s", Field("", "{}s", 1.0, "si")),
)

#: Acronyms inside component, action and column names.
_WORDS = {
    "dram": "DRAM",
    "sram": "SRAM",
    "pe": "PE",
    "glb": "global buffer",
    "mac": "MAC",
    "macs": "MACs",
    "edp": "EDP",
    "nm": "N:M",
}
#: Columns whose values are internal identifiers worth spelling out; other values (network,
#: preset and layer names) are names and print as they are.
_SPELLED = {"component", "action", "state", "pruning.granularity", "granularity", "plan"}


def _words(text: str) -> str:
    """``filter_sram`` -> ``filter SRAM``; dots and underscores become spaces, acronyms capitals."""
    return " ".join(_WORDS.get(word, word) for word in re.split(r"[._]+", text) if word)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def field(name: str) -> Field:
    """The `Field` of a column: from the map, by pattern (``energy_<component>_pj``,
    ``stall_<cause>_cycles``, ``buffers.<name>.size_bytes``), or by unit suffix."""
    if name in FIELDS:
        return FIELDS[name]
    if match := re.fullmatch(r"energy_(\w+)_pj", name):
        return Field(f"Energy: {_words(match[1])}", "{}J", 1e-12, "si")
    if match := re.fullmatch(r"(stall|loss)_(\w+)_cycles", name):
        what = "Stall" if match[1] == "stall" else "Lost"
        return Field(f"{what}: {_words(match[2])}", "{}cycles", 1.0, "count")
    if match := re.fullmatch(r"buffers\.(\w+)\.size_bytes", name):
        return Field(f"{_capital(_words(match[1]))} buffer", "{}B", 1.0, "binary")
    if name.startswith("pruning."):
        return Field(_capital(_words(name[len("pruning.") :])))
    for suffix, shape in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return Field(_capital(_words(name[: -len(suffix)])), shape.unit, shape.to_unit, shape.prefixes)
    return Field(_capital(_words(name)))


def title(name: str) -> str:
    """The column's name without unit (legend titles, category axes)."""
    return field(name).text


@dataclass(frozen=True)
class Scaled:
    """An axis label, its unit alone (``"mJ"``, empty for none) and the factor that turns stored
    values into that unit."""

    label: str
    unit: str
    factor: float


def _prefix(spec: Field, values: Iterable[float]) -> tuple[str, float]:
    finite = [abs(v) * spec.to_unit for v in values if v is not None and math.isfinite(v) and v != 0]
    largest = max(finite, default=1.0)
    steps = _PREFIXES[spec.prefixes]
    for size, prefix in steps:
        if largest >= size:
            return prefix, size
    return steps[-1][1], steps[-1][0]


def scaled(name: str, values: Iterable[Any] = ()) -> Scaled:
    """The label of `name` with the unit prefix that suits `values`, and the factor to apply."""
    spec = field(name)
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    prefix, size = _prefix(spec, numbers)
    unit = spec.unit.replace("{}", prefix)
    label = f"{spec.text} ({unit})" if unit else spec.text
    return Scaled(label, unit, spec.to_unit / size)


def axis_label(name: str, values: Iterable[Any] = ()) -> str:
    """A readable label with unit: ``axis_label("energy_pj", [3e9])`` -> ``"Energy (mJ)"``.
    Without `values` the unit is unscaled (``"Energy (J)"`` then means values were converted)."""
    return scaled(name, values).label


def value_label(name: str, value: Any) -> str:
    """A category value as a reader sees it: ``ws`` -> ``WS``, ``filter_sram`` -> ``filter SRAM``,
    65536 bytes -> ``64 KiB``; numbers print compactly."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        spec = field(name)
        if spec.prefixes == "binary":
            got = scaled(name, [value])
            return f"{value * got.factor:g} {got.unit}"
        return f"{value:g}"
    if name == "pe.dataflow":
        return str(value).upper()
    return _words(str(value)) if name in _SPELLED else str(value)
