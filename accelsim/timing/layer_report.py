"""Per-layer simulation results: what one layer cost (`LayerReport`) and what a weight mask did
to it (`SparseInfo`), with the vocabularies their mappings are keyed by (`STALL_CAUSES`,
`SPEEDUP_LOSSES`, `POWER_STATES`).

These records are produced layer by layer by the timing models and stand on their own; the
network-level `accelsim.timing.report.Report` only aggregates, combines and exports them, so the
two are kept apart. Each record validates itself at construction and round-trips through
``to_dict``/``from_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
