"""Simulation results: per-layer and total cycles, stalls by cause, traffic and energy.

A `Report` is plain data. Time is integer cycles; seconds and joules exist only as derived
properties, computed from the clock the report was produced at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

STALL_CAUSES = ("dram_bandwidth", "dram_latency", "wake_up", "dependency")
#: Why achieved speedup falls short of ideal, in cycles (docs/model.md, "Speedup attribution");
#: ``channel_compaction`` is a gain, zero or negative.
SPEEDUP_LOSSES = (
    "unsupported_pattern",
    "load_imbalance",
    "metadata_traffic",
    "memory_bound",
    "fixed_overhead",
    "channel_compaction",
)
POWER_STATES = ("active", "idle", "sleep")

#: Bumped whenever the JSON layout changes, so stale files are refused rather than misread.
SCHEMA_VERSION = 3


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


def _pair_key(key: tuple[str, str]) -> str:
    return f"{key[0]}.{key[1]}"


def _unpair_key(text: str) -> tuple[str, str]:
    component, _, action = text.partition(".")
    return component, action


@dataclass(frozen=True)
class SparseInfo:
    """What a weight mask did to one layer: MACs by fate, storage, the dense cycles it is
    compared with, and where the cycles between ideal and achieved went (`SPEEDUP_LOSSES`)."""

    dense_macs: int
    effectual_macs: int
    issued_macs: int
    skipping: bool
    fallback: str | None
    storage_bytes: int
    metadata_bytes: int
    dense_cycles: int
    losses_cycles: Mapping[str, float] = field(default_factory=dict)
    run_macs: int | None = None  # MACs of the layer as it ran, after channel compaction
    compacted_weight_shape: tuple[int, ...] | None = None  # None: the layer was not compacted

    def __post_init__(self) -> None:
        object.__setattr__(self, "losses_cycles", _frozen(self.losses_cycles))
        if self.run_macs is None:
            object.__setattr__(self, "run_macs", self.dense_macs)
        if self.compacted_weight_shape is not None:
            shape = tuple(int(v) for v in self.compacted_weight_shape)
            object.__setattr__(self, "compacted_weight_shape", shape)
        unknown = set(self.losses_cycles) - set(SPEEDUP_LOSSES)
        if unknown:
            raise ValueError(f"SparseInfo.losses_cycles: unknown cause(s) {sorted(unknown)}")

    @property
    def ideal_speedup(self) -> float:
        """Dense MACs over effectual MACs (inf for a layer with nothing left)."""
        return self.dense_macs / self.effectual_macs if self.effectual_macs else math.inf

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["losses_cycles"] = dict(self.losses_cycles)
        if self.compacted_weight_shape is not None:
            d["compacted_weight_shape"] = list(self.compacted_weight_shape)
        return d


@dataclass(frozen=True)
class LayerReport:
    """What one layer cost. Byte and count mappings are keyed by operand or (component, action)."""

    name: str
    kind: str
    unit: str
    macs: int
    folds: int
    cycles: int
    compute_cycles: int
    stall_cycles: Mapping[str, int]
    mapping_efficiency: float
    utilisation: float
    sram_read_bytes: Mapping[str, int]
    sram_write_bytes: Mapping[str, int]
    dram_read_bytes: Mapping[str, int]
    dram_write_bytes: Mapping[str, int]
    action_counts: Mapping[tuple[str, str], float]
    dynamic_energy_pj: Mapping[tuple[str, str], float]
    residency_cycles: Mapping[tuple[str, str], int]
    leakage_energy_pj: Mapping[str, float]
    # An annotation, not a cost: an all-ones mask compares equal to the dense report.
    sparse: SparseInfo | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "stall_cycles",
            "sram_read_bytes",
            "sram_write_bytes",
            "dram_read_bytes",
            "dram_write_bytes",
            "action_counts",
            "dynamic_energy_pj",
            "residency_cycles",
            "leakage_energy_pj",
        ):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        unknown = set(self.stall_cycles) - set(STALL_CAUSES)
        if unknown:
            raise ValueError(f"layer {self.name!r}: unknown stall cause(s) {sorted(unknown)}")
        if self.cycles != self.compute_cycles + sum(self.stall_cycles.values()):
            raise ValueError(
                f"layer {self.name!r}: cycles {self.cycles} != compute {self.compute_cycles}"
                f" + stalls {dict(self.stall_cycles)}"
            )

    @property
    def total_stall_cycles(self) -> int:
        return sum(self.stall_cycles.values())

    @property
    def energy_pj(self) -> float:
        return sum(self.dynamic_energy_pj.values()) + sum(self.leakage_energy_pj.values())

    @property
    def dram_bytes(self) -> int:
        return sum(self.dram_read_bytes.values()) + sum(self.dram_write_bytes.values())

    @property
    def ideal_speedup(self) -> float:
        return self.sparse.ideal_speedup if self.sparse else 1.0

    @property
    def achieved_speedup(self) -> float:
        """Dense cycles over these cycles (1.0 for a layer simulated without a mask)."""
        if not self.sparse:
            return 1.0
        return self.sparse.dense_cycles / self.cycles if self.cycles else math.inf

    @property
    def sram_bytes(self) -> int:
        return sum(self.sram_read_bytes.values()) + sum(self.sram_write_bytes.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "macs": self.macs,
            "folds": self.folds,
            "cycles": self.cycles,
            "compute_cycles": self.compute_cycles,
            "stall_cycles": dict(self.stall_cycles),
            "mapping_efficiency": self.mapping_efficiency,
            "utilisation": self.utilisation,
            "sram_read_bytes": dict(self.sram_read_bytes),
            "sram_write_bytes": dict(self.sram_write_bytes),
            "dram_read_bytes": dict(self.dram_read_bytes),
            "dram_write_bytes": dict(self.dram_write_bytes),
            "action_counts": {_pair_key(k): v for k, v in self.action_counts.items()},
            "dynamic_energy_pj": {_pair_key(k): v for k, v in self.dynamic_energy_pj.items()},
            "residency_cycles": {_pair_key(k): v for k, v in self.residency_cycles.items()},
            "leakage_energy_pj": dict(self.leakage_energy_pj),
            "sparse": self.sparse.to_dict() if self.sparse else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerReport:
        paired = ("action_counts", "dynamic_energy_pj", "residency_cycles")
        values = dict(data)
        sparse = values.pop("sparse", None)
        values["sparse"] = SparseInfo(**sparse) if sparse else None
        for name in paired:
            values[name] = {_unpair_key(k): v for k, v in data[name].items()}
        return cls(**values)


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
