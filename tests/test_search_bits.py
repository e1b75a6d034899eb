"""The joint (sparsity, bit width) search: genes with widths, plan -> bits, and what each strategy proposes.

Cost and accuracy are toy callables: cost is kept weights x weight width, so a narrower width or
a sparser layer is cheaper by construction; accuracy loses a fixed amount per narrowing below 8
bits, so which plans are feasible is known in advance.
"""

import copy
import json
import pickle

import pytest
from hypothesis import given, settings, strategies as st

from pruning import DENSE, Evolutionary, Gene, Greedy, MaxDrop, SearchSpace, Uniform, search_masks
from pruning.candidates import describe_gene
from pruning.layer_option import LayerOption
from pruning.search_records import format_plan
from pruning.search_strategies import greedy_proposals
from workloads.models import init_weights, mlp_network
from workloads.quantization import LayerBits

WIDTHS = (8, 4, 2)


@pytest.fixture(scope="module")
def mlp():
    net = mlp_network(hidden=(16, 8))  # 64-16-8-10
    return net, init_weights(net, seed=0)


@pytest.fixture
def space(mlp):
    net, weights = mlp
    return SearchSpace(net, weights, granularities=["unstructured"], ladder=(0.5, 0.75), bits=WIDTHS)


class BitsCost:
    """Cycles = sum over layers of kept weights x weight width (8 when unquantized); records the bits."""

    def __init__(self):
        self.seen = []

    def __call__(self, masks, *, bits):
        self.seen.append(dict(bits))
        total = 0.0
        for name, mask in masks.items():
            pair = bits.get(name)
            width = 8 if pair is None or pair.weights is None else pair.weights
            total += float(mask.sum()) * width
        return {"cycles": total, "energy_pj": total}


def bits_accuracy(loss_per_step):
    """0.9 minus ``loss_per_step`` for every halving of a width below 8 (weights and activations)."""

    def accuracy(masks, *, bits):
        steps = 0
        for pair in bits.values():
            for width in (pair.weights, pair.activations):
                steps += {None: 0, 8: 0, 4: 1, 2: 2}[width]
        return 0.9 - loss_per_step * steps

    return accuracy


def test_a_gene_without_widths_is_the_plain_pair():
    gene = Gene("unstructured", 0.5)
    assert gene == ("unstructured", 0.5) and hash(gene) == hash(("unstructured", 0.5))
    assert repr(gene) == repr(("unstructured", 0.5)) and len(gene) == 2
    assert gene.weight_bits is None and gene.activation_bits is None
    assert DENSE == ("dense", 0.0)


def test_a_gene_with_widths_round_trips_through_json_and_the_space(space):
    gene = Gene("unstructured", 0.5, 4, 8)
    assert tuple(gene) == ("unstructured", 0.5, 4, 8) and gene != ("unstructured", 0.5)
    plan = space.with_gene(space.dense_plan, "fc2", gene)
    back = tuple(tuple(g) for g in json.loads(json.dumps([list(g) for g in plan])))
    assert space.normalize(back) == plan
    assert pickle.loads(pickle.dumps(gene)) == gene and copy.deepcopy(DENSE) == DENSE
    assert describe_gene(gene) == {
        "granularity": "unstructured",
        "sparsity": 0.5,
        "weight_bits": 4,
        "activation_bits": 8,
    }
    assert format_plan(space.layers, plan) == "fc1=dense fc2=unstructured@0.5/w4a8 fc3=dense"


def test_space_bits_lists_only_layers_with_a_width(space):
    plan = space.with_gene(space.dense_plan, "fc1", Gene("dense", 0.0, None, 4))
    assert space.bits(plan) == {"fc1": LayerBits(weights=None, activations=4)}
    assert space.bits(space.uniform_plan("unstructured", 0.5, 2)) == {
        name: LayerBits(weights=2, activations=2) for name in ("fc1", "fc2", "fc3")
    }
    assert space.bits(space.dense_plan) == {}


def test_a_width_outside_the_space_or_below_two_is_a_named_error(space, mlp):
    with pytest.raises(ValueError, match=r"layer 'fc1': weight_bits 6 is not one of the space's widths"):
        space.check_gene("fc1", ("dense", 0.0, 6, None))
    with pytest.raises(ValueError, match=r"search: bits must be an int bit width in \[2, 16\].*got 1"):
        SearchSpace(*mlp, bits=(8, 1))
    with pytest.raises(ValueError, match=r"LayerOption: activation_bits must be .* got 1"):
        LayerOption(activation_bits=1)


def test_every_layer_may_take_every_width_pair(space):
    choices = space.choices("fc1")
    assert Gene("unstructured", 0.75, 2, 4) in choices and Gene("dense", 0.0, 8, None) in choices
    # (dense + 2 levels) x (unquantized + 3 widths) for weights x the same for activations
    assert len(choices) == 3 * 4 * 4 and len(set(choices)) == len(choices)


