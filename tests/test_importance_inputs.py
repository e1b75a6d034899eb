"""Importance inputs (loss gradients, recorded layer outputs) for the numpy and torch models."""

from __future__ import annotations

import numpy as np
import pytest

from workloads import nn
from workloads.datasets import load_digits
from workloads.importance_inputs import importance_inputs, training_subset
from workloads.models import Model, init_weights, lenet_digits, mlp_network


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _softmax_regression(seed: int = 3) -> Model:
    """One linear layer 64 -> 10: its loss gradient has a closed form to check against."""
    network = mlp_network(hidden=(), name="softmax_regression")
    weights = init_weights(network, seed=seed)
    weights["fc1.bias"] = np.linspace(-0.5, 0.5, 10, dtype=np.float32)
    return Model(network, weights)


def _hand_gradient(weight: np.ndarray, bias: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d/dW of mean cross-entropy of softmax(x W^T + b): mean over examples of (p - onehot) x^T."""
    x = x.reshape(len(x), -1).astype(np.float64)
    logits = x @ weight.astype(np.float64).T + bias
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p.T @ x / len(y)


def test_subset_is_seeded_capped_and_from_train(digits):
    x, y = training_subset(digits, seed=1, max_examples=50)
    again, _ = training_subset(digits, seed=1, max_examples=50)
    other, _ = training_subset(digits, seed=2, max_examples=50)
    assert x.shape == (50, 1, 8, 8) and np.array_equal(x, again) and not np.array_equal(x, other)
    train = {row.tobytes() for row in digits.x_train}
    assert all(row.tobytes() in train for row in x)
    assert len(training_subset(digits, seed=0, max_examples=10**6)[1]) == len(digits.y_train)
    with pytest.raises(ValueError, match="max_examples must be an int >= 1, got 0"):
        training_subset(digits, seed=0, max_examples=0)


def test_numpy_gradient_matches_the_closed_form_and_finite_differences(digits):
    model = _softmax_regression()
    # 70 examples in batches of 32: uneven batches must still give the full-subset mean.
    inputs = importance_inputs(model, digits, seed=0, max_examples=70, activations=False, batch_size=32)
    assert inputs.examples == 70 and inputs.activations == {}
    x, y = training_subset(digits, seed=0, max_examples=70)
    w, b = model.weights["fc1"], model.weights["fc1.bias"]
    np.testing.assert_allclose(inputs.grads["fc1"], _hand_gradient(w, b, x, y), rtol=1e-9, atol=1e-12)

    def loss(weight: np.ndarray) -> float:
        params = {"fc1": weight, "fc1.bias": b.astype(np.float64)}
        logits, _ = nn.forward(model.network, params, x.reshape(70, -1).astype(np.float64), keep_tape=False)
        return nn.softmax_cross_entropy(logits, y)[0]

    base, eps = w.astype(np.float64), 1e-6
    for index in [(0, 0), (3, 17), (9, 63)]:
        up, down = base.copy(), base.copy()
        up[index] += eps
        down[index] -= eps
        numeric = (loss(up) - loss(down)) / (2 * eps)
        assert inputs.grads["fc1"][index] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_numpy_gradient_is_taken_at_the_masked_weights(digits):
    model = _softmax_regression()
    mask = np.ones((10, 64), dtype=bool)
    mask[:, ::2] = False
    inputs = importance_inputs(model, digits, seed=0, max_examples=40, activations=False, masks={"fc1": mask})
    x, y = training_subset(digits, seed=0, max_examples=40)
    masked = np.where(mask, model.weights["fc1"], 0.0)
    expected = _hand_gradient(masked, model.weights["fc1.bias"], x, y)
    np.testing.assert_allclose(inputs.grads["fc1"], expected, rtol=1e-9, atol=1e-12)


def test_numpy_layer_outputs_have_the_layouts_the_criteria_read(digits):
    model = lenet_digits(seed=0)
    inputs = importance_inputs(model, digits, seed=0, max_examples=20, grads=False)
    shapes = {name: out.shape for name, out in inputs.activations.items()}
    assert shapes == {
        "conv1": (20, 6, 8, 8),
        "conv2": (20, 16, 4, 4),
        "fc1": (20, 120),
        "fc2": (20, 84),
        "fc3": (20, 10),
    }
    # Recorded after the activation: ReLU outputs are never negative, the logits are.
    assert inputs.activations["conv1"].min() >= 0 and inputs.activations["fc3"].min() < 0
    x, _ = training_subset(digits, seed=0, max_examples=20)
    np.testing.assert_allclose(inputs.activations["fc3"], model.logits(x), rtol=1e-5, atol=1e-5)


def test_torch_model_agrees_with_numpy_and_the_closed_form(digits):
    torch = pytest.importorskip("torch")
    from workloads.torch_model import TorchModel

    numpy_model = _softmax_regression()
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    with torch.no_grad():
        module[1].weight.copy_(torch.tensor(numpy_model.weights["fc1"]))
        module[1].bias.copy_(torch.tensor(numpy_model.weights["fc1.bias"]))
    model = TorchModel(module, torch.zeros(1, 1, 8, 8))
    mask = np.ones((10, 64), dtype=bool)
    mask[2] = False
    inputs = importance_inputs(model, digits, seed=5, max_examples=45, batch_size=16, masks={"1": mask})
    reference = importance_inputs(
        numpy_model, digits, seed=5, max_examples=45, batch_size=16, masks={"fc1": mask}
    )
    assert set(inputs.grads) == set(inputs.activations) == {"1"}
    assert inputs.grads["1"].shape == (10, 64) and inputs.grads["1"].dtype == np.float64
    # torch computes in float32: agreement to float32 precision.
    np.testing.assert_allclose(inputs.grads["1"], reference.grads["fc1"], rtol=1e-4, atol=1e-6)
    assert inputs.activations["1"].shape == (45, 10)
    np.testing.assert_allclose(inputs.activations["1"], reference.activations["fc1"], rtol=1e-4, atol=1e-5)
    # Evaluation afterwards is unchanged: the hooks are gone.
    x, _ = training_subset(digits, seed=5, max_examples=45)
    np.testing.assert_allclose(model.logits(x), numpy_model.logits(x), rtol=1e-4, atol=1e-5)


def test_torch_conv_outputs_are_nchw(digits):
    torch = pytest.importorskip("torch")
    from workloads.torch_model import TorchModel

    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(256, 10)
    )
    inputs = importance_inputs(TorchModel(module, torch.zeros(1, 1, 8, 8)), digits, seed=0, max_examples=12)
    assert {k: v.shape for k, v in inputs.activations.items()} == {"0": (12, 4, 8, 8), "3": (12, 10)}
    assert {k: v.shape for k, v in inputs.grads.items()} == {"0": (4, 1, 3, 3), "3": (10, 256)}


def test_a_byte_budget_records_fewer_outputs_and_keeps_the_exact_gradient(digits):
    model = _softmax_regression()
    # 10 logits x 4 bytes per example: a 100-byte budget records 2 examples, in batches of 2.
    inputs = importance_inputs(model, digits, seed=0, max_examples=30, max_output_bytes=100)
    assert inputs.examples == 30 and inputs.recorded_examples == 2
    assert inputs.activations["fc1"].shape == (2, 10)
    x, y = training_subset(digits, seed=0, max_examples=30)
    expected = _hand_gradient(model.weights["fc1"], model.weights["fc1.bias"], x, y)
    np.testing.assert_allclose(inputs.grads["fc1"], expected, rtol=1e-9, atol=1e-12)
    full = importance_inputs(model, digits, seed=0, max_examples=30)
    assert full.recorded_examples == 30
    np.testing.assert_array_equal(inputs.activations["fc1"], full.activations["fc1"][:2])
