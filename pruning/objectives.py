"""What a mask search minimises and what it must respect: costs, objectives and accuracy constraints.

A *cost* is whatever the injected ``cost(masks)`` callable returns, normalised by :func:`as_cost`
into a plain ``dict`` holding at least ``cycles`` and ``energy_pj`` (a ``Mapping``, a
:class:`CostBreakdown`, or any object with ``cycles`` and ``energy_pj`` attributes, such as the
simulator's ``Report``). An *objective* maps a cost (and the dense model's cost, for normalised
weighted sums) to one float to minimise: ``cycles``, ``energy`` (pJ), ``edp`` (cycles x pJ) or
:class:`Weighted`. A *constraint* turns the dense model's accuracy into the accuracy threshold a
candidate must reach on the validation split.

Accuracies are fractions in [0, 1] (what ``Model.accuracy`` returns); ``MaxDrop`` takes its
allowance in percentage points (``MaxDrop(1.0)`` = at most one point below the reference).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, cast

from pruning._checks import is_real, number_field

REQUIRED_COST_KEYS = ("cycles", "energy_pj")


# ------------------------------------------------------------------------------------- costs


@dataclass(frozen=True)
class CostBreakdown:
    """A cost in the shape ``search_masks`` needs; ``extra`` holds any further scalar fields."""

    cycles: float
    energy_pj: float
    extra: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        return {"cycles": self.cycles, "energy_pj": self.energy_pj, **dict(self.extra)}


def as_cost(value: object) -> dict[str, float]:
    """A fresh ``dict`` of floats from a cost callable's result: ``cycles`` and ``energy_pj`` (finite,
    >= 0) and any further fields (finite numbers)."""
    if isinstance(value, CostBreakdown):
        out = value.as_dict()
    elif isinstance(value, Mapping):
        out = dict(value)
    elif all(hasattr(value, key) for key in REQUIRED_COST_KEYS):
        out = {key: getattr(value, key) for key in REQUIRED_COST_KEYS}
    else:
        raise ValueError(
            f"cost must return a mapping or an object with {list(REQUIRED_COST_KEYS)}, got {type(value).__name__}"
        )
    for key in REQUIRED_COST_KEYS:
        if key not in out:
            raise ValueError(f"cost result has no {key!r} (keys: {sorted(map(str, out))})")
        number = out[key]
        if not is_real(number) or not math.isfinite(float(number)) or float(number) < 0:
            raise ValueError(f"cost result {key!r} must be a finite number >= 0, got {number!r}")
    # Extra fields travel into candidate records and JSON, so they must be named, finite numbers;
    # refusing anything else beats dropping it silently.
    for key, number in out.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"cost result keys must be non-empty str, got {key!r}")
        if not is_real(number) or not math.isfinite(float(number)):
            raise ValueError(f"cost result {key!r} must be a finite number, got {number!r}")
    return {key: float(number) for key, number in out.items()}


# -------------------------------------------------------------------------------- objectives


#: What the search calls an objective: ``(cost, reference) -> float`` to minimise.
ObjectiveFn = Callable[[Mapping[str, float], Mapping[str, float]], float]


class Objective(Protocol):
    """``objective(cost, reference) -> float`` to minimise; ``reference`` is the dense model's cost."""

    name: str

    def __call__(self, cost: Mapping[str, float], reference: Mapping[str, float]) -> float: ...


def _metric(cost: Mapping[str, float], key: str) -> float:
    if key == "cycles":
        return float(cost["cycles"])
    if key == "energy":
        return float(cost["energy_pj"])
    if key == "edp":
        return float(cost["cycles"]) * float(cost["energy_pj"])
    return number_field("objective: cost", cost, key)


@dataclass(frozen=True)
class Metric:
    """One cost metric: ``cycles``, ``energy`` (pJ), ``edp`` (cycles x pJ) or any numeric cost field."""

    key: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(
                f"Metric: key must be a non-empty str (cycles, energy, edp or a cost field), got {self.key!r}"
            )

    @property
    def name(self) -> str:
        return self.key

    def __call__(self, cost: Mapping[str, float], reference: Mapping[str, float]) -> float:
        return _metric(cost, self.key)