def test_greedy_proposes_one_width_step_down_per_operand(space):
    ladders = greedy_proposals(space, space.dense_plan)
    fc2 = [ladder for ladder in ladders if ladder[0][1] != DENSE and ladder[0][0] == DENSE]
    weights = [[p[1] for p in ladder] for ladder in fc2 if ladder[0][1].weight_bits is not None]
    assert weights == [
        [Gene("dense", 0.0, 8, None), Gene("dense", 0.0, 4, None), Gene("dense", 0.0, 2, None)]
    ]
    # A sparsity move keeps the layer's widths.
    plan = space.with_gene(space.dense_plan, "fc1", Gene("dense", 0.0, 4, 4))
    moves = [p[0] for ladder in greedy_proposals(space, plan) for p in ladder]
    assert Gene("unstructured", 0.5, 4, 4) in moves
    assert Gene("dense", 0.0, 2, 4) in moves and Gene("dense", 0.0, 4, 2) in moves


def test_greedy_lowers_widths_when_they_pay_and_accuracy_allows(mlp, space):
    cost = BitsCost()
    result = search_masks(
        *mlp, cost=cost, accuracy=bits_accuracy(0.001), constraint=MaxDrop(1.0),
        strategy=Greedy(), space=space,
    )  # fmt: skip
    assert result.feasible and all(gene.weight_bits == 2 for gene in result.best_plan)
    assert any(bits for bits in cost.seen) and {} in cost.seen  # the dense plan is unquantized


def test_greedy_keeps_widths_the_constraint_forbids(mlp, space):
    # One halving costs 2 points: nothing below 8 bits is feasible, so only sparsity may move.
    result = search_masks(
        *mlp, cost=BitsCost(), accuracy=bits_accuracy(0.02), constraint=MaxDrop(1.0), strategy=Greedy(),
        space=space,
    )  # fmt: skip
    assert all(gene.weight_bits in (None, 8) for gene in result.best_plan)


def test_evolutionary_mutates_over_the_joint_choices(mlp, space):
    result = search_masks(
        *mlp, cost=BitsCost(), accuracy=bits_accuracy(0.001), constraint=MaxDrop(1.0),
        strategy=Evolutionary(population=8, generations=3), space=space, seed=3,
    )  # fmt: skip
    widths = {gene.weight_bits for record in result.candidates for gene in record.plan}
    activations = {gene.activation_bits for record in result.candidates for gene in record.plan}
    assert {4, 2} <= widths and {4, 2} <= activations


def test_a_mutation_changes_one_part_of_a_gene(space):
    import numpy as np

    plan = space.uniform_plan("unstructured", 0.5, 4)
    choices = [space.choices(name) for name in space.layers]
    for seed in range(20):
        child = Evolutionary._mutate(plan, choices, 1.0, np.random.default_rng(seed))
        for before, after in zip(plan, child):
            changed = [
                tuple(before[:2]) != tuple(after[:2]),
                before.weight_bits != after.weight_bits,
                before.activation_bits != after.activation_bits,
            ]
            assert sum(changed) == 1, (before, after)


def test_uniform_covers_each_width_with_and_without_pruning(mlp, space):
    result = search_masks(
        *mlp, cost=BitsCost(), accuracy=bits_accuracy(0.001), constraint=MaxDrop(1.0),
        strategy=Uniform(), space=space,
    )  # fmt: skip
    plans = {record.plan for record in result.candidates}
    for width in (None, *WIDTHS):
        assert space.uniform_plan("dense", 0.0, width) in plans
        for level in (0.5, 0.75):
            assert space.uniform_plan("unstructured", level, width) in plans
    assert len(plans) == 4 * 3  # dense, and each of 2 levels, at 4 width settings
    # Uniform int2 loses 6 operands x 2 steps x 0.1 point = 1.2 points: int4 is the narrowest allowed.
    assert result.best_plan == space.uniform_plan("unstructured", 0.75, 4)


def test_a_pruning_only_space_calls_cost_and_accuracy_with_masks_alone(mlp):
    space = SearchSpace(*mlp, granularities=["unstructured"], ladder=(0.5,))
    result = search_masks(
        *mlp, cost=lambda m: {"cycles": float(m.nnz), "energy_pj": 1.0}, accuracy=lambda m: 0.9,
        constraint=MaxDrop(1.0), strategy=Uniform(), space=space,
    )  # fmt: skip
    assert all(len(gene) == 2 for record in result.candidates for gene in record.plan)
    assert "fc1.weight_bits" not in result.candidates[1].to_record()


@settings(max_examples=30, deadline=None)
@given(picks=st.lists(st.integers(min_value=0, max_value=10_000), min_size=3, max_size=3))
def test_any_joint_plan_round_trips_and_its_bits_are_its_genes_widths(mlp, picks):
    net, weights = mlp
    space = SearchSpace(net, weights, granularities=["unstructured"], ladder=(0.5, 0.75), bits=WIDTHS)
    plan = tuple(space.choices(name)[i % len(space.choices(name))] for name, i in zip(space.layers, picks))
    assert space.normalize(tuple(tuple(json.loads(json.dumps(list(g)))) for g in plan)) == plan
    bits = space.bits(plan)
    for name, gene in zip(space.layers, plan):
        widths = (gene.weight_bits, gene.activation_bits)
        expected = None if widths == (None, None) else LayerBits(weights=widths[0], activations=widths[1])
        assert bits.get(name) == expected
