"""SearchSpace and Option: which genes each layer may take, and plan -> masks."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from pruning_networks import small_residual

from pruning import DENSE, NM, Block, Channel, LayerOption, Masks, Option, SearchSpace, Unstructured
from workloads.models import init_weights, lenet_network

FAST = settings(max_examples=40, deadline=None)
ALL_OPTIONS = ("unstructured", "channel", Block((4, 4)), NM(2, 4))


@pytest.fixture(scope="module")
def lenet():
    net = lenet_network()
    return net, init_weights(net, seed=0)


@pytest.fixture(scope="module")
def residual():
    net = small_residual()
    return net, init_weights(net, seed=3)


# ------------------------------------------------------------------------------------ options


def test_labels_are_short_and_stable():
    labels = [g.label for g in (Unstructured(), Channel(), Block((4, 2)), NM(2, 4))]
    assert labels == ["unstructured", "channel", "block4x2", "nm2:4"]


def test_option_levels_come_from_the_ladder_except_nm():
    assert Option.make("unstructured", (0.2, 0.5)).levels == (0.2, 0.5)
    assert Option.make(NM(1, 4), (0.2, 0.5)).levels == (0.75,)
    option = Option.make(Block((2, 2)), (0.3,))
    assert option.layer_option(0.3) == LayerOption(structure=Block((2, 2)), amount=0.3)
    assert Option.make(option) is option


@pytest.mark.parametrize(
    "spec, ladder, message",
    [
        ("unstructured", (), "at least one"),
        ("unstructured", (0.5, 0.2), "strictly increasing"),
        ("unstructured", (0.2, 0.2), "strictly increasing"),
        ("unstructured", (0.0, 0.5), r"\(0, 1\)"),
        ("unstructured", (0.5, 1.0), r"\(0, 1\)"),
        ("unstructured", ("0.5",), "'0.5'"),
        (NM(4, 4), (0.5,), "0 < n < m"),
        (NM(0, 4), (0.5,), "0 < n < m"),
        ("block", (0.5,), "block_shape"),
        ("triangular", (0.5,), "'triangular'"),
    ],
)
def test_bad_options_are_refused(spec, ladder, message):
    with pytest.raises(ValueError, match=message):
        Option.make(spec, ladder)


def test_option_constructor_checks_its_levels():
    with pytest.raises(ValueError, match="one level"):
        Option(NM(2, 4), (0.25,))
    with pytest.raises(ValueError, match="granularity object"):
        Option("unstructured", (0.5,))
    assert Option(Unstructured(), [0.1, 0.2]).levels == (0.1, 0.2)


# -------------------------------------------------------------------------------------- space


def test_only_options_that_apply_are_offered(lenet):
    net, weights = lenet
    space = SearchSpace(net, weights, granularities=ALL_OPTIONS)
    assert space.layers == ("conv1", "conv2", "fc1", "fc2", "fc3")
    # conv1's GEMM view is (6, 9): no 4x4 tiling, no 4-wide N:M groups.
    assert space.allowed["conv1"] == ("unstructured", "channel")
    # fc3's channels are the classes, which leave the network.
    assert space.allowed["fc3"] == ("unstructured", "nm2:4")
    assert space.allowed["fc1"] == ("unstructured", "channel", "block4x4", "nm2:4")


def test_choices_start_dense_then_each_option_ascending(lenet):
    net, weights = lenet
    space = SearchSpace(net, weights, granularities=("unstructured", NM(2, 4)), ladder=(0.25, 0.5))
    assert space.choices("fc3") == (DENSE, ("unstructured", 0.25), ("unstructured", 0.5), ("nm2:4", 0.5))
    assert space.next_level(DENSE, "nm2:4") == 0.5
    assert space.next_level(("unstructured", 0.25), "unstructured") == 0.5
    assert space.next_level(("unstructured", 0.5), "nm2:4") is None


def test_the_dense_plan_gives_dense_masks(lenet):
    net, weights = lenet
    space = SearchSpace(net, weights)
    masks = space.masks(space.dense_plan)
    assert masks == Masks.dense(net) and space.macs_density(masks) == 1.0


def test_uniform_plan_prunes_every_layer_it_applies_to(lenet):
    net, weights = lenet
    space = SearchSpace(net, weights)
    plan = space.uniform_plan("block4x4", 0.5)
    assert [g[0] for g in plan] == ["dense", "dense", "block4x4", "block4x4", "dense"]
    densities = space.masks(plan).densities()
    assert densities["conv1"] == 1.0 and densities["fc1"] == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="'block4x4' at 0.33"):
        space.uniform_plan("block4x4", 0.33)
    with pytest.raises(ValueError, match="'channel'"):
        space.uniform_plan("channel", 0.5)


def test_searched_layers_can_be_restricted(lenet):
    net, weights = lenet
    space = SearchSpace(net, weights, layers=["fc2", "fc1"])
    assert space.layers == ("fc1", "fc2")
    assert SearchSpace(net, weights, layers="fc1").layers == ("fc1",)
    masks = space.masks(space.uniform_plan("unstructured", 0.5))
    assert masks.density_of("conv1") == 1.0 and masks.density_of("fc1") == 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layers": ["pool1"]}, "'pool1'"),
        ({"layers": ["nope"]}, "'nope'"),
        ({"granularities": ()}, "at least one"),
        ({"granularities": ("unstructured", Unstructured())}, "repeat"),
        ({"granularities": NM(3, 7), "layers": ["conv1"]}, "no option"),
    ],
)
def test_bad_spaces_are_refused(lenet, kwargs, message):
    net, weights = lenet
    with pytest.raises(ValueError, match=message):
        SearchSpace(net, weights, **kwargs)


def test_missing_weights_are_named(lenet):
    net, weights = lenet
    with pytest.raises(ValueError, match="'fc2'"):
        SearchSpace(net, {k: v for k, v in weights.items() if k != "fc2"})


@pytest.mark.parametrize(
    "plan, message",
    [
        ((DENSE,) * 4, "needs 5 genes, got 4"),
        ((("block4x4", 0.5),) + (DENSE,) * 4, "'block4x4' is not one of"),
        ((("unstructured", 0.33),) + (DENSE,) * 4, "sparsity 0.33"),
        ((("dense", 0.5),) + (DENSE,) * 4, "dense gene"),
        (("unstructured",) + (DENSE,) * 4, "a gene is"),
        ("dense", "needs 5 genes"),
    ],
)
def test_bad_plans_are_refused(lenet, plan, message):
    net, weights = lenet
    space = SearchSpace(net, weights)
    with pytest.raises(ValueError, match=message):
        space.masks(plan)


def test_coupled_channel_genes_share_the_largest_sparsity(residual):
    net, weights = residual
    space = SearchSpace(net, weights, granularities=("unstructured", "channel"), ladder=(0.25, 0.5))
    assert space.layers == ("stem", "a", "b", "fc")
    plan = space.with_gene(
        space.with_gene(space.dense_plan, "stem", ("channel", 0.25)), "b", ("channel", 0.5)
    )
    assert plan == (("channel", 0.5), DENSE, ("channel", 0.5), DENSE)
    masks = space.masks(plan)
    rows = lambda name: masks[name].reshape(masks[name].shape[0], -1).any(axis=1)  # noqa: E731
    assert np.array_equal(rows("stem"), rows("b")) and rows("stem").sum() == 4
    # A channel gene next to an unstructured one is left alone: only channel genes are coupled.
    mixed = space.normalize((("channel", 0.25), DENSE, ("unstructured", 0.5), DENSE))
    assert mixed == (("channel", 0.25), DENSE, ("unstructured", 0.5), DENSE)


# --------------------------------------------------------------------------------- properties


@st.composite
def plan_and_layer(draw, space):
    plan = tuple(draw(st.sampled_from(space.choices(name))) for name in space.layers)
    return plan, draw(st.sampled_from(space.layers))


LENET = lenet_network()
LENET_SPACE = SearchSpace(LENET, init_weights(LENET, seed=0), granularities=ALL_OPTIONS)


@FAST
@given(plan_and_layer(LENET_SPACE))
def test_any_plan_gives_valid_masks_and_is_a_pure_function(case):
    plan, _ = case
    masks = LENET_SPACE.masks(plan)
    masks.check_network(LENET)
    assert masks == LENET_SPACE.masks(plan)
    assert 0.0 <= LENET_SPACE.macs_density(masks) <= 1.0


def test_raising_an_upstream_channel_gene_leaves_downstream_channel_choices_alone():
    # Hypothesis found this: conv1 from 10% to 30% of its channels, with conv2 at 30% of its own.
    # conv2 used to rank its channels on the inputs conv1 left it, so it pruned other channels and
    # fc1 (a dense gene) got back inputs it had lost.
    plan = (DENSE, ("channel", 0.3), DENSE, DENSE, DENSE)
    before = LENET_SPACE.masks(LENET_SPACE.with_gene(plan, "conv1", ("channel", 0.1)))
    after = LENET_SPACE.masks(LENET_SPACE.with_gene(plan, "conv1", ("channel", 0.3)))
    for layer in before:
        assert not (after[layer] & ~before[layer]).any(), layer
    assert after["conv1"].sum() < before["conv1"].sum() and after["conv2"].sum() < before["conv2"].sum()
    assert np.array_equal(after["fc1"], before["fc1"])


@FAST
@given(plan_and_layer(LENET_SPACE), st.data())
def test_raising_a_layers_sparsity_never_revives_its_weights(case, data):
    plan, name = case
    label = data.draw(st.sampled_from(LENET_SPACE.allowed[name]))
    levels = LENET_SPACE.options[label].levels
    low, high = sorted(data.draw(st.lists(st.sampled_from(levels), min_size=2, max_size=2)))
    before = LENET_SPACE.masks(LENET_SPACE.with_gene(plan, name, (label, low)))
    after = LENET_SPACE.masks(LENET_SPACE.with_gene(plan, name, (label, high)))
    assert not (after[name] & ~before[name]).any()
    for layer in before:
        if label != "channel":
            assert np.array_equal(after[layer], before[layer]) or layer == name
        elif LENET_SPACE.describe(plan).get(layer, {}).get("granularity", "dense") == "dense":
            # A consumer with no gene of its own just loses the removed input channels.
            assert not (after[layer] & ~before[layer]).any()


@FAST
@given(st.sampled_from(LENET_SPACE.layers), st.sampled_from(LENET_SPACE.options["unstructured"].levels))
def test_unstructured_genes_prune_their_fraction_of_one_layer_only(name, sparsity):
    plan = LENET_SPACE.with_gene(LENET_SPACE.dense_plan, name, ("unstructured", sparsity))
    densities = LENET_SPACE.masks(plan).densities()
    size = LENET[name].weight_count
    assert densities[name] == (size - round(sparsity * size)) / size
    assert all(d == 1.0 for other, d in densities.items() if other != name)
