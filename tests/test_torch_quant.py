"""Fake quantization and QAT of the torch adapter agree with the numpy scheme."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pruning.finetuned_accuracy import FinetunedAccuracy
from workloads.datasets import load_digits
from workloads.models import magnitude_masks
from workloads.quantization import ActivationRange, LayerBits, fake_quantize_weight
from workloads.torch_model import TorchModel
from workloads.torch_quant import (
    fake_quantize_input,
    fake_quantize_weight as torch_fake_quantize_weight,
)
from workloads.training import Adam
from workloads.weight_cache import pretrained

# torch module name -> numpy layer name of the same LeNet-300-100 weights.
NAMES = {"1": "fc1", "3": "fc2", "5": "fc3"}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def twins(digits):
    """The pretrained numpy mlp_digits and a torch module holding the same weights."""
    model = pretrained("mlp_digits", digits)
    module = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(64, 300),
        torch.nn.ReLU(),
        torch.nn.Linear(300, 100),
        torch.nn.ReLU(),
        torch.nn.Linear(100, 10),
    )
    weights = {}
    for key, name in NAMES.items():
        weights[key], weights[f"{key}.bias"] = model.weights[name], model.weights[f"{name}.bias"]
    return model, TorchModel(module, torch.zeros(1, 1, 8, 8)).with_weights(weights)


def test_torch_weight_quantization_matches_numpy_bit_for_bit():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float32)
    w[2] = 0  # a zero channel
    for bits in (2, 4, 8, 16):
        got = torch_fake_quantize_weight(torch.from_numpy(w), bits, ste=False).numpy()
        assert got.tobytes() == fake_quantize_weight(w, bits).tobytes()


def test_straight_through_gradients_in_torch():
    w = torch.randn(4, 5, requires_grad=True)
    torch_fake_quantize_weight(w, 3, ste=True).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones((4, 5)))  # passes through the rounding
    quantizer = ActivationRange(0.0, 1.0).quantizer(4)
    x = torch.tensor([-0.5, 0.0, 0.33, 0.9, 1.0, 1.7], requires_grad=True)
    fake_quantize_input(x, quantizer, ste=True).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 1, 0])  # zero where clipped


@pytest.mark.parametrize("width", [8, 4])
def test_torch_fake_quantization_predicts_like_the_numpy_model(digits, twins, width):
    model, twin = twins
    masks = magnitude_masks(model.weights, 0.7, layers=list(NAMES.values()))
    bits = {name: LayerBits(weights=width, activations=width) for name in NAMES.values()}
    twin_masks = {key: masks[name] for key, name in NAMES.items()}
    twin_bits = {key: bits[name] for key, name in NAMES.items()}
    ranges = model.calibrate(digits.x_train, masks=masks, bits=bits)
    twin_ranges = twin.calibrate(digits.x_train, masks=twin_masks, bits=twin_bits)
    for key, name in NAMES.items():
        assert twin_ranges[key].low == ranges[name].low
        assert twin_ranges[key].high == pytest.approx(ranges[name].high, rel=1e-5)
    same_ranges = {key: ranges[name] for key, name in NAMES.items()}
    np.testing.assert_array_equal(
        twin.predict(digits.x_test, masks=twin_masks, bits=twin_bits, ranges=same_ranges),
        model.predict(digits.x_test, masks=masks, bits=bits, ranges=ranges),
    )
    assert twin.accuracy(digits, "test", masks=twin_masks, bits=twin_bits) == pytest.approx(
        model.accuracy(digits, "test", masks=masks, bits=bits), abs=2 / len(digits.y_test)
    )


def test_torch_qat_keeps_pruned_weights_zero_is_deterministic_and_trains_under_bits(digits, twins):
    model, twin = twins
    masks = {key: magnitude_masks(model.weights, 0.8, layers=[name])[name] for key, name in NAMES.items()}
    bits = {key: LayerBits(weights=4, activations=4) for key in NAMES}

    def run(seed: int):
        return twin.finetune(digits, masks, epochs=2, optimizer=Adam(lr=1e-3), seed=seed, bits=bits)

    first, again, other = run(3), run(3), run(4)
    for key, mask in masks.items():
        tuned = first.model.weights[key]
        assert np.all(tuned[~mask] == 0) and not np.signbit(tuned[~mask]).any()
        assert tuned.tobytes() == again.model.weights[key].tobytes()
    assert first.model.weights["1"].tobytes() != other.model.weights["1"].tobytes()
    before = twin.accuracy(digits, "val", masks=masks, bits=bits)
    assert first.val_accuracy[-1] == first.model.accuracy(digits, "val", masks=masks, bits=bits)
    assert first.val_accuracy[-1] > before  # 80 % pruning at 4 bits loses points that QAT wins back


def test_finetuned_accuracy_runs_qat_on_a_torch_model(digits, twins):
    _, twin = twins
    masks = {key: np.ones(shape, dtype=bool) for key, shape in twin.layers.items()}
    bits = {key: LayerBits(weights=4, activations=4) for key in NAMES}
    oracle = FinetunedAccuracy(twin, digits, epochs=1)
    measured = oracle(masks, bits=bits)
    tuned = oracle.tuned_model(masks, bits)
    assert oracle.finetunes == 1 and isinstance(tuned, TorchModel) and tuned is not twin
    assert measured == tuned.accuracy(digits, "val", masks=masks, bits=bits)
