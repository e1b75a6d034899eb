"""Simulation results: per-layer and total cycles, stalls by cause, traffic and energy.

A `Report` is plain data. Time is integer cycles; seconds and joules exist only as derived
properties, computed from the clock the report was produced at.
This module holds the network-level `Report` (totals, combination, export); the per-layer
records it is made of live in `accelsim.timing.layer_report` and are re-exported here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from accelsim.timing.layer_report import (
    POWER_STATES,
    SPEEDUP_LOSSES,
    STALL_CAUSES,
    LayerReport,
    SparseInfo,
)

# The per-layer records and cause vocabularies are part of this module's API (users import them
# from here); they live in accelsim.timing.layer_report.
__all__ = [
    "POWER_STATES",
    "SCHEMA_VERSION",
    "SPEEDUP_LOSSES",
    "STALL_CAUSES",
    "LayerReport",
    "Report",
    "SparseInfo",
]


#: Bumped whenever the JSON layout changes, so stale files are refused rather than misread.
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Report:
    """A simulated run of a network on one hardware configuration."""

    network: str
    hardware: str
    clock_mhz: float
    mode: str
    pe_count: int
    layers: tuple[LayerReport, ...]
    trace: Any = field(default=None, compare=False)
    # The hardware's area (accelsim.arch.area), by component.
    area_mm2_by_component: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "area_mm2_by_component", dict(self.area_mm2_by_component))
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"report for {self.network!r} has duplicate layer names")

    # ---- totals -------------------------------------------------------------------------
    @property
    def cycles(self) -> int:
        return sum(layer.cycles for layer in self.layers)

    @property
    def compute_cycles(self) -> int:
        return sum(layer.compute_cycles for layer in self.layers)

    @property
    def stall_cycles(self) -> dict[str, int]:
        return {c: sum(layer.stall_cycles.get(c, 0) for layer in self.layers) for c in STALL_CAUSES}

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def dense_macs(self) -> int:
        """MACs of the dense network (equal to `macs` when nothing was masked)."""
        return sum(layer.sparse.dense_macs if layer.sparse else layer.macs for layer in self.layers)

    @property
    def dense_cycles(self) -> int:
        return sum(layer.sparse.dense_cycles if layer.sparse else layer.cycles for layer in self.layers)

    @property
    def ideal_cycles(self) -> float:
        """Cycles if every masked layer ran at its ideal speedup (dense MACs / effectual MACs) and
        every other layer as simulated."""
        total = 0.0
        for layer in self.layers:
            info = layer.sparse
            if info is None:
                total += layer.cycles
            elif info.dense_macs:
                total += info.dense_cycles * info.effectual_macs / info.dense_macs
        return total

    @property
    def ideal_speedup(self) -> float:
        """Dense cycles over `ideal_cycles`: the bound the achieved speedup can reach. (A bare
        ratio of MACs is no bound for a network: its layers take different cycles per MAC.)"""
        ideal = self.ideal_cycles
        return self.dense_cycles / ideal if ideal else math.inf

    @property
    def achieved_speedup(self) -> float:
        return self.dense_cycles / self.cycles if self.cycles else math.inf

    def speedup_losses_cycles(self) -> dict[str, float]:
        """Cycles between `ideal_cycles` and the achieved cycles, by cause.

        Masked layers' attributed losses are summed; what no layer attributes (other layers
        running differently next to sparse ones, e.g. shorter dependency stalls) is
        `fixed_overhead`, so the causes add up to ``cycles - ideal_cycles`` exactly."""
        losses = dict.fromkeys(SPEEDUP_LOSSES, 0.0)
        for layer in self.layers:
            if layer.sparse:
                for cause, value in layer.sparse.losses_cycles.items():
                    losses[cause] += value
        attributed = sum(losses.values())
        losses["fixed_overhead"] += self.cycles - self.ideal_cycles - attributed
        return losses

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    @property
    def utilisation(self) -> float:
        """Useful MACs over the MACs the array could have done in the elapsed cycles."""
        return self.macs / (self.cycles * self.pe_count) if self.cycles else 0.0

    @property
    def dynamic_energy_pj(self) -> dict[tuple[str, str], float]:
        return _sum_mappings(layer.dynamic_energy_pj for layer in self.layers)

    @property
    def leakage_energy_pj(self) -> dict[str, float]:
        return _sum_mappings(layer.leakage_energy_pj for layer in self.layers)

    @property
    def action_counts(self) -> dict[tuple[str, str], float]:
        return _sum_mappings(layer.action_counts for layer in self.layers)

    @property
    def residency_cycles(self) -> dict[tuple[str, str], int]:
        return _sum_mappings(layer.residency_cycles for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        return sum(layer.energy_pj for layer in self.layers)

    @property
    def energy_uj(self) -> float:
        return self.energy_pj * 1e-6

    @property
    def energy_j(self) -> float:
        return self.energy_pj * 1e-12

    @property
    def edp_j_s(self) -> float:
        """Energy-delay product in joule-seconds."""
        return self.energy_j * self.seconds

    @property
    def area_mm2(self) -> float:
        """On-chip area of the hardware (PE array, vector unit, SRAM; DRAM is off chip)."""
        return math.fsum(self.area_mm2_by_component.values())

    @property
    def edap_j_s_mm2(self) -> float:
        """Energy-delay-area product."""
        return self.edp_j_s * self.area_mm2

    @property
    def runs_per_s_per_mm2(self) -> float:
        """Throughput per area: forward passes per second per mm^2 (0 without an area)."""
        return 1.0 / (self.seconds * self.area_mm2) if self.seconds and self.area_mm2 else 0.0

    def energy_by_component_pj(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for (component, _action), value in self.dynamic_energy_pj.items():
            totals[component] = totals.get(component, 0.0) + value
        for component, value in self.leakage_energy_pj.items():
            totals[component] = totals.get(component, 0.0) + value
        return totals

    def layer(self, name: str) -> LayerReport:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r} in report for {self.network!r}")

    # ---- combination --------------------------------------------------------------------
    def __add__(self, other: Report) -> Report:
        """Run `other` after `self` on the same hardware: layers concatenate, totals add.

        A layer name already present is prefixed with its network's name to stay unique."""
        if not isinstance(other, Report):
            return NotImplemented
        for attr in ("hardware", "clock_mhz", "pe_count", "mode"):
            if getattr(self, attr) != getattr(other, attr):
                raise ValueError(
                    f"cannot add reports with different {attr}:"
                    f" {getattr(self, attr)!r} vs {getattr(other, attr)!r}"
                )
        taken = {layer.name for layer in self.layers}
        appended = tuple(
            replace(layer, name=f"{other.network}/{layer.name}") if layer.name in taken else layer
            for layer in other.layers
        )
        return Report(
            network=f"{self.network}+{other.network}",
            hardware=self.hardware,
            clock_mhz=self.clock_mhz,
            mode=self.mode,
            pe_count=self.pe_count,
            layers=self.layers + appended,
            area_mm2_by_component=self.area_mm2_by_component,
        )

    # ---- export -------------------------------------------------------------------------
    def to_records(self) -> list[dict[str, Any]]:
        """One flat row per layer (tidy: stable column names, units in the names)."""
        rows = []
        for layer in self.layers:
            row = {
                "network": self.network,
                "hardware": self.hardware,
                "mode": self.mode,
                "layer": layer.name,
                "kind": layer.kind,
                "unit": layer.unit,
                "macs": layer.macs,
                "folds": layer.folds,
                "cycles": layer.cycles,
                "compute_cycles": layer.compute_cycles,
            }
            for cause in STALL_CAUSES:
                row[f"stall_{cause}_cycles"] = layer.stall_cycles.get(cause, 0)
            row.update(
                mapping_efficiency=layer.mapping_efficiency,
                utilisation=layer.utilisation,
                sram_bytes=layer.sram_bytes,
                dram_bytes=layer.dram_bytes,
                energy_pj=layer.energy_pj,
                dense_macs=layer.sparse.dense_macs if layer.sparse else layer.macs,
                run_macs=layer.sparse.run_macs if layer.sparse else layer.macs,
                ideal_speedup=layer.ideal_speedup,
                achieved_speedup=layer.achieved_speedup,
            )
            rows.append(row)
        return rows

    def energy_records(self) -> list[dict[str, Any]]:
        """One row per (layer, component, action); leakage rows carry action 'leakage'."""
        rows = []
        for layer in self.layers:
            for (component, action), energy in layer.dynamic_energy_pj.items():
                rows.append(
                    {
                        "network": self.network,
                        "hardware": self.hardware,
                        "layer": layer.name,
                        "component": component,
                        "action": action,
                        "count": layer.action_counts.get((component, action), 0),
                        "energy_pj": energy,
                    }
                )
            for component, energy in layer.leakage_energy_pj.items():
                rows.append(
                    {
                        "network": self.network,
                        "hardware": self.hardware,
                        "layer": layer.name,
                        "component": component,
                        "action": "leakage",
                        "count": 0,
                        "energy_pj": energy,
                    }
                )
        return rows

    def to_frame(self, *, energy: bool = False) -> Any:
        """`to_records()` (or, with `energy`, `energy_records()`) as a pandas DataFrame (extra `pandas`)."""
        from accelsim.timing.report_views import to_frame

        return to_frame(self.energy_records() if energy else self.to_records())

    def _repr_html_(self) -> str:
        from accelsim.timing.report_views import report_html

        return report_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "network": self.network,
            "hardware": self.hardware,
            "clock_mhz": self.clock_mhz,
            "mode": self.mode,
            "pe_count": self.pe_count,
            "area_mm2_by_component": dict(self.area_mm2_by_component),
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"report schema_version {version!r} is not {SCHEMA_VERSION}")
        return cls(
            network=data["network"],
            hardware=data["hardware"],
            clock_mhz=data["clock_mhz"],
            mode=data["mode"],
            pe_count=data["pe_count"],
            layers=tuple(LayerReport.from_dict(layer) for layer in data["layers"]),
            area_mm2_by_component=data.get("area_mm2_by_component", {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        return cls.from_dict(json.loads(text))


def _sum_mappings(mappings: Iterable[Mapping]) -> dict:
    totals: dict = {}
    for mapping in mappings:
        for key, value in mapping.items():
            totals[key] = totals.get(key, 0) + value
    return totals
