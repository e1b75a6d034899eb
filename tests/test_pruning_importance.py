import numpy as np
import pytest

from pruning import (
    IMPORTANCES,
    APoZ,
    Entropy,
    Magnitude,
    apoz,
    entropy,
    get_importance,
    gradient,
    magnitude_l1,
    magnitude_l2,
    mean_activation,
    random_importance,
    taylor,
)

W = {
    "conv": np.array([[[[1.0, -2.0]]], [[[0.0, 3.0]]]]),
    "conv.bias": np.ones(2),
    "fc": np.array([[-1.0, 0.5]]),
}
G = {"conv": np.full((2, 1, 1, 2), -2.0), "fc": np.array([[4.0, -1.0]])}


def test_weight_and_gradient_scores():
    np.testing.assert_array_equal(magnitude_l1(W)["conv"].ravel(), [1, 2, 0, 3])
    np.testing.assert_array_equal(magnitude_l2(W)["conv"].ravel(), [1, 4, 0, 9])
    assert magnitude_l1.norm_power == 1 and magnitude_l2.norm_power == 2
    assert set(magnitude_l1(W)) == {"conv", "fc"}  # biases are never scored
    np.testing.assert_array_equal(gradient(W, grads=G)["fc"], [[4.0, 1.0]])
    np.testing.assert_array_equal(taylor(W, grads=G)["fc"], [[4.0, 0.5]])
    for name, score in magnitude_l1(W).items():
        assert score.shape == W[name].shape and score.dtype == np.float64


def test_activation_scores_per_channel():
    # conv outputs (N=2, C=2, H=1, W=2): channel 0 always zero, channel 1 half zero.
    acts = {
        "conv": np.array([[[[0.0, 0.0]], [[2.0, 0.0]]], [[[0.0, 0.0]], [[4.0, 0.0]]]]),
        "fc": np.ones((3, 1)),
    }
    only_conv = {"conv": W["conv"]}
    mean = mean_activation(only_conv, activations=acts)["conv"]
    np.testing.assert_allclose(mean.reshape(2, -1).sum(axis=1), [0.0, 1.5])  # rows sum to the statistic
    kept = apoz(only_conv, activations=acts)["conv"]
    np.testing.assert_allclose(kept.reshape(2, -1).sum(axis=1), [0.0, 0.5])
    ent = entropy(only_conv, activations=acts)["conv"]
    np.testing.assert_allclose(ent.reshape(2, -1).sum(axis=1), [0.0, 1.0])  # two equally likely bins
    linear = mean_activation({"fc": W["fc"]}, activations={"fc": np.full((5, 3, 1), -2.0)})["fc"]
    np.testing.assert_allclose(linear, [[1.0, 1.0]])


def test_missing_or_misshapen_inputs_are_named():
    with pytest.raises(ValueError, match="Gradient.*grads"):
        gradient(W)
    with pytest.raises(ValueError, match="'fc'"):
        taylor(W, grads={"conv": G["conv"]})
    with pytest.raises(ValueError, match=r"'conv'.*\(3,\)"):
        gradient({"conv": W["conv"]}, grads={"conv": np.ones(3)})
    with pytest.raises(ValueError, match=r"APoZ.*'conv'.*\(N, 2, H, W\)"):
        APoZ()({"conv": W["conv"]}, activations={"conv": np.ones((4, 3, 2, 2))})
    with pytest.raises(ValueError, match="MeanActivation.*activations"):
        mean_activation(W)
    with pytest.raises(ValueError, match="'fc'.*NaN"):
        magnitude_l1({"fc": np.array([[np.nan]])})
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        Magnitude(3)
    with pytest.raises(ValueError, match="bins"):
        Entropy(bins=1)
    with pytest.raises(ValueError, match="unknown importance 'l3'"):
        get_importance("l3")


def test_random_is_seeded_deterministic_and_order_free():
    a = random_importance(W, rng=3)
    b = random_importance(dict(reversed(list(W.items()))), rng=3)
    c = random_importance(W, rng=4)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv"], c["conv"])
    g = np.random.default_rng(3)
    np.testing.assert_array_equal(random_importance(W, rng=g)["conv"], a["conv"])
    with pytest.raises(ValueError, match="rng"):
        random_importance(W)


def test_registry_covers_every_criterion():
    assert set(IMPORTANCES) == {
        "l1",
        "l2",
        "gradient",
        "taylor",
        "mean_activation",
        "apoz",
        "entropy",
        "random",
    }
    assert get_importance("taylor") is taylor


def test_fixed_scores_return_what_they_hold_and_name_what_is_missing():
    from pruning.importance import FixedScores

    held = {"a": np.arange(6.0).reshape(2, 3)}
    fixed = FixedScores(held, norm_power=2)
    weights = {"a": np.ones((2, 3)), "a.bias": np.ones(2)}
    assert set(fixed(weights)) == {"a"} and np.array_equal(fixed(weights)["a"], held["a"])
    assert fixed.norm_power == 2
    with pytest.raises(ValueError, match="FixedScores: scores have no entry for layer 'b'"):
        fixed({"b": np.ones((2, 3))})
    with pytest.raises(
        ValueError, match=r"FixedScores: layer 'a': scores shape \(2, 3\) != weight shape \(3, 2\)"
    ):
        fixed({"a": np.ones((3, 2))})
