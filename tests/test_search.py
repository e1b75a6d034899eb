"""search_masks: strategies, memoisation, budget, records, determinism and argument checks.

Cost and accuracy are toy callables of the masks' per-layer densities, so every search runs in
well under a second and the best answer is known by construction.
"""

import json
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pruning_networks import small_residual

from pruning import (
    DENSE,
    CandidateRecord,
    Evolutionary,
    Greedy,
    MaxDrop,
    MinAccuracy,
    SearchSpace,
    Uniform,
    check_channel_consistency,
    make_strategy,
    pareto_front,
    search_masks,
)
from pruning.candidates import parse_granularity_label
from pruning.granularity import NM, Block, Channel, Unstructured
from pruning.search_strategies import _fitness, greedy_proposals
from workloads.layers import Linear
from workloads.models import init_weights, mlp_network
from workloads.network import Network

FAST = settings(max_examples=15, deadline=None)
DENSE_ACCURACY = 0.9


def toy_cost(price):
    """Cycles = sum of ``price[layer]`` x kept weights; energy = twice that plus a constant."""

    def cost(masks):
        cycles = sum(price[name] * masks[name].sum() for name in price)
        return {"cycles": float(cycles), "energy_pj": 2.0 * cycles + 100.0, "nnz": masks.nnz}

    return cost


def toy_accuracy(sensitivity):
    """Dense accuracy minus ``sensitivity[layer]`` x (pruned fraction)^2 per layer, floored at 0."""

    def accuracy(masks):
        loss = sum(s * (1.0 - masks.density_of(name)) ** 2 for name, s in sensitivity.items())
        return max(0.0, DENSE_ACCURACY - loss)

    return accuracy


