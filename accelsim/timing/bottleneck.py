"""Hardware assessment before a search: what bounds each layer, and where the cycles and energy go.

Every simulated cycle of a layer is either a compute cycle or a stall with a cause
(`report.STALL_CAUSES`). A layer is

- **compute-bound** when its compute cycles are the largest part: pruning that skips MACs helps;
- **memory-bound** when DRAM stalls (bandwidth plus latency) are: fewer or smaller weights help only
  insofar as they cut the bytes moved, and skipping MACs alone buys nothing;
- **overhead-bound** when wake-up and dependency stalls are: neither pruning nor compression moves it.

Ties go to compute, then memory (the order of `BOUNDS`), so a classification is deterministic.

The search spends its budget where the cost is (`budget_weights`): a layer's priority is its share
of the objective. For EDP the share is the first-order sensitivity of ``E * T`` to the layer,
``(T * E_i + E * T_i) / (2 * E * T) = (energy_share_i + cycle_share_i) / 2``, so cutting a layer with
priority 0.3 by x % cuts the network's EDP by about 0.3 * x %. The co-design loop hands these
priorities to its search (`accelsim.codesign.budget`): greedy visits layers in `search_order`,
evolutionary mutates each layer in proportion to its priority. `allocate_trials` splits a fixed
trial budget the same way, for strategies that take per-layer trial counts (the built-in ones do not).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from accelsim.timing.report import Report

BOUNDS = ("compute", "memory", "overhead")
STALLS_BY_BOUND = {"memory": ("dram_bandwidth", "dram_latency"), "overhead": ("wake_up", "dependency")}
OBJECTIVES = ("cycles", "energy", "edp")


@dataclass(frozen=True)
class LayerBottleneck:
    """One layer of a dense run: what bounds it and its shares (fractions of the network total)."""

    layer: str
    kind: str
    bound: str
    cycles: int
    compute_cycles: int
    memory_stall_cycles: int
    overhead_stall_cycles: int
    energy_pj: float
    cycle_share: float
    energy_share: float

    @property
    def edp_share(self) -> float:
        """First-order share of the network's energy-delay product (see the module docstring)."""
        return (self.cycle_share + self.energy_share) / 2.0

    def to_record(self) -> dict[str, Any]:
        """A flat, tidy row (stable column names, units in the names)."""
        return {**asdict(self), "edp_share": self.edp_share}


def _share(part: float, total: float) -> float:
    return part / total if total else 0.0


def classify(compute_cycles: int, memory_stall_cycles: int, overhead_stall_cycles: int) -> str:
    """The largest of the three parts names the bound; ties resolve in `BOUNDS` order."""
    parts = (compute_cycles, memory_stall_cycles, overhead_stall_cycles)
    return BOUNDS[parts.index(max(parts))]


def bottlenecks(report: Report) -> list[LayerBottleneck]:
    """Per layer of ``report`` (in its order): the bound and its share of total cycles and energy."""
    total_cycles, total_energy_pj = report.cycles, report.energy_pj
    records = []
    for layer in report.layers:
        memory, overhead = (
            sum(layer.stall_cycles.get(cause, 0) for cause in STALLS_BY_BOUND[bound])
            for bound in ("memory", "overhead")
        )
        records.append(LayerBottleneck(
            layer=layer.name, kind=layer.kind,
            bound=classify(layer.compute_cycles, memory, overhead),
            cycles=layer.cycles, compute_cycles=layer.compute_cycles,
            memory_stall_cycles=memory, overhead_stall_cycles=overhead,
            energy_pj=layer.energy_pj,
            cycle_share=_share(layer.cycles, total_cycles),
            energy_share=_share(layer.energy_pj, total_energy_pj),
        ))  # fmt: skip
    return records


def budget_weights(
    records: Iterable[LayerBottleneck], *, objective: str = "edp", layers: Iterable[str] | None = None
) -> dict[str, float]:
    """Search priority per layer: its share of ``objective``, renormalised over ``layers`` to sum to 1.

    ``layers`` restricts the result to what the search may prune (e.g. layers with weights);
    default all. If every selected layer has zero share, they share equally.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"budget_weights: objective must be one of {OBJECTIVES}, got {objective!r}")
    by_name = {record.layer: record for record in records}
    names = list(by_name) if layers is None else list(layers)
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(
            f"budget_weights: layers {unknown} are not in the records (known: {sorted(by_name)})"
        )
    if not names:
        raise ValueError("budget_weights: no layers to weigh")
    share = {
        "cycles": lambda r: r.cycle_share,
        "energy": lambda r: r.energy_share,
        "edp": lambda r: r.edp_share,
    }[objective]
    raw = {name: share(by_name[name]) for name in names}
    total = math.fsum(raw.values())
    if total == 0:
        return dict.fromkeys(names, 1.0 / len(names))
    return {name: value / total for name, value in raw.items()}


def search_order(weights: Mapping[str, float]) -> list[str]:
    """Layer names by descending priority; equal priorities keep the given (network) order."""
    names = list(weights)
    return sorted(names, key=lambda name: (-weights[name], names.index(name)))


def allocate_trials(weights: Mapping[str, float], total_trials: int, *, minimum: int = 1) -> dict[str, int]:
    """Split ``total_trials`` in proportion to ``weights``, each layer getting at least ``minimum``.

    Largest-remainder rounding (ties broken by `search_order`), so the counts add up to
    ``total_trials`` exactly and the split is deterministic.
    """
    names = search_order(weights)
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 0:
        raise ValueError(f"allocate_trials: minimum must be an int >= 0, got {minimum!r}")
    floor_total = minimum * len(names)
    if isinstance(total_trials, bool) or not isinstance(total_trials, int) or total_trials < floor_total:
        raise ValueError(
            f"allocate_trials: total_trials must be an int >= {floor_total} "
            f"({minimum} for each of {len(names)} layers), got {total_trials!r}"
        )
    spare = total_trials - floor_total
    exact = {name: spare * weights[name] for name in names}
    counts = {name: minimum + math.floor(exact[name]) for name in names}
    left = total_trials - sum(counts.values())
    by_remainder = sorted(names, key=lambda name: -(exact[name] - math.floor(exact[name])))
    for name in by_remainder[:left]:
        counts[name] += 1
    return {name: counts[name] for name in weights}


def render_markdown(records: Sequence[LayerBottleneck]) -> str:
    """A short markdown table: layer, bound, cycles and energy with their shares."""
    lines = [
        "| layer | kind | bound | cycles | cycle share | energy (nJ) | energy share | EDP share |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        lines.append(
            f"| {r.layer} | {r.kind} | {r.bound} | {r.cycles:,} | {r.cycle_share:.1%} | "
            f"{r.energy_pj / 1e3:,.2f} | {r.energy_share:.1%} | {r.edp_share:.1%} |"
        )
    return "\n".join(lines) + "\n"


__all__ = [
    "BOUNDS",
    "LayerBottleneck",
    "OBJECTIVES",
    "allocate_trials",
    "bottlenecks",
    "budget_weights",
    "classify",
    "render_markdown",
    "search_order",
]
