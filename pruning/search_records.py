"""What a mask search leaves behind: one record per evaluated plan, the result, and the Pareto front.

A :class:`CandidateRecord` is immutable and JSON-friendly (``to_dict``); ``to_record`` flattens it to
one row with stable column names (``accuracy``, ``objective``, ``cycles``, ``energy_pj``, ``edp``,
any extra cost fields, and ``<layer>.granularity`` / ``<layer>.sparsity`` per searched layer) so a
frame of candidates can be plotted directly. The best candidate is the feasible one with the lowest
objective (earliest evaluated on ties); when none is feasible it is the most accurate one, and the
result says ``feasible=False``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pruning._checks import number_field
from pruning.candidates import Plan, describe_gene, gene_fields
from pruning.masks import Masks

# Columns a flat record owns; a cost field may not take one of these names.
RECORD_FIELDS = (
    "index", "plan", "density", "macs_density", "accuracy", "objective", "feasible", "edp",
    "strategy", "seed", "best",
)  # fmt: skip
LAYER_FIELD_SUFFIXES = (".granularity", ".sparsity", ".weight_bits", ".activation_bits")

#: One flat row per candidate (`CandidateRecord.to_record`): numbers, flags and labels.
Record = dict[str, str | float | bool]
R = TypeVar("R")


def format_gene(gene: Sequence[object]) -> str:
    """``"unstructured@0.5"``, ``"dense"``; with widths ``"nm2:4@0.5/w4a8"`` (a missing width is left out)."""
    label, sparsity, w, a = gene_fields(gene)
    text = label if label == "dense" else f"{label}@{sparsity:g}"
    widths = ("" if w is None else f"w{w}") + ("" if a is None else f"a{a}")
    return f"{text}/{widths}" if widths else text


def format_plan(layers: Iterable[str], plan: Plan) -> str:
    """``"fc1=unstructured@0.5 fc2=dense"``: a plan in one readable, stable string."""
    return " ".join(f"{name}={format_gene(gene)}" for name, gene in zip(layers, plan))


@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated plan: its genes, what its masks keep, and what they cost and score.

    ``density`` is the kept fraction of the network's weights, ``macs_density`` the kept fraction of
    the searched layers' MACs (each layer weighted by its dense MACs); ``index`` counts evaluations
    from 0 (the dense model).
    """

    index: int
    layers: tuple[str, ...]
    plan: Plan
    density: float
    macs_density: float
    accuracy: float
    cost: Mapping[str, float]
    objective: float
    feasible: bool

    @property
    def edp(self) -> float:
        return self.cost["cycles"] * self.cost["energy_pj"]

    def genes(self) -> dict[str, dict[str, str | float | int | None]]:
        return {name: describe_gene(gene) for name, gene in zip(self.layers, self.plan)}

    def to_record(self) -> Record:
        row: Record = {
            "index": self.index,
            "plan": format_plan(self.layers, self.plan),
            "density": self.density,
            "macs_density": self.macs_density,
            "accuracy": self.accuracy,
            "objective": self.objective,
            "feasible": self.feasible,
            **self.cost,
            "edp": self.edp,
        }
        for name, gene in zip(self.layers, self.plan):
            for field, value in describe_gene(gene).items():
                if value is not None:
                    row[f"{name}.{field}"] = value
        return row

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "plan": [list(gene) for gene in self.plan],
            "layers": self.genes(),
            "density": self.density,
            "macs_density": self.macs_density,
            "accuracy": self.accuracy,
            "cost": dict(self.cost),
            "objective": self.objective,
            "feasible": self.feasible,
        }


def select_best(candidates: Iterable[CandidateRecord]) -> CandidateRecord:
    """Lowest objective among feasible candidates; if none is feasible, the most accurate (see module doc)."""
    pool = list(candidates)
    if not pool:
        raise ValueError("select_best: no candidates were evaluated")
    feasible = [c for c in pool if c.feasible]
    if feasible:
        return min(feasible, key=lambda c: (c.objective, c.index))
    return min(pool, key=lambda c: (-c.accuracy, c.objective, c.index))


