import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pruning import (
    NM,
    Block,
    Channel,
    Magnitude,
    Masks,
    Unstructured,
    compute_global_masks,
    compute_mask,
    magnitude_l2,
    plan_layers,
    prune,
    random_importance,
)
from workloads.layers import Conv2d, Linear
from workloads.network import Network

FAST = settings(max_examples=60, deadline=None)

GRANULARITIES = [Unstructured(), Block((2, 3)), Channel()]


@st.composite
def layer_case(draw):
    """Scores and a random current mask of a (4i, 12j) weight: tiled by Block((2, 3)) and m in 2, 3, 4, 6."""
    rows = 4 * draw(st.integers(1, 3))
    cols = 12 * draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((rows, cols)) ** 2
    if draw(st.booleans()):
        scores = np.round(scores, 1)  # ties
    current = rng.random((rows, cols)) < draw(st.floats(0.3, 1.0))
    return scores, current


@FAST
@given(layer_case(), st.sampled_from(GRANULARITIES), st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_pruning_never_revives(case, granularity, amounts):
    scores, mask = case
    for amount in sorted(amounts):
        new = compute_mask(scores, mask, amount=amount, granularity=granularity)
        assert not (new & ~mask).any()
        mask = new


@FAST
@given(layer_case(), st.sampled_from(GRANULARITIES), st.floats(0, 1), st.floats(0, 1))
def test_density_is_monotone_in_amount(case, granularity, a, b):
    scores, current = case
    low, high = sorted((a, b))
    dense_low = compute_mask(scores, current, amount=low, granularity=granularity).mean()
    dense_high = compute_mask(scores, current, amount=high, granularity=granularity).mean()
    assert dense_high <= dense_low


@FAST
@given(layer_case(), st.floats(0, 1))
def test_already_pruned_count_toward_the_amount(case, amount):
    scores, current = case
    new = compute_mask(scores, current, amount=amount)
    expected_pruned = max(round(amount * scores.size), int((~current).sum()))
    assert int((~new).sum()) == expected_pruned


def test_amount_float_fraction_int_count():
    scores = np.arange(10.0).reshape(2, 5)
    np.testing.assert_array_equal(compute_mask(scores, amount=3).ravel(), [0, 0, 0] + [1] * 7)
    assert (~compute_mask(scores, amount=0.25)).sum() == 2  # round(2.5) -> 2, as torch
    assert compute_mask(scores, amount=0).all() and not compute_mask(scores, amount=1.0).any()
    rows = compute_mask(scores, amount=1, granularity="channel")
    assert not rows[0].any() and rows[1].all()


def test_lowest_index_breaks_ties():
    mask = compute_mask(np.ones((2, 4)), amount=3)
    np.testing.assert_array_equal(mask.ravel(), [0, 0, 0, 1, 1, 1, 1, 1])


def test_compute_mask_is_pure():
    scores = np.random.default_rng(0).random((4, 6))
    current = np.ones((4, 6), bool)
    current[0, 0] = False
    before = (scores.copy(), current.copy())
    compute_mask(scores, current, amount=0.5)
    np.testing.assert_array_equal(scores, before[0])
    np.testing.assert_array_equal(current, before[1])


@FAST
@given(layer_case(), st.sampled_from([(1, 2), (2, 4), (1, 3), (3, 6), (0, 2), (2, 2)]))
def test_nm_pattern_exact(case, nm):
    scores, current = case
    n, m = nm
    new = compute_mask(scores, current, amount=None, granularity=NM(n, m))
    assert not (new & ~current).any()
    kept = new.reshape(new.shape[0], -1, m).sum(axis=-1)
    alive = current.reshape(current.shape[0], -1, m).sum(axis=-1)
    np.testing.assert_array_equal(kept, np.minimum(alive, n))  # at most n; exactly n when n are alive
    # The kept ones are the best alive ones of their group.
    s = np.where(current, scores, -np.inf).reshape(new.shape[0], -1, m)
    k = new.reshape(s.shape)
    worst_kept = np.where(k, s, np.inf).min(axis=-1)
    best_dropped = np.where(~k & current.reshape(s.shape), s, -np.inf).max(axis=-1)
    assert (worst_kept >= best_dropped).all()


def test_nm_on_conv_uses_the_gemm_view():
    scores = np.random.default_rng(1).random((8, 4, 3, 3))  # reduction 36
    mask = compute_mask(scores, amount=None, granularity=NM(2, 4), name="c")
    assert (mask.reshape(8, 9, 4).sum(-1) == 2).all()


@FAST
@given(layer_case(), st.floats(0, 1))
def test_block_masks_are_constant_within_blocks(case, amount):
    scores, _ = case  # a dense start: partial blocks would only come from a non-block current mask
    mask = compute_mask(scores, amount=amount, granularity=Block((2, 3)))
    blocks = mask.reshape(mask.shape[0] // 2, 2, mask.shape[1] // 3, 3).swapaxes(1, 2).reshape(-1, 6)
    assert (blocks.all(axis=1) | ~blocks.any(axis=1)).all()


def test_block_scores_are_group_norms():
    # Block (0, 0) has two big weights, block (0, 1) many medium ones: L1 and L2 disagree.
    w = np.array([[5.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])
    l1 = compute_mask(Magnitude(1)({"w": w})["w"], amount=1, granularity=Block((2, 2)))
    l2 = compute_mask(magnitude_l2({"w": w})["w"], amount=1, granularity=Block((2, 2)), norm_power=2)
    assert not l1[:, :2].any() and l1[:, 2:].all()  # L1: 5 < 8
    assert l2[:, :2].all() and not l2[:, 2:].any()  # L2: 5 > 4


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"'conv3'.*block_shape=\(3, 4\).*\(8, 36\)"):
        compute_mask(np.ones((8, 4, 3, 3)), amount=0.5, granularity=Block((3, 4)), name="conv3")
    with pytest.raises(ValueError, match="'fc'.*m=4.*10"):
        compute_mask(np.ones((3, 10)), amount=None, granularity=NM(2, 4), name="fc")
    with pytest.raises(ValueError, match="n must be.*m=4.*5"):
        NM(5, 4)
    with pytest.raises(ValueError, match="'fc'.*amount does not apply"):
        compute_mask(np.ones((3, 8)), amount=0.5, granularity=NM(2, 4), name="fc")
    with pytest.raises(ValueError, match="'fc'.*fraction.*1.5"):
        compute_mask(np.ones((3, 8)), amount=1.5, name="fc")
    with pytest.raises(ValueError, match=r"'fc'.*count.*\[0, 24\].*25"):
        compute_mask(np.ones((3, 8)), amount=25, name="fc")
    with pytest.raises(ValueError, match="'fc'.*True"):
        compute_mask(np.ones((3, 8)), amount=True, name="fc")
    with pytest.raises(ValueError, match="'fc'.*NaN"):
        compute_mask(np.full((3, 8), np.nan), amount=0.5, name="fc")
    with pytest.raises(ValueError, match="'fc'.*dtype bool"):
        compute_mask(np.ones((3, 8)), np.ones((3, 8)), amount=0.5, name="fc")
    with pytest.raises(ValueError, match="granularity must be one of"):
        compute_mask(np.ones((3, 8)), amount=0.5, granularity="rows")
    with pytest.raises(ValueError, match="block_shape must be a pair"):
        Block((0, 2))


# ------------------------------------------------------------------------------- local vs global


def test_global_and_local_differ_on_scaled_layers():
    # "small" holds small weights, "big" large ones. Raw global scores would prune "small" first;
    # normalised global ranks within each layer's scale; local prunes each layer alike.
    rng = np.random.default_rng(0)
    small = rng.random((4, 25)) * 0.01
    big = rng.random((4, 25)) * 100.0
    small[0, :10] = 0.0  # plus a spread of relative sizes that differs between the layers
    scores = {"small": small, "big": big}
    raw = compute_global_masks(scores, amount=0.5, normalize=None)
    assert not raw["small"].any() and raw["big"].all()
    normed = compute_global_masks(scores, amount=0.5, normalize="mean")
    assert normed["small"].sum() < normed["big"].sum()  # the zeroed weights make "small" relatively weaker
    assert normed["small"].sum() > 0 and normed["big"].sum() < 100
    assert (~normed["small"]).sum() + (~normed["big"]).sum() == 100
    local = {name: compute_mask(s, amount=0.5) for name, s in scores.items()}
    assert local["small"].sum() == local["big"].sum() == 50
    for how in ("max", "l2"):
        masks = compute_global_masks(scores, amount=0.5, normalize=how)
        assert (~masks["small"]).sum() + (~masks["big"]).sum() == 100


def test_global_never_revives_and_counts_pruned():
    scores = {"a": np.arange(1.0, 9.0).reshape(2, 4), "b": np.arange(1.0, 9.0).reshape(2, 4)}
    current = {"a": np.zeros((2, 4), bool), "b": np.ones((2, 4), bool)}
    masks = compute_global_masks(scores, current, amount=0.5)
    assert not masks["a"].any() and masks["b"].all()  # 8 of 16 already pruned: nothing more
    with pytest.raises(ValueError, match="N:M"):
        compute_global_masks(scores, amount=None, granularity=NM(2, 4))
    with pytest.raises(ValueError, match="normalize"):
        compute_global_masks(scores, amount=0.5, normalize="median")


# ----------------------------------------------------------------------------------- prune()


@pytest.fixture
def mlp():
    return Network.sequential(
        "mlp",
        [
            Linear("fc1", 16, 12, activation="relu"),
            Linear("fc2", 12, 8, activation="relu"),
            Linear("fc3", 8, 4),
        ],
    )


def _weights(net, seed=0):
    rng = np.random.default_rng(seed)
    return {layer.name: rng.standard_normal(layer.weight_shape) for layer in net if layer.weight_shape}


def test_prune_defaults_and_overrides(mlp):
    w = _weights(mlp)
    w["fc1.bias"] = np.ones(12)
    masks = prune(
        mlp, w, amount=0.5,
        overrides={"fc2": {"amount": 0.25}, "fc3": {"granularity": "nm", "n": 1, "m": 2}},
    )  # fmt: skip
    assert isinstance(masks, Masks) and list(masks) == ["fc1", "fc2", "fc3"]
    assert (
        masks.density_of("fc1") == 0.5 and masks.density_of("fc2") == 0.75 and masks.density_of("fc3") == 0.5
    )
    assert (masks["fc3"].reshape(4, 4, 2).sum(-1) == 1).all()


def test_prune_layers_subset_and_current(mlp):
    w = _weights(mlp)
    first = prune(mlp, w, amount=0.5, layers=["fc2"])
    assert first.density_of("fc1") == 1.0 and first.density_of("fc2") == 0.5
    second = prune(mlp, w, amount=0.75, current=first)
    assert not (second["fc2"] & ~first["fc2"]).any() and second.density_of("fc2") == 0.25


def test_prune_global_differs_from_local(mlp):
    w = _weights(mlp)
    w["fc1"] = w["fc1"] * 100.0
    local = prune(mlp, w, amount=0.5)
    raw = prune(mlp, w, amount=0.5, scope="global", normalize=None)
    assert set(local.densities().values()) == {0.5}
    assert raw.density_of("fc1") > 0.75 and raw.density_of("fc2") < 0.25 and raw.nnz == local.nnz
    # An override takes a layer out of the global pool.
    mixed = prune(mlp, w, amount=0.5, scope="global", normalize=None, overrides={"fc1": {"amount": 0.5}})
    assert mixed.density_of("fc1") == 0.5


def test_prune_bad_inputs_named(mlp):
    w = _weights(mlp)
    with pytest.raises(ValueError, match="'ghost'"):
        prune(mlp, w, amount=0.5, overrides={"ghost": {"amount": 0.1}})
    with pytest.raises(ValueError, match=r"overrides\['fc1'\].*\['sparsity'\]"):
        prune(mlp, w, amount=0.5, overrides={"fc1": {"sparsity": 0.1}})
    with pytest.raises(ValueError, match=r"overrides\['fc1'\].*N:M"):
        prune(mlp, w, amount=0.5, overrides={"fc1": {"granularity": "nm", "n": 2, "m": 4, "amount": 0.5}})
    with pytest.raises(ValueError, match="'fc3'.*m=3.*8"):
        prune(mlp, w, amount=0.5, overrides={"fc3": {"granularity": "nm", "n": 1, "m": 3}})
    with pytest.raises(ValueError, match="scope"):
        prune(mlp, w, amount=0.5, scope="everywhere")
    with pytest.raises(ValueError, match="'fc2'"):
        prune(mlp, {"fc1": w["fc1"], "fc3": w["fc3"]}, amount=0.5)
    with pytest.raises(ValueError, match=r"'fc2'.*\(3, 3\)"):
        prune(mlp, {**w, "fc2": np.ones((3, 3))}, amount=0.5)
    with pytest.raises(ValueError, match="rng"):
        prune(mlp, w, amount=0.5, importance=random_importance)


def test_plan_resolves_defaults_plus_overrides(mlp):
    plans = plan_layers(mlp, amount=0.3, granularity=Block((2, 4)), overrides={"fc3": {"amount": 2}})
    assert plans["fc1"].granularity == Block((2, 4)) and plans["fc1"].amount == 0.3
    assert plans["fc3"].amount == 2 and plans["fc3"].overridden and not plans["fc1"].overridden
    nm = plan_layers(mlp, amount=0.3, granularity=NM(2, 4))
    assert all(plan.amount is None for plan in nm.values())


def test_prune_random_is_seeded(mlp):
    w = _weights(mlp)
    a = prune(mlp, w, amount=0.5, importance=random_importance, rng=7)
    b = prune(mlp, w, amount=0.5, importance=random_importance, rng=7)
    c = prune(mlp, w, amount=0.5, importance=random_importance, rng=8)
    assert a == b and a != c


def test_conv_block_prune_on_gemm_view():
    net = Network.sequential("c", [Conv2d("conv", 4, 8, 3, 6), Linear("fc", 8 * 16, 2)])
    masks = prune(net, _weights(net), amount=0.5, granularity=Block((4, 9)), layers=["conv"])
    view = masks["conv"].reshape(2, 4, 4, 9).swapaxes(1, 2).reshape(8, 36)
    assert masks.density_of("conv") == 0.5 and (view.all(axis=1) | ~view.any(axis=1)).all()