class Counting:
    """Wraps a callable and counts calls per distinct masks (by content hash)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = Counter()

    def __call__(self, masks):
        self.calls[masks.content_hash()] += 1
        return self.fn(masks)


@pytest.fixture(scope="module")
def mlp():
    net = mlp_network(hidden=(16, 8))  # 64-16-8-10
    return net, init_weights(net, seed=0)


PRICE = {"fc1": 1.0, "fc2": 1.0, "fc3": 1.0}
SENSITIVITY = {"fc1": 0.05, "fc2": 0.2, "fc3": 0.4}


def run(mlp, **kwargs):
    net, weights = mlp
    args = {"cost": toy_cost(PRICE), "accuracy": toy_accuracy(SENSITIVITY), "constraint": MaxDrop(2.0)}
    return search_masks(net, weights, **{**args, **kwargs})


# --------------------------------------------------------------------------------- constraint


def test_dense_is_evaluated_first_and_fixes_the_threshold(mlp):
    result = run(mlp, strategy="uniform", constraint=MaxDrop(2.0))
    dense = result.candidates[0]
    assert dense.index == 0 and dense.plan == (DENSE,) * 3 and dense.density == 1.0
    assert result.dense_accuracy == DENSE_ACCURACY == dense.accuracy
    assert result.threshold == pytest.approx(DENSE_ACCURACY - 0.02)
    assert run(mlp, strategy="uniform", constraint=MinAccuracy(0.8)).threshold == 0.8


@pytest.mark.parametrize("strategy", ["uniform", "greedy", "evolutionary"])
@pytest.mark.parametrize("constraint", [MaxDrop(1.0), MaxDrop(5.0), MinAccuracy(0.85)])
def test_every_strategy_meets_the_constraint_and_saves_cost(mlp, strategy, constraint):
    result = run(mlp, strategy=strategy, constraint=constraint)
    assert result.feasible and result.best.feasible
    assert result.best_accuracy >= result.threshold
    assert result.best_objective < result.dense_objective
    # Nothing feasible that was evaluated is better than what was returned.
    assert result.best_objective == min(c.objective for c in result.candidates if c.feasible)


def test_an_unreachable_constraint_returns_the_dense_model_as_infeasible(mlp):
    result = run(mlp, strategy="greedy", constraint=MinAccuracy(0.95))
    assert not result.feasible and result.stopped == "converged"
    assert result.best_index == 0 and result.best_plan == (DENSE,) * 3
    assert not any(c.feasible for c in result.candidates)


# ------------------------------------------------------------------------------- strategies


def test_greedy_beats_uniform_when_one_layer_is_cheap_to_prune(mlp):
    # fc1 holds most of the cost and loses no accuracy; fc2 and fc3 are costly to prune. Uniform
    # must prune all layers alike, so the sensitive ones cap it; greedy prunes fc1 alone.
    price = {"fc1": 10.0, "fc2": 1.0, "fc3": 1.0}
    sensitivity = {"fc1": 0.0, "fc2": 1.0, "fc3": 1.0}
    kwargs = {"cost": toy_cost(price), "accuracy": toy_accuracy(sensitivity), "constraint": MaxDrop(1.0)}
    uniform = run(mlp, strategy="uniform", **kwargs)
    greedy = run(mlp, strategy="greedy", **kwargs)
    assert uniform.feasible and greedy.feasible
    assert greedy.best_objective < 0.5 * uniform.best_objective
    genes = dict(zip(greedy.layers, greedy.best_plan))
    assert genes["fc1"][1] >= 0.9


def _climb(ladder, by_plan, current):
    """The plan a greedy step takes from one ladder: the first feasible one that lowers the
    objective, stopping at the first infeasible one (None if neither)."""
    for plan in ladder:
        c = by_plan[plan]  # every climbed plan was evaluated (and recorded)
        if not c.feasible:
            return None
        if c.objective < current.objective:
            return c
    return None


def test_greedy_moves_one_layer_up_per_step(mlp):
    events = []
    result = run(mlp, strategy="greedy", progress=events.append)
    chosen = [e["chosen"] for e in events if e["event"] == "step"]
    assert chosen[-1] is None and None not in chosen[:-1] and len(chosen) > 2
    path = [result.candidates[0]] + [result.candidates[i] for i in chosen[:-1]]
    for before, after in zip(path, path[1:]):
        assert any(after.plan in ladder for ladder in greedy_proposals(SearchSpace(*mlp), before.plan))
        changed = [(a, b) for a, b in zip(before.plan, after.plan) if a != b]
        assert len(changed) == 1 and changed[0][1][1] > changed[0][0][1]
        assert after.feasible and after.objective < before.objective


def test_greedy_ladders_climb_in_increasing_sparsity(mlp):
    space = SearchSpace(*mlp)
    for ladder in greedy_proposals(space, space.dense_plan):
        changed = [[i for i, (a, b) in enumerate(zip(space.dense_plan, plan)) if a != b] for plan in ladder]
        assert all(len(c) == 1 and c == changed[0] for c in changed)
        levels = [plan[changed[0][0]][1] for plan in ladder]
        assert levels == sorted(levels) and len(set(levels)) == len(levels)


def test_greedy_takes_the_best_saving_per_accuracy_lost_at_each_step(mlp):
    net, weights = mlp
    space, events, eps = SearchSpace(net, weights), [], Greedy().accuracy_epsilon
    result = run(mlp, strategy="greedy", space=space, progress=events.append)
    by_plan = {c.plan: c for c in result.candidates}
    current = result.candidates[0]
    for step in (e for e in events if e["event"] == "step"):
        scores = []
        for ladder in greedy_proposals(space, current.plan):
            c = _climb(ladder, by_plan, current)
            if c is not None:
                lost = max(current.accuracy - c.accuracy, 0.0)
                scores.append(((current.objective - c.objective) / (lost + eps), c))
        if step["chosen"] is None:
            assert not scores
            break
        best_score = max(score for score, _ in scores)
        first_best = next(c for score, c in scores if score == best_score)
        assert step["chosen"] == first_best.index
        current = first_best


def test_greedy_max_steps_bounds_the_descent(mlp):
    net, weights = mlp
    space = SearchSpace(net, weights)
    result = run(mlp, strategy=Greedy(max_steps=1), space=space)
    assert result.evaluations <= 1 + sum(len(ladder) for ladder in greedy_proposals(space, space.dense_plan))
    assert [e for e in result.candidates if e.index > 0]
    assert len({c.plan for c in result.candidates}) == result.evaluations


def test_uniform_tries_every_option_at_every_level_on_all_layers_alike(mlp):
    net, weights = mlp
    space = SearchSpace(net, weights)
    result = run(mlp, strategy="uniform", space=space)
    assert result.evaluations == 1 + sum(len(o.levels) for o in space.options.values())
    for record in result.candidates[1:]:
        genes = {gene for gene, name in zip(record.plan, record.layers) if gene != DENSE}
        assert len(genes) == 1
        ((label, _),) = genes
        assert all(
            gene != DENSE for gene, name in zip(record.plan, record.layers) if label in space.allowed[name]
        )


def test_evolutionary_is_deterministic_by_seed(mlp):
    first = run(mlp, strategy="evolutionary", seed=7)
    again = run(mlp, strategy="evolutionary", seed=7)
    assert first.to_dict() == again.to_dict()
    assert first.best_masks == again.best_masks
    other = run(mlp, strategy="evolutionary", seed=8)
    assert [c.plan for c in other.candidates] != [c.plan for c in first.candidates]


@pytest.mark.parametrize("seed", [0, 2])
def test_evolutionary_improves_on_its_first_population(mlp, seed):
    events = []
    result = run(mlp, strategy="evolutionary", seed=seed, constraint=MaxDrop(1.0), progress=events.append)
    first_population = result.candidates[
        : next(e["evaluations"] for e in events if e["event"] == "generation")
    ]
    assert result.feasible
    assert result.best_objective < 0.9 * min(c.objective for c in first_population if c.feasible)


@pytest.mark.parametrize(
    "gran", [Unstructured(), Channel(), Block((4, 4)), Block((1, 16)), NM(2, 4), NM(1, 8)]
)
def test_granularity_labels_parse_back(gran):
    assert parse_granularity_label(gran.label) == gran


@pytest.mark.parametrize("label", ["block4", "blockx4", "nm2", "nm2/4", "Channel", "", None, "block4x4 "])
def test_bad_granularity_labels_are_named(label):
    with pytest.raises(ValueError, match="granularity label must be unstructured, channel"):
        parse_granularity_label(label)


def test_evolutionary_fitness_puts_feasible_first_then_smaller_shortfall():
    def record(index, accuracy, objective):
        return CandidateRecord(index, ("l",), (DENSE,), 1.0, 1.0, accuracy, {}, objective, accuracy >= 0.8)

    ranked = sorted(
        [record(0, 0.7, 1.0), record(1, 0.9, 50.0), record(2, 0.79, 9.0), record(3, 0.85, 20.0)],
        key=lambda r: _fitness(r, 0.8),
    )
    assert [r.index for r in ranked] == [3, 1, 2, 0]


def test_evolutionary_settings_bound_the_evaluations(mlp):
    result = run(mlp, strategy=Evolutionary(population=6, generations=3, elites=1))
    assert result.evaluations <= 6 + 3 * 5 and result.feasible
    with_zero = run(mlp, strategy=Evolutionary(population=4, generations=0))
    assert with_zero.evaluations <= 4


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"population": 1}, "population"),
        ({"generations": -1}, "generations"),
        ({"tournament": 0}, "tournament"),
        ({"population": 4, "tournament": 5}, "tournament"),
        ({"population": 4, "elites": 4}, "elites"),
        ({"crossover_rate": 1.5}, "crossover_rate"),
        ({"mutation_rate": -0.1}, "mutation_rate"),
        ({"population": 8.0}, "population"),
    ],
)
def test_evolutionary_rejects_bad_settings(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Evolutionary(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field", [({"accuracy_epsilon": 0.0}, "accuracy_epsilon"), ({"max_steps": 0}, "max_steps")]
)
def test_greedy_rejects_bad_settings(kwargs, field):
    with pytest.raises(ValueError, match=field):
        Greedy(**kwargs)


def test_make_strategy_takes_names_and_instances():
    assert isinstance(make_strategy("uniform"), Uniform)
    configured = Evolutionary(population=4)
    assert make_strategy(configured) is configured
    with pytest.raises(ValueError, match="'annealing'"):
        make_strategy("annealing")
    with pytest.raises(ValueError, match="instance"):
        make_strategy(Greedy)


@pytest.mark.parametrize("strategy", ["greedy", "evolutionary"])
def test_channel_genes_on_a_residual_network_stay_channel_consistent(strategy):
    net = small_residual()
    weights = init_weights(net, seed=2)
    space = SearchSpace(net, weights, granularities=("channel", "unstructured"), ladder=(0.25, 0.5, 0.75))
    names = space.layers
    result = search_masks(
        net, weights, space=space, strategy=strategy, constraint=MaxDrop(3.0),
        cost=toy_cost(dict.fromkeys(names, 1.0)), accuracy=toy_accuracy(dict.fromkeys(names, 0.1)),
    )  # fmt: skip
    assert result.feasible and result.best_objective < result.dense_objective
    assert any(label == "channel" for c in result.candidates for label, _ in c.plan)
    for record in result.candidates:
        check_channel_consistency(net, space.masks(record.plan))
        genes = dict(zip(names, record.plan))
        if genes["stem"][0] == genes["b"][0] == "channel":
            assert genes["stem"] == genes["b"]  # coupled through the add


# ------------------------------------------------------------------------ evaluation records


@pytest.mark.parametrize("strategy", ["uniform", "greedy", "evolutionary"])
def test_each_plan_is_evaluated_once_and_every_evaluation_is_recorded(mlp, strategy):
    net, weights = mlp
    space = SearchSpace(net, weights)
    cost, accuracy = Counting(toy_cost(PRICE)), Counting(toy_accuracy(SENSITIVITY))
    result = run(mlp, strategy=strategy, cost=cost, accuracy=accuracy, space=space)
    plans = [c.plan for c in result.candidates]
    assert len(set(plans)) == len(plans)
    assert [c.index for c in result.candidates] == list(range(len(plans)))
    assert max(cost.calls.values()) == 1 and max(accuracy.calls.values()) == 1
    # Every call is a recorded candidate, and every candidate's numbers are its own masks'.
    hashes = {space.masks(p).content_hash() for p in plans}
    assert set(cost.calls) == hashes == set(accuracy.calls)
    for record in result.candidates[:: max(1, len(plans) // 10)]:
        masks = space.masks(record.plan)
        assert record.accuracy == toy_accuracy(SENSITIVITY)(masks)
        assert record.cost["cycles"] == toy_cost(PRICE)(masks)["cycles"]
        assert record.density == masks.density


def test_plans_with_identical_masks_share_one_evaluation():
    # 0.05 of layer b's 8 weights rounds to 0 pruned, so b at 0.05 has the dense mask.
    net = Network.sequential("tiny", [Linear("a", 4, 4, activation="relu"), Linear("b", 4, 2)])
    weights = init_weights(net, seed=1)
    space = SearchSpace(net, weights, granularities="unstructured", ladder=(0.05, 0.5))
    cost, accuracy = Counting(toy_cost({"a": 1.0, "b": 1.0})), Counting(toy_accuracy({"a": 0.01, "b": 0.01}))
    result = search_masks(
        net, weights, cost=cost, accuracy=accuracy, constraint=MaxDrop(50), strategy="greedy", space=space
    )
    assert sum(cost.calls.values()) < result.evaluations
    assert max(cost.calls.values()) == 1
    by_masks = {}
    for record in result.candidates:
        key = space.masks(record.plan).content_hash()
        by_masks.setdefault(key, (record.accuracy, dict(record.cost)))
        assert by_masks[key] == (record.accuracy, dict(record.cost))


def test_max_evaluations_stops_the_search(mlp):
    events = []
    result = run(mlp, strategy="greedy", max_evaluations=5, progress=events.append)
    assert result.evaluations == 5 and result.stopped == "budget"
    assert events[-1]["event"] == "done" and events[-1]["stopped"] == "budget"
    assert run(mlp, strategy="uniform", max_evaluations=1).best_index == 0


def test_progress_reports_start_each_evaluation_and_done(mlp):
    events = []
    result = run(mlp, strategy="evolutionary", progress=events.append)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("evaluation") == result.evaluations
    assert kinds.count("generation") == Evolutionary().generations + 1
    assert [e["index"] for e in events if e["event"] == "evaluation"] == list(range(result.evaluations))
    assert events[-1]["best_objective"] == result.best_objective
    json.dumps(events)


def test_result_fields_are_consistent(mlp):
    net, weights = mlp
    space = SearchSpace(net, weights)
    result = run(mlp, strategy="greedy", space=space)
    best = result.best
    assert best is result.candidates[result.best_index]
    assert (best.plan, best.accuracy, best.objective) == (
        result.best_plan,
        result.best_accuracy,
        result.best_objective,
    )
    assert dict(best.cost) == result.best_cost and result.best_masks == space.masks(result.best_plan)
    assert result.dense_cost == dict(result.candidates[0].cost)
    assert result.best_objective == pytest.approx(result.best_cost["cycles"] * result.best_cost["energy_pj"])
    assert (result.strategy, result.seed, result.objective, result.layers) == (
        "greedy",
        0,
        "edp",
        space.layers,
    )
    assert result.best_cost["nnz"] == result.best_masks.nnz  # extra cost fields are kept

    rows = result.to_records()
    assert len(rows) == result.evaluations and sum(r["best"] for r in rows) == 1
    row = rows[result.best_index]
    assert row["accuracy"] == result.best_accuracy and row["edp"] == best.edp and row["strategy"] == "greedy"
    for name, (label, sparsity) in zip(result.layers, result.best_plan):
        assert (row[f"{name}.granularity"], row[f"{name}.sparsity"]) == (label, sparsity)

    as_dict = result.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["best"]["index"] == result.best_index and len(as_dict["candidates"]) == result.evaluations


def test_weighted_objective_is_one_for_the_dense_model(mlp):
    result = run(mlp, strategy="uniform", objective={"cycles": 0.5, "energy": 0.5})
    assert result.dense_objective == pytest.approx(1.0) and result.best_objective < 1.0
    assert result.objective == "weighted(cycles=0.5,energy=0.5)"


# ------------------------------------------------------------------------------- properties


@FAST
@given(
    st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
    st.lists(st.floats(0.1, 10.0), min_size=3, max_size=3),
    st.floats(0.0, 10.0),
)
def test_greedy_is_always_feasible_and_never_worse_than_dense(mlp, sensitivities, prices, points):
    names = ("fc1", "fc2", "fc3")
    result = run(
        mlp, strategy="greedy", constraint=MaxDrop(points),
        cost=toy_cost(dict(zip(names, prices))), accuracy=toy_accuracy(dict(zip(names, sensitivities))),
    )  # fmt: skip
    assert result.feasible and result.best_objective <= result.dense_objective
    assert result.best_accuracy >= DENSE_ACCURACY - points / 100 - 1e-9


# -------------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"strategy": "annealing"}, "strategy.*'annealing'"),
        ({"objective": "latency"}, "objective.*'latency'"),
        ({"constraint": 0.9}, "constraint.*0.9"),
        ({"seed": 1.5}, "seed.*1.5"),
        ({"seed": -1}, "seed.*-1"),
        ({"seed": True}, "seed.*True"),
        ({"max_evaluations": 0}, "max_evaluations.*0"),
        ({"cost": "simulate"}, "cost.*'simulate'"),
        ({"accuracy": None}, "accuracy.*None"),
        ({"progress": 3}, "progress.*3"),
        ({"space": "all"}, "space.*'all'"),
        ({"cost": lambda m: {"cycles": 1.0}}, "energy_pj"),
        ({"cost": lambda m: {"cycles": 1.0, "energy_pj": 1.0, "accuracy": 0.5}}, "'accuracy' clashes"),
        ({"cost": lambda m: {"cycles": 1.0, "energy_pj": 1.0, "note": "x"}}, "'note'"),
        ({"accuracy": lambda m: 90.0}, "accuracy.*90.0"),
        ({"objective": lambda cost, ref: float("nan")}, "objective.*nan"),
    ],
)
def test_bad_arguments_name_the_field_and_value(mlp, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(mlp, **kwargs)


def test_a_space_for_another_network_is_refused(mlp):
    other = mlp_network(hidden=(8, 8))
    with pytest.raises(ValueError, match="space was built"):
        run(mlp, space=SearchSpace(other, init_weights(other, seed=0)))


# ------------------------------------------------------------------------------ pareto front


def _row(index, edp, accuracy):
    return {"index": index, "edp": edp, "accuracy": accuracy}


def test_pareto_front_keeps_the_non_dominated_sorted_by_x():
    rows = [
        _row(0, 10, 0.9),
        _row(1, 5, 0.8),
        _row(2, 6, 0.7),
        _row(3, 5, 0.8),
        _row(4, 1, 0.5),
        _row(5, 12, 0.85),
    ]
    assert [r["index"] for r in pareto_front(rows)] == [4, 1, 0]
    assert [r["index"] for r in pareto_front(rows, x="index", y="accuracy")] == [0]


def test_pareto_front_takes_candidate_records_and_checks_fields(mlp):
    result = run(mlp, strategy="uniform")
    front = pareto_front(result.candidates, x="cycles")
    assert front and all(isinstance(r, CandidateRecord) for r in front)
    assert front[-1].index == 0  # nothing is more accurate than dense
    with pytest.raises(ValueError, match="'latency'"):
        pareto_front(result.candidates, x="latency")
    with pytest.raises(ValueError, match="'plan'.*number"):
        pareto_front(result.to_records(), x="plan")


@FAST
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=30))
def test_pareto_front_is_exactly_the_non_dominated_points(points):
    rows = [_row(i, x, y) for i, (x, y) in enumerate(points)]
    front = pareto_front(rows)
    on_front = {r["index"] for r in front}
    assert [r["edp"] for r in front] == sorted(r["edp"] for r in front)

    def dominates(a, b):
        return a["edp"] <= b["edp"] and a["accuracy"] >= b["accuracy"] and (a["edp"], a["accuracy"]) != (
            b["edp"], b["accuracy"])  # fmt: skip

    for r in rows:
        beaten = any(dominates(o, r) for o in rows)
        if r["index"] in on_front:
            assert not beaten
        else:  # dominated, or a later duplicate of a point on the front
            assert beaten or any((f["edp"], f["accuracy"]) == (r["edp"], r["accuracy"]) for f in front)


def test_search_result_round_trips_numbers_exactly_through_json(mlp):
    result = run(mlp, strategy="uniform")
    loaded = json.loads(json.dumps(result.to_dict()))
    assert loaded["best"]["objective"] == result.best_objective
    assert [tuple(g) for g in loaded["best"]["plan"]] == list(result.best_plan)
    assert np.isfinite([c["objective"] for c in loaded["candidates"]]).all()


def test_evolutionary_first_population_holds_uniform_plans(mlp):
    space = SearchSpace(*mlp)
    strategy = Evolutionary(population=8, generations=0)
    result = run(mlp, strategy=strategy, space=space)
    first = [c.plan for c in result.candidates[: strategy.population]]
    uniform = {
        space.uniform_plan(label, level)
        for label, option in space.options.items()
        for level in option.levels
        if level in (0.5, 0.7, 0.85) or len(option.levels) == 1
    }
    seeded = [plan for plan in first if plan in uniform]
    assert len(seeded) == strategy.population // 2
