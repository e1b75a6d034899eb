"""The importance criteria of a co-design run (`accelsim.codesign.criteria`): inputs from the
training split, scores fixed once, deterministic by seed."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.codesign.criteria import IMPORTANCES, MAX_EXAMPLES, scorer
from pruning import FixedScores
from pruning.importance import magnitude_l1
from workloads.datasets import load_digits
from workloads.importance_inputs import numpy_layer_outputs, training_subset
from workloads.models import lenet_digits


@pytest.fixture(scope="module")
def setup():
    return lenet_digits(seed=2), load_digits()


def test_weight_only_criteria_are_passed_through(setup):
    model, dataset = setup
    assert scorer("l1", model, dataset, seed=0) is magnitude_l1
    l2 = scorer("l2", model, dataset, seed=0)
    assert l2.norm_power == 2 and not isinstance(l2, FixedScores)


@pytest.mark.parametrize("name", ["gradient", "taylor", "apoz", "mean_activation", "entropy", "random"])
def test_data_driven_criteria_are_fixed_and_deterministic(setup, name):
    model, dataset = setup
    first, again = scorer(name, model, dataset, seed=0), scorer(name, model, dataset, seed=0)
    assert isinstance(first, FixedScores)
    for layer in ("conv1", "fc2"):
        assert first.scores[layer].shape == model.weights[layer].shape
        assert np.array_equal(first.scores[layer], again.scores[layer])
    # The scores do not follow later weights: they were fixed on the model they were built from.
    zeros = {key: np.zeros_like(value) for key, value in model.weights.items()}
    assert np.array_equal(first(zeros)["fc1"], first.scores["fc1"])


def test_random_follows_the_seed(setup):
    model, dataset = setup
    a, b = scorer("random", model, dataset, seed=0), scorer("random", model, dataset, seed=1)
    assert not np.array_equal(a.scores["fc1"], b.scores["fc1"])


def test_apoz_is_one_minus_the_zero_fraction_of_training_outputs(setup):
    model, dataset = setup
    scores = scorer("apoz", model, dataset, seed=4).scores["conv2"]
    x, _ = training_subset(dataset, seed=4, max_examples=MAX_EXAMPLES)
    outputs = numpy_layer_outputs(model, x, masks=None, batch_size=64)["conv2"]  # (N, 16, 4, 4)
    zero_fraction = (outputs == 0).mean(axis=(0, 2, 3))
    # One value per output channel, spread evenly over the channel's 6*3*3 weights.
    np.testing.assert_allclose(scores.reshape(16, -1).sum(axis=1), 1 - zero_fraction, rtol=1e-12)
    assert np.all(scores.reshape(16, -1) == scores.reshape(16, -1)[:, :1])


def test_masks_change_the_inputs(setup):
    model, dataset = setup
    masks = {"fc1": np.zeros((120, 64), dtype=bool)}
    plain = scorer("taylor", model, dataset, seed=0).scores["fc2"]
    masked = scorer("taylor", model, dataset, seed=0, masks=masks).scores["fc2"]
    # With fc1 silenced, fc2 sees only its bias-driven input: its gradients differ.
    assert not np.allclose(plain, masked)


def test_unknown_criterion_is_named(setup):
    model, dataset = setup
    with pytest.raises(ValueError, match=r"codesign: importance must be one of \['l1', 'l2', .*got 'snip'"):
        scorer("snip", model, dataset, seed=0)
    assert IMPORTANCES == ("l1", "l2", "gradient", "taylor", "apoz", "mean_activation", "entropy", "random")