@dataclass(frozen=True)
class Weighted:
    """``sum(weight * metric(cost) / metric(dense cost))``: a weighted sum of dense-normalised metrics.

    ``Weighted({"cycles": 0.5, "energy": 0.5})`` is 1.0 for the dense model.
    """

    weights: Mapping[str, float]

    def __post_init__(self) -> None:
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise ValueError(
                f"Weighted: weights must be a non-empty mapping metric -> weight, got {self.weights!r}"
            )
        for key, w in self.weights.items():
            if not isinstance(key, str) or not is_real(w) or not math.isfinite(float(w)) or float(w) < 0:
                raise ValueError(f"Weighted: weight for {key!r} must be a finite number >= 0, got {w!r}")
        if not any(float(w) > 0 for w in self.weights.values()):
            raise ValueError(f"Weighted: at least one weight must be > 0, got {dict(self.weights)!r}")
        object.__setattr__(self, "weights", dict(sorted((k, float(w)) for k, w in self.weights.items())))

    @property
    def name(self) -> str:
        return "weighted(" + ",".join(f"{k}={w:g}" for k, w in self.weights.items()) + ")"

    def __call__(self, cost: Mapping[str, float], reference: Mapping[str, float]) -> float:
        total = 0.0
        for key, w in self.weights.items():
            ref = _metric(reference, key)
            total += w * (_metric(cost, key) / ref if ref > 0 else _metric(cost, key))
        return total

    def __hash__(self) -> int:
        return hash(tuple(self.weights.items()))


def weighted(**weights: float) -> Weighted:
    """``weighted(cycles=1, energy=1)``: see :class:`Weighted`."""
    return Weighted(weights)


OBJECTIVES = ("cycles", "energy", "edp")


def make_objective(spec: object) -> ObjectiveFn:
    """An objective from ``"cycles"``, ``"energy"``, ``"edp"``, a mapping of weights, or a callable."""
    if isinstance(spec, str):
        if spec not in OBJECTIVES:
            raise ValueError(
                f"objective must be one of {OBJECTIVES}, a weights mapping or a callable, got {spec!r}"
            )
        return Metric(spec)
    if isinstance(spec, Mapping):
        return Weighted(spec)
    if callable(spec):
        return cast(ObjectiveFn, spec)
    raise ValueError(f"objective must be one of {OBJECTIVES}, a weights mapping or a callable, got {spec!r}")


def objective_name(objective: object) -> str:
    return getattr(objective, "name", None) or getattr(objective, "__name__", None) or repr(objective)


# ------------------------------------------------------------------------------- constraints


def check_accuracy(value: object, where: str) -> float:
    """A finite accuracy fraction in [0, 1]; anything else is an error naming ``where`` and the value."""
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{where} must return an accuracy fraction in [0, 1], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class MinAccuracy:
    """Feasible when accuracy >= ``value`` (a fraction in [0, 1])."""

    value: float

    def __post_init__(self) -> None:
        if not is_real(self.value) or not 0.0 <= float(self.value) <= 1.0:
            raise ValueError(f"MinAccuracy: value must be an accuracy fraction in [0, 1], got {self.value!r}")
        object.__setattr__(self, "value", float(self.value))

    def threshold(self, dense_accuracy: float) -> float:
        return self.value

    def describe(self) -> str:
        return f"accuracy >= {self.value:.4f}"


@dataclass(frozen=True)
class MaxDrop:
    """Feasible when accuracy >= reference - ``points`` / 100; ``reference`` defaults to the dense accuracy."""

    points: float
    reference: float | None = None

    def __post_init__(self) -> None:
        if not is_real(self.points) or not 0.0 <= float(self.points) <= 100.0:
            raise ValueError(f"MaxDrop: points must be percentage points in [0, 100], got {self.points!r}")
        object.__setattr__(self, "points", float(self.points))
        if self.reference is not None:
            object.__setattr__(self, "reference", check_accuracy(self.reference, "MaxDrop: reference"))

    def threshold(self, dense_accuracy: float) -> float:
        ref = dense_accuracy if self.reference is None else self.reference
        return ref - self.points / 100.0

    def describe(self) -> str:
        ref = "dense" if self.reference is None else f"{self.reference:.4f}"
        return f"accuracy drop <= {self.points:g} points from {ref}"


Constraint = MinAccuracy | MaxDrop

# Accuracies are compared with this slack so 0.9 - 0.01 and 0.89 (as measured) agree.
ACCURACY_TOLERANCE = 1e-9


def check_constraint(constraint: object) -> Constraint:
    if not isinstance(constraint, (MinAccuracy, MaxDrop)):
        raise ValueError(f"constraint must be MinAccuracy(value) or MaxDrop(points), got {constraint!r}")
    return constraint


__all__ = [
    "CostBreakdown",
    "as_cost",
    "Objective",
    "ObjectiveFn",
    "Metric",
    "Weighted",
    "weighted",
    "OBJECTIVES",
    "make_objective",
    "objective_name",
    "MinAccuracy",
    "MaxDrop",
    "Constraint",
    "check_accuracy",
    "check_constraint",
    "ACCURACY_TOLERANCE",
    "REQUIRED_COST_KEYS",
]
