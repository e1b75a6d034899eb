"""Hardware-aware mask search: which granularity and sparsity each layer gets, under an accuracy constraint.

``search_masks`` is one side-effect-free driver. Hardware cost and accuracy are *injected* callables
(``pruning`` never imports the simulator): ``cost(masks)`` returns at least ``cycles`` and
``energy_pj`` (see :func:`~pruning.objectives.as_cost`), ``accuracy(masks)`` the top-1 fraction on a
validation split. The dense model is evaluated first; the constraint turns its accuracy into the
threshold every candidate must reach. A strategy (``uniform``, ``greedy``, ``evolutionary``, see
:mod:`pruning.search_strategies`) proposes plans; each plan is evaluated once and recorded, and the
result's best is the feasible record with the lowest objective. Same inputs and seed, same result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from pruning._checks import is_int
from pruning.candidates import SearchSpace
from pruning.objectives import Constraint, ObjectiveFn, check_constraint, make_objective, objective_name
from pruning.search_evaluation import BudgetExhausted, Evaluator
from pruning.search_records import CandidateRecord, SearchResult, pareto_front, select_best
from pruning.search_strategies import Evolutionary, Greedy, Strategy, Uniform, make_strategy
from workloads.network import Network


def _check_space(space: object, network: Network, weights: Mapping[str, ArrayLike]) -> SearchSpace:
    if space is None:
        return SearchSpace(network, weights)
    if not isinstance(space, SearchSpace):
        raise ValueError(f"search_masks: space must be a SearchSpace or None, got {space!r}")
    # Layers are frozen dataclasses, so equal layer lists mean the same network shape.
    if space.network is not network and (
        space.network.name != network.name or space.network.layers() != network.layers()
    ):
        raise ValueError(
            f"search_masks: space was built for network {space.network.name!r}, not {network.name!r}"
        )
    if space.weights is not weights:
        raise ValueError("search_masks: space was built from other weights; pass the same weights mapping")
    return space


def _check_arguments(
    network: object,
    weights: object,
    cost: object,
    accuracy: object,
    seed: object,
    max_evaluations: object,
    progress: object,
) -> None:
    if not isinstance(network, Network):
        raise ValueError(f"search_masks: network must be a workloads Network, got {type(network).__name__}")
    if not isinstance(weights, Mapping):
        raise ValueError(
            f"search_masks: weights must be a mapping layer -> array, got {type(weights).__name__}"
        )
    for field, value in (("cost", cost), ("accuracy", accuracy)):
        if not callable(value):
            raise ValueError(f"search_masks: {field} must be a callable taking Masks, got {value!r}")
    if not is_int(seed) or seed < 0:
        raise ValueError(f"search_masks: seed must be an int >= 0, got {seed!r} ({type(seed).__name__})")
    if max_evaluations is not None and (not is_int(max_evaluations) or max_evaluations < 1):
        raise ValueError(
            f"search_masks: max_evaluations must be an int >= 1 or None, got {max_evaluations!r}"
        )
    if progress is not None and not callable(progress):
        raise ValueError(
            f"search_masks: progress must be a callable taking an event dict, or None, got {progress!r}"
        )


def search_masks(
    network: Network,
    weights: Mapping[str, ArrayLike],
    *,
    cost: Callable[..., object],
    accuracy: Callable[..., float],
    constraint: Constraint,
    strategy: str | Strategy = "greedy",
    objective: str | Mapping[str, float] | ObjectiveFn = "edp",
    seed: int = 0,
    space: SearchSpace | None = None,
    max_evaluations: int | None = None,
    progress: Callable[[dict[str, object]], object] | None = None,
) -> SearchResult:
    """Search per-layer pruning plans of ``network`` minimising ``objective`` under ``constraint``.

    - ``constraint``: ``MinAccuracy(fraction)`` or ``MaxDrop(points)`` (from the dense accuracy).
    - ``strategy``: ``"uniform"``, ``"greedy"``, ``"evolutionary"`` or a configured instance
      (``Evolutionary(population=32)``).
    - ``objective``: ``"edp"``, ``"cycles"``, ``"energy"``, a weights mapping (``{"cycles": 1,
      "energy": 1}``, normalised by the dense cost) or a callable ``(cost, dense_cost) -> float``.
    - ``space``: the layers, granularities and sparsity ladder to search (default
      ``SearchSpace(network, weights)``); a space with bit widths searches them jointly and calls
      ``cost(masks, bits=...)`` and ``accuracy(masks, bits=...)``.
    - ``max_evaluations``: at most this many distinct plans, the dense one included.
    - ``progress``: called with an event dict (``event`` is ``start``, ``evaluation``, ``step``,
      ``generation`` or ``done``) so a caller can draw progress; nothing is printed.

    Bad arguments raise ValueError naming the argument and the value.
    """
    _check_arguments(network, weights, cost, accuracy, seed, max_evaluations, progress)
    constraint = check_constraint(constraint)
    chosen = make_strategy(strategy)
    goal = make_objective(objective)
    space = _check_space(space, network, weights)

    evaluator = Evaluator(
        space, cost=cost, accuracy=accuracy, objective=goal, constraint=constraint,
        max_evaluations=max_evaluations, progress=progress,
    )  # fmt: skip
    evaluator.emit("start", strategy=chosen.name, layers=list(space.layers), seed=seed)
    stopped = "converged"
    evaluator.evaluate_dense()
    try:
        chosen.run(evaluator, np.random.default_rng(seed))
    except BudgetExhausted:
        stopped = "budget"

    records = tuple(evaluator.records)
    best, dense = select_best(records), records[0]
    evaluator.emit("done", stopped=stopped, best_index=best.index, feasible=best.feasible)
    return SearchResult(
        strategy=chosen.name,
        seed=int(seed),
        objective=objective_name(goal),
        constraint=constraint.describe(),
        threshold=float(evaluator.threshold),
        layers=space.layers,
        best_plan=best.plan,
        best_masks=space.masks(best.plan),
        best_index=best.index,
        best_cost=dict(best.cost),
        best_accuracy=best.accuracy,
        best_objective=best.objective,
        feasible=best.feasible,
        dense_cost=dict(dense.cost),
        dense_accuracy=dense.accuracy,
        dense_objective=dense.objective,
        candidates=records,
        stopped=stopped,
    )


# The search's own nouns, importable from where the search lives.
__all__ = [
    "search_masks",
    "SearchResult",
    "CandidateRecord",
    "pareto_front",
    "Uniform",
    "Greedy",
    "Evolutionary",
]
