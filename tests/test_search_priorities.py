"""Search priorities: greedy visits the costly layers first, evolutionary mutates them more often,
and the co-design loop takes the priorities from the dense run's bottlenecks."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.codesign.budget import layer_priorities, prioritised
from pruning import Evolutionary, Greedy, MaxDrop, SearchSpace, search_masks
from pruning.search_strategies import Priorities
from workloads.models import init_weights, mlp_network

LAYERS = ("fc1", "fc2", "fc3")


@pytest.fixture(scope="module")
def mlp():
    net = mlp_network(hidden=(16, 8))  # 64-16-8-10
    return net, init_weights(net, seed=0)


def _layer_cost(masks) -> dict[str, float]:
    """Every kept weight costs one cycle, whatever its layer: only the visiting order tells layers apart."""
    cycles = float(sum(masks[name].sum() for name in LAYERS))
    return {"cycles": cycles, "energy_pj": cycles}


def _first_pruned_layers(mlp, strategy, max_evaluations: int) -> list[str]:
    """Layers pruned by each evaluated plan after the dense one, in evaluation order."""
    net, weights = mlp
    space = SearchSpace(net, weights, granularities=["unstructured"])
    result = search_masks(
        net, weights, cost=_layer_cost, accuracy=lambda masks: 0.9, constraint=MaxDrop(100.0),
        strategy=strategy, objective="cycles", space=space, max_evaluations=max_evaluations,
    )  # fmt: skip
    return [
        next(name for name, (label, _) in zip(space.layers, record.plan) if label != "dense")
        for record in result.candidates[1:]
    ]


def test_greedy_visits_layers_by_priority_and_a_budget_cut_keeps_the_costly_one(mlp):
    priorities = {"fc1": 0.1, "fc2": 0.2, "fc3": 0.7}
    # One proposal per layer (the first level already lowers the cost), in visiting order.
    assert _first_pruned_layers(mlp, Greedy(), 4) == ["fc1", "fc2", "fc3"]
    assert _first_pruned_layers(mlp, Greedy(priorities=priorities), 4) == ["fc3", "fc2", "fc1"]
    # A budget of one proposal: it goes to the costly layer.
    assert _first_pruned_layers(mlp, Greedy(priorities=priorities), 2) == ["fc3"]


def test_greedy_ties_go_to_the_higher_priority(mlp):
    net, weights = mlp
    space = SearchSpace(net, weights, granularities=["unstructured"], ladder=(0.5,))

    # Every layer's first step saves the same and costs no accuracy: a three-way tie.
    def cost(masks) -> dict[str, float]:
        cycles = 100.0 - 10.0 * sum(1 for name in LAYERS if not masks[name].all())
        return {"cycles": cycles, "energy_pj": cycles}

    def chosen(strategy: Greedy) -> str:
        steps: list[dict] = []
        result = search_masks(
            net, weights, cost=cost, accuracy=lambda masks: 0.9, constraint=MaxDrop(1.0),
            strategy=strategy, objective="cycles", space=space,
            progress=lambda event: steps.append(event) if event["event"] == "step" else None,
        )  # fmt: skip
        winner = result.candidates[steps[0]["chosen"]]
        return next(n for n, (label, _) in zip(space.layers, winner.plan) if label != "dense")

    assert chosen(Greedy(max_steps=1)) == "fc1"
    assert chosen(Greedy(max_steps=1, priorities={"fc1": 0.2, "fc2": 0.5, "fc3": 0.3})) == "fc2"


def test_evolutionary_mutation_follows_the_priorities_at_the_same_mean_rate():
    choices = [tuple(("unstructured", s) for s in (0.0, 0.5, 0.9))] * 4
    plan = tuple(choices[0][0] for _ in range(4))
    weights = np.array([0.55, 0.3, 0.15, 0.0])
    rates = np.minimum(0.25 * 4 * weights, 1.0)
    rng = np.random.default_rng(0)
    flips = np.zeros(4)
    draws = 4000
    for _ in range(draws):
        child = Evolutionary._mutate(plan, choices, rates, rng)
        flips += [a != b for a, b in zip(plan, child)]
    assert flips[3] == 0
    np.testing.assert_allclose(flips / draws, weights, atol=0.03)
    assert flips.sum() / draws == pytest.approx(1.0, abs=0.05)  # rate 1/4 over 4 layers: one per child


def test_evolutionary_with_priorities_is_seeded_and_differs(mlp):
    def run(priorities: Priorities | dict | None):
        net, weights = mlp
        return search_masks(
            net, weights, cost=_layer_cost, accuracy=lambda masks: 0.9, constraint=MaxDrop(1.0),
            strategy=Evolutionary(population=6, generations=3, priorities=priorities), objective="cycles",
            seed=3,
        )  # fmt: skip

    skewed = {"fc1": 0.0, "fc2": 0.0, "fc3": 1.0}
    a, b = run(skewed), run(skewed)
    assert [r.plan for r in a.candidates] == [r.plan for r in b.candidates]
    assert [r.plan for r in a.candidates] != [r.plan for r in run(None).candidates]


@pytest.mark.parametrize(
    "priorities, message",
    [
        ({"fc1": -1.0}, "priorities must be finite weights >= 0, not all 0"),
        ({"fc1": 0.0}, "priorities must be finite weights >= 0, not all 0"),
        ("fc1", "priorities must map layer -> weight, got 'fc1'"),
        ({"fc1": "heavy"}, "priorities must map layer -> weight"),
    ],
)
def test_bad_priorities_are_named(priorities, message):
    for strategy in (Greedy, Evolutionary):
        with pytest.raises(ValueError, match=message):
            strategy(priorities=priorities)


def test_priorities_must_name_the_searched_layers(mlp):
    net, weights = mlp
    with pytest.raises(ValueError, match=r"missing \['fc3'\], unknown \['conv9'\]"):
        search_masks(
            net, weights, cost=_layer_cost, accuracy=lambda masks: 0.9, constraint=MaxDrop(1.0),
            strategy=Greedy(priorities={"fc1": 1.0, "fc2": 1.0, "conv9": 1.0}), objective="cycles",
        )  # fmt: skip


def test_loop_priorities_are_the_dense_cost_shares():
    from accelsim.arch.hardware import load_hardware
    from accelsim.timing.bottleneck import bottlenecks
    from accelsim.timing.simulate import simulate
    from workloads.models import lenet_network

    net = lenet_network()
    report = simulate(net, load_hardware("sparse_edge_16x16"), mode="analytical")
    layers = ("conv1", "conv2", "fc1", "fc2", "fc3")
    priorities = layer_priorities(report, objective="cycles", layers=layers)
    cycles = {r.layer: r.cycles for r in bottlenecks(report)}
    total = sum(cycles[name] for name in layers)
    assert priorities == pytest.approx({name: cycles[name] / total for name in layers})
    greedy = prioritised("greedy", priorities)
    assert isinstance(greedy, Greedy) and dict(greedy.priorities or ()) == priorities
    assert prioritised("uniform", priorities) == "uniform"


def test_the_loop_switch_is_checked():
    from accelsim.codesign.loop import CodesignConfig

    with pytest.raises(ValueError, match="codesign: cost_priorities must be True or False, got 'yes'"):
        CodesignConfig(cost_priorities="yes")  # type: ignore[arg-type]
