"""Accuracy through the sparse kernels equals the numpy model's accuracy with masked weights."""

import numpy as np
import pytest

from accelsim.codesign.accuracy import accuracy
from workloads.datasets import load_digits
from workloads.models import lenet_digits, magnitude_masks, mlp_digits
from workloads.training import Adam, train


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.mark.parametrize("build, epochs", [(mlp_digits, 3), (lenet_digits, 2)])
@pytest.mark.parametrize("amount", [0.0, 0.8, 0.95])
def test_kernel_accuracy_equals_model_accuracy(digits, build, epochs, amount):
    model = train(build(seed=0), digits, epochs=epochs, optimizer=Adam(lr=2e-3), seed=0).model
    masks = magnitude_masks(model.weights, amount) if amount else None
    via_kernels = accuracy(model, masks, digits, "test")
    assert via_kernels == model.accuracy(digits, "test", masks=masks)
    assert 0.0 <= via_kernels <= 1.0


def test_pruning_everything_is_chance_or_worse(digits):
    model = train(mlp_digits(seed=0), digits, epochs=3, optimizer=Adam(lr=2e-3), seed=0).model
    masks = {
        name: np.zeros_like(w, dtype=bool) for name, w in model.weights.items() if not name.endswith(".bias")
    }
    assert accuracy(model, masks, digits, "test") < 0.5 < model.accuracy(digits, "test")


def test_empty_split_is_named(digits):
    import dataclasses

    model = mlp_digits(seed=0)
    empty = dataclasses.replace(digits, x_val=digits.x_val[:0], y_val=digits.y_val[:0])
    with pytest.raises(ValueError, match="'val'"):
        accuracy(model, None, empty, "val")
