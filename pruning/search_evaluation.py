"""Evaluating plans for a mask search: memoised, budgeted, recorded, reported to a progress callable.

Strategies only propose plans; :class:`Evaluator` turns a plan into masks, calls the injected
``cost`` and ``accuracy`` callables, scores the result and records it. A plan is evaluated once
(later requests return its record), and two plans that happen to give identical masks share one
call of each callable, because both are the expensive part (a simulation, a pass over the
validation split). The dense plan is always evaluated first: its accuracy fixes the threshold and
its cost is the reference of normalised objectives.

In a space with bit widths, each plan's widths (`SearchSpace.bits`) go to both callables as
``cost(masks, bits=...)`` and ``accuracy(masks, bits=...)``, and equal masks share a call only at
equal widths; a pruning-only space calls them with the masks alone, as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from pruning._checks import is_real
from pruning.candidates import Plan, SearchSpace
from pruning.masks import Masks
from pruning.objectives import (
    ACCURACY_TOLERANCE,
    Constraint,
    ObjectiveFn,
    as_cost,
    check_accuracy,
    objective_name,
)
from pruning.search_records import (
    LAYER_FIELD_SUFFIXES,
    RECORD_FIELDS,
    CandidateRecord,
    format_plan,
    select_best,
)


class BudgetExhausted(Exception):
    """Raised by :meth:`Evaluator.evaluate` when a new plan would exceed ``max_evaluations``."""


def _checked_cost(value: object) -> dict[str, float]:
    cost = as_cost(value)
    for key in cost:
        if key in RECORD_FIELDS or key.endswith(LAYER_FIELD_SUFFIXES):
            raise ValueError(f"cost result field {key!r} clashes with a candidate record column; rename it")
    return cost


class Evaluator:
    """Plan -> :class:`CandidateRecord`, each plan once; see the module docstring."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        cost: Callable[..., object],
        accuracy: Callable[..., object],
        objective: ObjectiveFn,
        constraint: Constraint,
        max_evaluations: int | None = None,
        progress: Callable[[dict[str, object]], object] | None = None,
    ) -> None:
        self.space = space
        self._cost = cost
        self._accuracy = accuracy
        self._objective = objective
        self._constraint = constraint
        self.max_evaluations = max_evaluations
        self._progress = progress
        self.records: list[CandidateRecord] = []
        self._by_plan: dict[Plan, CandidateRecord] = {}
        self._by_masks: dict[str, tuple[float, dict[str, float]]] = {}
        self._threshold: float | None = None
        self.reference: dict[str, float] | None = None
        # Kept as records arrive so progress reports stay O(1) per evaluation on long searches.
        self._best_feasible_objective: float | None = None

    # ------------------------------------------------------------------ evaluation

    @property
    def dense(self) -> CandidateRecord:
        if not self.records:
            raise RuntimeError("Evaluator: the dense plan has not been evaluated yet (call evaluate_dense)")
        return self.records[0]

    @property
    def threshold(self) -> float:
        """The accuracy every candidate must reach; the dense plan's accuracy fixes it."""
        if self._threshold is None:
            raise RuntimeError("Evaluator: evaluate_dense must run before any other plan")
        return self._threshold

    def evaluate_dense(self) -> CandidateRecord:
        """Evaluate the all-dense plan: it sets the accuracy threshold and the reference cost."""
        if self.records:
            return self.records[0]
        plan = self.space.dense_plan
        masks = self.space.masks(plan)
        accuracy, cost = self._measure(masks, plan)
        self._threshold = float(self._constraint.threshold(accuracy))
        self.reference = cost
        return self._record(plan, accuracy, cost, masks)

    def evaluate(self, plan: Plan) -> CandidateRecord:
        """The record of ``plan`` (normalised first), evaluating it only if it is new."""
        plan = self.space.normalize(plan)
        if plan in self._by_plan:
            return self._by_plan[plan]
        if self._threshold is None:
            raise RuntimeError("Evaluator: evaluate_dense must run before any other plan")
        if self.max_evaluations is not None and len(self.records) >= self.max_evaluations:
            raise BudgetExhausted(self.max_evaluations)
        masks = self.space.masks(plan)
        accuracy, cost = self._measure(masks, plan)
        return self._record(plan, accuracy, cost, masks)

    def is_feasible(self, accuracy: float) -> bool:
        return accuracy >= self.threshold - ACCURACY_TOLERANCE

    def best(self) -> CandidateRecord:
        return select_best(self.records)

    # ------------------------------------------------------------------ progress

    def emit(self, event: str, **fields: object) -> None:
        """Tell the progress callable (if any) about ``event``; the library itself never prints."""
        if self._progress is None:
            return
        self._progress({
            "event": event,
            "evaluations": len(self.records),
            "max_evaluations": self.max_evaluations,
            "best_objective": self._best_feasible_objective,
            **fields,
        })  # fmt: skip

    # ------------------------------------------------------------------ internals

    def _measure(self, masks: Masks, plan: Plan) -> tuple[float, dict[str, float]]:
        bits = self.space.bits(plan) if self.space.widths else None
        key = masks.content_hash()
        extra: dict[str, object] = {}
        if bits is not None:
            key += "|" + repr(sorted((name, b.weights, b.activations) for name, b in bits.items()))
            extra["bits"] = bits
        if key not in self._by_masks:
            accuracy = check_accuracy(self._accuracy(masks, **extra), "accuracy")
            cost = _checked_cost(self._cost(masks, **extra))
            self._by_masks[key] = (accuracy, cost)
        accuracy, cost = self._by_masks[key]
        return accuracy, dict(cost)

    def _score(self, cost: Mapping[str, float], plan: Plan) -> float:
        if self.reference is None:
            raise RuntimeError("Evaluator: evaluate_dense must run before any plan is scored")
        value = self._objective(cost, self.reference)
        if not is_real(value) or not math.isfinite(float(value)):
            raise ValueError(
                f"objective {objective_name(self._objective)!r} must return a finite number, got {value!r} "
                f"for plan {format_plan(self.space.layers, plan)!r}"
            )
        return float(value)

    def _record(self, plan: Plan, accuracy: float, cost: dict[str, float], masks: Masks) -> CandidateRecord:
        record = CandidateRecord(
            index=len(self.records),
            layers=self.space.layers,
            plan=plan,
            density=float(masks.density),
            macs_density=float(self.space.macs_density(masks)),
            accuracy=accuracy,
            cost=cost,
            objective=self._score(cost, plan),
            feasible=self.is_feasible(accuracy),
        )
        self.records.append(record)
        self._by_plan[plan] = record
        best = self._best_feasible_objective
        if record.feasible and (best is None or record.objective < best):
            self._best_feasible_objective = record.objective
        self.emit(
            "evaluation", index=record.index, plan=format_plan(record.layers, plan),
            accuracy=accuracy, objective=record.objective, feasible=record.feasible,
        )  # fmt: skip
        return record


__all__ = ["BudgetExhausted", "Evaluator"]