@dataclass(frozen=True)
class SearchResult:
    """The outcome of ``search_masks``: the best plan and its masks, the dense reference, every candidate.

    ``threshold`` is the accuracy a candidate had to reach; ``stopped`` is ``"converged"`` when the
    strategy finished and ``"budget"`` when ``max_evaluations`` ended it.
    """

    strategy: str
    seed: int
    objective: str
    constraint: str
    threshold: float
    layers: tuple[str, ...]
    best_plan: Plan
    best_masks: Masks
    best_index: int
    best_cost: Mapping[str, float]
    best_accuracy: float
    best_objective: float
    feasible: bool
    dense_cost: Mapping[str, float]
    dense_accuracy: float
    dense_objective: float
    candidates: tuple[CandidateRecord, ...]
    stopped: str

    @property
    def best(self) -> CandidateRecord:
        return self.candidates[self.best_index]

    @property
    def evaluations(self) -> int:
        return len(self.candidates)

    def to_records(self) -> list[Record]:
        """One flat row per candidate, tagged with the strategy and seed so runs concatenate."""
        return [
            {
                "strategy": self.strategy,
                "seed": self.seed,
                "best": c.index == self.best_index,
                **c.to_record(),
            }
            for c in self.candidates
        ]

    def to_dict(self) -> dict[str, object]:
        """Everything but the mask arrays (rebuild them from ``best.plan``), as JSON-serialisable values."""
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "objective": self.objective,
            "constraint": self.constraint,
            "threshold": self.threshold,
            "layers": list(self.layers),
            "stopped": self.stopped,
            "feasible": self.feasible,
            "best": self.best.to_dict(),
            "dense": self.candidates[0].to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
        }


def pareto_front(
    records: Iterable[R],
    x: str = "edp",
    y: str = "accuracy",
    *,
    minimise: tuple[bool, bool] = (True, False),
    skip_missing: bool = False,
) -> list[R]:
    """The records no other record beats on both ``x`` and ``y``, sorted by ascending ``x``.

    ``minimise`` says which way is better on each axis (default: lower ``x``, higher ``y``).
    ``records`` are :class:`CandidateRecord` objects or flat dicts (``to_records`` rows, tidy-frame
    rows); the same objects come back. Of records with equal ``(x, y)`` only the first is kept. A
    missing or non-numeric field is an error, unless ``skip_missing`` leaves out records whose
    ``x`` or ``y`` is missing or None.
    """
    items = list(records)
    rows: list[Mapping[str, object]] = []
    for position, item in enumerate(items):
        row = item.to_record() if isinstance(item, CandidateRecord) else item
        if not isinstance(row, Mapping):
            raise ValueError(
                f"pareto_front: record {position} must be a CandidateRecord or a mapping, got {row!r}"
            )
        rows.append(row)
    sign_x, sign_y = (1.0 if minimise[0] else -1.0), (1.0 if minimise[1] else -1.0)
    points = [
        (sign_x * number_field(f"pareto_front: record {i}", row, x),
         sign_y * number_field(f"pareto_front: record {i}", row, y), i)
        for i, row in enumerate(rows)
        if not skip_missing or (row.get(x) is not None and row.get(y) is not None)
    ]  # fmt: skip
    front, best_y = [], math.inf
    # Best x first, then best y: a point is on the front iff it beats every y seen before it.
    for _, py, i in sorted(points):
        if py < best_y:
            front.append(i)
            best_y = py
    # The front's x values are strictly monotonic in sweep order: reverse it when x was maximised.
    return [items[i] for i in (front if minimise[0] else front[::-1])]


__all__ = [
    "CandidateRecord",
    "SearchResult",
    "RECORD_FIELDS",
    "format_gene",
    "format_plan",
    "pareto_front",
    "select_best",
]
