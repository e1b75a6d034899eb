"""Search strategies: which plans to evaluate, in what order. Each is a frozen dataclass with ``run``.

``run(evaluator, rng)`` proposes plans to an :class:`~pruning.search_evaluation.Evaluator` (which
memoises, records and enforces the budget) after the dense plan has been evaluated; it returns
nothing, because the best candidate is chosen over every record whoever proposed it.

- :class:`Uniform` is the baseline: one granularity at one sparsity on every layer.
- :class:`Greedy` is NetAdapt-style: from dense, each step moves one layer one level up.
- :class:`Evolutionary` is a seeded genetic algorithm over the per-layer genes.

Both searching strategies take optional per-layer ``priorities`` (layer -> weight, e.g. each
layer's share of the dense cost from ``accelsim.timing.bottleneck.budget_weights``): Greedy visits
layers in descending priority, so ties and budget cut-offs favour the layers that carry the cost,
and Evolutionary mutates a layer with probability proportional to its priority (same mean rate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from pruning._checks import check_fraction, check_int, is_real
from pruning.candidates import DENSE, Gene, Plan, SearchSpace
from pruning.search_evaluation import Evaluator
from pruning.search_records import CandidateRecord


class Strategy(Protocol):
    """What ``search_masks`` runs: a named proposer of plans (see the module doc)."""

    @property
    def name(self) -> str: ...

    def run(self, evaluator: Evaluator, rng: np.random.Generator) -> None: ...


@dataclass(frozen=True)
class Uniform:
    """Every option at every level, the same on all layers it applies to (the others stay dense)."""

    name: ClassVar[str] = "uniform"

    def run(self, evaluator: Evaluator, rng: np.random.Generator) -> None:
        space = evaluator.space
        for label, option in space.options.items():
            for level in option.levels:
                evaluator.evaluate(space.uniform_plan(label, level))


Priorities = tuple[tuple[str, float], ...]


def check_priorities(owner: str, priorities: object) -> Priorities | None:
    """``priorities`` (a mapping or pairs layer -> weight >= 0, not all zero) as pairs, order kept."""
    if priorities is None:
        return None
    message = f"{owner}: priorities must map layer -> weight, got {priorities!r}"
    if isinstance(priorities, Mapping):
        pairs = list(priorities.items())
    elif isinstance(priorities, (tuple, list)):
        pairs = list(priorities)
    else:
        raise ValueError(message)
    try:
        checked = tuple((str(name), float(weight)) for name, weight in pairs)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    weights = [w for _, w in checked]
    if not checked or any(not np.isfinite(w) or w < 0 for w in weights) or not sum(weights) > 0:
        raise ValueError(f"{owner}: priorities must be finite weights >= 0, not all 0, got {priorities!r}")
    return checked


def layer_priorities(owner: str, priorities: Priorities, space: SearchSpace) -> np.ndarray:
    """The priorities of ``space.layers`` (in that order), normalised to sum to 1."""
    given = dict(priorities)
    missing = [name for name in space.layers if name not in given]
    unknown = [name for name in given if name not in space.layers]
    if missing or unknown:
        raise ValueError(
            f"{owner}: priorities must name exactly the searched layers {list(space.layers)}; "
            f"missing {missing}, unknown {unknown}"
        )
    weights = np.array([given[name] for name in space.layers])
    return weights / weights.sum()


def greedy_proposals(
    space: SearchSpace, plan: Plan, order: tuple[str, ...] | None = None
) -> list[list[Plan]]:
    """For every layer (in ``order``, default network order) and option: the plans with that layer
    at each of the option's levels above its current sparsity, in increasing order (a *ladder* the
    step climbs until one pays off).

    Switching option therefore always prunes more, so every step strictly adds sparsity somewhere.
    Plans already proposed by an earlier ladder (channel genes coupled by ``normalize``) are
    dropped, order kept.
    """
    seen: set[Plan] = set()
    ladders = []
    genes = dict(zip(space.layers, plan))
    for name in space.layers if order is None else order:
        gene = genes[name]
        for label in space.allowed[name]:
            ladder = []
            level = space.next_level(gene, label)
            while level is not None:
                proposal = space.with_gene(plan, name, (label, level))
                if proposal != plan and proposal not in seen:
                    seen.add(proposal)
                    ladder.append(proposal)
                level = space.next_level((label, level), label)
            if ladder:
                ladders.append(ladder)
    return ladders


@dataclass(frozen=True)
class Greedy:
    """NetAdapt-style greedy descent (Yang et al., ECCV 2018), with the accuracy check up front.

    From the dense plan, each step climbs every ladder of :func:`greedy_proposals` to its first
    feasible plan that lowers the objective (stopping at the first infeasible one) and moves to the one
    with the largest ``(objective reduction) / (accuracy lost + accuracy_epsilon)``; accuracy gains
    count as no loss, and ties go to the first proposal (layer order, then option order). It stops
    when no feasible proposal lowers the objective, after ``max_steps`` steps, or on the budget.
    ``accuracy_epsilon`` (a fraction; 1e-3 = 0.1 point) keeps a loss-free but tiny saving from
    always beating a large saving that costs a sliver of accuracy. With ``priorities`` the layers
    are visited in descending priority (equal ones in network order), so the first proposal -- the
    one ties and a budget cut-off favour -- is on the layer carrying the most cost.
    """

    accuracy_epsilon: float = 1e-3
    max_steps: int | None = None
    priorities: Priorities | None = None
    name: ClassVar[str] = "greedy"

    def __post_init__(self) -> None:
        eps = self.accuracy_epsilon
        if not is_real(eps) or not 0.0 < float(eps) <= 1.0:
            raise ValueError(f"Greedy: accuracy_epsilon must be a fraction in (0, 1], got {eps!r}")
        if self.max_steps is not None:
            check_int("Greedy", "max_steps", self.max_steps, minimum=1)
        object.__setattr__(self, "priorities", check_priorities("Greedy", self.priorities))

    def run(self, evaluator: Evaluator, rng: np.random.Generator) -> None:
        order = None
        if self.priorities is not None:
            weights = layer_priorities("Greedy", self.priorities, evaluator.space)
            # A stable sort of the negated weights keeps network order among equals.
            order = tuple(evaluator.space.layers[i] for i in np.argsort(-weights, kind="stable"))
        current = evaluator.dense
        step = 0
        while self.max_steps is None or step < self.max_steps:
            step += 1
            chosen, best_score = None, -np.inf
            for ladder in greedy_proposals(evaluator.space, current.plan, order):
                # NetAdapt's "least pruning that reduces the resource": climb until the objective
                # drops (a format's metadata can make light pruning cost more than dense) or the
                # accuracy constraint breaks.
                for plan in ladder:
                    record = evaluator.evaluate(plan)
                    if not record.feasible:
                        break
                    if record.objective >= current.objective:
                        continue
                    lost = max(current.accuracy - record.accuracy, 0.0)
                    score = (current.objective - record.objective) / (lost + self.accuracy_epsilon)
                    if score > best_score:
                        chosen, best_score = record, score
                    break
            evaluator.emit("step", step=step, chosen=None if chosen is None else chosen.index)
            if chosen is None:
                return
            current = chosen


_SEED_LEVELS = (0.5, 0.7, 0.85)


def _fitness(record: CandidateRecord, threshold: float) -> tuple[int, float, int]:
    """Smaller is fitter: feasible before infeasible (Deb's rule), then objective or shortfall."""
    if record.feasible:
        return (0, record.objective, record.index)
    return (1, threshold - record.accuracy, record.index)


@dataclass(frozen=True)
class Evolutionary:
    """A seeded genetic algorithm over per-layer genes ``(granularity, sparsity)``.

    The first population is the dense plan, uniform plans (every option at 50, 70 and 85%
    sparsity, up to half the population) and random plans (each layer dense with probability
    1/2, else a uniformly drawn option and level). Each generation keeps the ``elites`` fittest,
    then fills up with children: two parents by ``tournament``-way tournament, uniform crossover
    with probability ``crossover_rate`` (else a copy of the first parent), and each gene redrawn
    uniformly from the layer's other choices with probability ``mutation_rate`` (default
    1 / number of layers); with ``priorities`` layer i's probability is ``mutation_rate * n * p_i``
    (``p`` normalised to sum 1, capped at 1), the same mean rate spent where the cost is. Infeasible candidates are penalised by constraint domination (any
    feasible one is fitter; among infeasible ones, the smaller accuracy shortfall wins), which needs
    no penalty weight. All randomness comes from the ``rng`` seeded by ``search_masks``.
    """

    population: int = 16
    generations: int = 10
    tournament: int = 2
    crossover_rate: float = 0.9
    mutation_rate: float | None = None
    elites: int = 2
    priorities: Priorities | None = None
    name: ClassVar[str] = "evolutionary"

    def __post_init__(self) -> None:
        check_int("Evolutionary", "population", self.population, minimum=2)
        check_int("Evolutionary", "generations", self.generations, minimum=0)
        if check_int("Evolutionary", "tournament", self.tournament, minimum=1) > self.population:
            raise ValueError(
                f"Evolutionary: tournament must be <= population={self.population}, got {self.tournament}"
            )
        if check_int("Evolutionary", "elites", self.elites, minimum=0) >= self.population:
            raise ValueError(
                f"Evolutionary: elites must be < population={self.population}, got {self.elites}"
            )
        check_fraction("Evolutionary", "crossover_rate", self.crossover_rate)
        if self.mutation_rate is not None:
            check_fraction("Evolutionary", "mutation_rate", self.mutation_rate)
        object.__setattr__(self, "priorities", check_priorities("Evolutionary", self.priorities))

    def run(self, evaluator: Evaluator, rng: np.random.Generator) -> None:
        space = evaluator.space
        choices = [space.choices(name) for name in space.layers]
        rate = 1.0 / len(choices) if self.mutation_rate is None else float(self.mutation_rate)
        rates: float | np.ndarray = rate
        if self.priorities is not None:
            weights = layer_priorities("Evolutionary", self.priorities, space)
            rates = np.minimum(rate * len(choices) * weights, 1.0)

        # Up to half the first population is uniform plans, so the search starts where a uniform
        # pruner would be; random plans alone mostly land on infeasible high sparsities.
        seeds = list(
            dict.fromkeys(
                space.uniform_plan(label, level)
                for label, option in space.options.items()
                for level in option.levels
                if level in _SEED_LEVELS or len(option.levels) == 1
            )
        )
        seeds = [plan for plan in seeds if plan != space.dense_plan][: self.population // 2]
        plans = [space.dense_plan] + seeds
        plans += [self._random_plan(choices, rng) for _ in range(self.population - len(plans))]
        population = [evaluator.evaluate(plan) for plan in plans]
        evaluator.emit("generation", generation=0)
        for generation in range(1, self.generations + 1):
            fitness = [_fitness(r, evaluator.threshold) for r in population]
            ranked = sorted(range(len(population)), key=lambda i: (fitness[i], i))
            offspring = [population[i] for i in ranked[: self.elites]]
            while len(offspring) < self.population:
                first = self._select(population, fitness, rng)
                second = self._select(population, fitness, rng)
                child = self._crossover(first.plan, second.plan, rng)
                offspring.append(evaluator.evaluate(self._mutate(child, choices, rates, rng)))
            population = offspring
            evaluator.emit("generation", generation=generation)

    # ------------------------------------------------------------------ operators

    @staticmethod
    def _random_plan(choices: list[tuple[Gene, ...]], rng: np.random.Generator) -> Plan:
        genes = []
        for options in choices:
            pruned = options[1:]
            genes.append(pruned[rng.integers(len(pruned))] if rng.random() < 0.5 else DENSE)
        return tuple(genes)

    def _select(
        self,
        population: list[CandidateRecord],
        fitness: list[tuple[int, float, int]],
        rng: np.random.Generator,
    ) -> CandidateRecord:
        entrants = rng.integers(len(population), size=self.tournament)
        winner = min(entrants.tolist(), key=lambda i: (fitness[i], i))
        return population[winner]

    def _crossover(self, first: Plan, second: Plan, rng: np.random.Generator) -> Plan:
        if rng.random() >= self.crossover_rate:
            return first
        take_second = rng.random(len(first)) < 0.5
        return tuple(b if swap else a for a, b, swap in zip(first, second, take_second))

    @staticmethod
    def _mutate(
        plan: Plan, choices: list[tuple[Gene, ...]], rate: float | np.ndarray, rng: np.random.Generator
    ) -> Plan:
        genes = list(plan)
        flips = rng.random(len(genes)) < rate
        for i in np.flatnonzero(flips):
            others = [g for g in choices[i] if g != genes[i]]
            genes[i] = others[rng.integers(len(others))]
        return tuple(genes)


STRATEGIES: dict[str, type] = {"uniform": Uniform, "greedy": Greedy, "evolutionary": Evolutionary}


def make_strategy(spec: object) -> Strategy:
    """A strategy from its name (with default settings) or a configured instance (``Greedy(max_steps=5)``).

    Any object with a str ``name`` and a ``run(evaluator, rng)`` method is accepted as a strategy.
    """
    if isinstance(spec, str):
        if spec not in STRATEGIES:
            raise ValueError(f"strategy must be one of {list(STRATEGIES)} or a strategy object, got {spec!r}")
        return STRATEGIES[spec]()
    if isinstance(spec, type):
        raise ValueError(f"strategy must be an instance, e.g. {spec.__name__}(), got the class {spec!r}")
    if isinstance(getattr(spec, "name", None), str) and callable(getattr(spec, "run", None)):
        return spec  # type: ignore[return-value]  # duck-typed: checked just above
    raise ValueError(f"strategy must be one of {list(STRATEGIES)} or a strategy object, got {spec!r}")


__all__ = [
    "Strategy",
    "Uniform",
    "Greedy",
    "Evolutionary",
    "Priorities",
    "STRATEGIES",
    "make_strategy",
    "greedy_proposals",
]
