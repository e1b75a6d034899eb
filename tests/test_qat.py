"""Quantization-aware training: straight-through gradients, masks, determinism; numpy and torch."""

import numpy as np
import pytest

from accelsim.codesign.sources import correct
from pruning.finetuned_accuracy import FinetunedAccuracy
from workloads import nn
from workloads.datasets import load_digits
from workloads.models import Model, init_weights, magnitude_masks, mlp_network
from workloads.quantization import (
    LayerBits,
    calibrate,
    fake_quantize_weights,
    input_quantizers,
    quantize_inputs_hook,
)
from workloads.training import SGD, Adam, finetune, train
from workloads.weight_cache import pretrained

BITS = {"fc1": LayerBits(weights=3), "fc2": LayerBits(weights=3, activations=3)}


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def tiny_problem():
    """fc1 (4 -> 5, relu) -> fc2 (5 -> 3): small enough for finite differences in float32."""
    network = mlp_network(input_hw=2, hidden=(5,), num_classes=3, name="tiny")
    weights = init_weights(network, seed=3)
    rng = np.random.default_rng(1)
    x = rng.random((8, 4), dtype=np.float32)
    y = rng.integers(0, 3, size=8).astype(np.int64)
    return network, weights, x, y


def loss_at(network, params, x, y, hook) -> float:
    logits, _ = nn.forward(network, params, x, keep_tape=False, input_hook=hook)
    return nn.softmax_cross_entropy(logits, y)[0]


def test_gradients_pass_straight_through_the_weight_and_input_rounding():
    network, weights, x, y = tiny_problem()
    quantized = fake_quantize_weights(weights, BITS)
    # Ranges from damped inputs, so some fc2 inputs of the batch clip and get no gradient.
    quantizer = input_quantizers(BITS, calibrate(network, quantized, x * 0.5, BITS))["fc2"]
    hook = quantize_inputs_hook({"fc2": quantizer}, ste=True)
    logits, tape = nn.forward(network, quantized, x, input_hook=hook)
    grads = nn.backward(tape, nn.softmax_cross_entropy(logits, y)[1])

    # Weights: the gradient is the one at the quantized weight (fc2's is smooth there: check numerically).
    eps = 1e-2
    numeric = np.zeros_like(quantized["fc2"])
    for index in np.ndindex(*numeric.shape):
        plus, minus = dict(quantized), dict(quantized)
        plus["fc2"], minus["fc2"] = quantized["fc2"].copy(), quantized["fc2"].copy()
        plus["fc2"][index] += eps
        minus["fc2"][index] -= eps
        numeric[index] = (loss_at(network, plus, x, y, hook) - loss_at(network, minus, x, y, hook)) / (
            2 * eps
        )
    np.testing.assert_allclose(grads["fc2"], numeric, atol=2e-4)

    # Inputs: d loss / d (quantized fc2 input), numerically, masked where the input clipped, then
    # back through relu and fc1 by hand.
    z1 = x @ quantized["fc1"].T + quantized["fc1.bias"]
    h = np.maximum(z1, 0)
    hq = quantizer.fake(h)

    def head_loss(v: np.ndarray) -> float:
        return nn.softmax_cross_entropy(v @ quantized["fc2"].T + quantized["fc2.bias"], y)[0]

    dh = np.zeros_like(hq)
    for index in np.ndindex(*hq.shape):
        plus, minus = hq.copy(), hq.copy()
        plus[index] += eps
        minus[index] -= eps
        dh[index] = (head_loss(plus) - head_loss(minus)) / (2 * eps)
    passes = quantizer.passes(h)
    assert not passes.all(), "the test needs some clipped inputs"
    expected = ((dh * passes) * (z1 > 0)).T @ x
    np.testing.assert_allclose(grads["fc1"], expected, atol=2e-4)


def test_one_qat_step_updates_the_float_master_weights_by_the_straight_through_gradient(digits):
    network, weights, x, y = tiny_problem()
    model = Model(network, weights)
    data = type(digits)(
        name="tiny",
        x_train=x.reshape(8, 1, 2, 2),
        y_train=y,
        x_val=x[:0].reshape(0, 1, 2, 2),
        y_val=y[:0],
        x_test=x[:0].reshape(0, 1, 2, 2),
        y_test=y[:0],
        num_classes=3,
        input_shape=(1, 2, 2),
    )
    lr = 0.1
    stepped = train(
        model,
        data,
        epochs=1,
        optimizer=SGD(lr=lr, momentum=0.0),
        seed=0,
        batch_size=8,
        schedule="constant",
        bits=BITS,
    ).model
    quantized = fake_quantize_weights(weights, BITS)
    hook = quantize_inputs_hook(input_quantizers(BITS, calibrate(network, quantized, x, BITS)), ste=True)
    logits, tape = nn.forward(network, quantized, x, input_hook=hook)
    grads = nn.backward(tape, nn.softmax_cross_entropy(logits, y)[1])
    for key in weights:
        np.testing.assert_allclose((weights[key] - stepped.weights[key]) / lr, grads[key], atol=1e-4)
    # The master weights stay float (off the 3-bit grid), not replaced by their quantized values.
    assert not np.array_equal(stepped.weights["fc1"], fake_quantize_weights(stepped.weights, BITS)["fc1"])


@pytest.fixture(scope="module")
def pruned_mlp(digits):
    model = pretrained("mlp_digits", digits)
    masks = magnitude_masks(model.weights, 0.8, layers=["fc1", "fc2", "fc3"])
    bits = {name: LayerBits(weights=4, activations=4) for name in masks}
    return model, masks, bits


def test_qat_keeps_pruned_weights_exactly_zero_and_is_deterministic(digits, pruned_mlp):
    model, masks, bits = pruned_mlp
    runs = [
        finetune(model, digits, masks, epochs=2, optimizer=Adam(lr=1e-3), seed=5, bits=bits) for _ in range(2)
    ]
    for name, mask in masks.items():
        tuned = runs[0].model.weights[name]
        assert np.all(tuned[~mask] == 0) and not np.signbit(tuned[~mask]).any()
        assert runs[0].model.weights[name].tobytes() == runs[1].model.weights[name].tobytes()
    assert runs[0].train_loss == runs[1].train_loss
    other = finetune(model, digits, masks, epochs=2, optimizer=Adam(lr=1e-3), seed=6, bits=bits)
    assert other.model.weights["fc1"].tobytes() != runs[0].model.weights["fc1"].tobytes()


def test_finetuned_accuracy_caches_per_masks_and_bits_and_measures_under_bits(digits, pruned_mlp):
    model, masks, bits = pruned_mlp
    oracle = FinetunedAccuracy(model, digits, epochs=1)
    quantized = oracle(masks, bits=bits)
    assert oracle.finetunes == 1
    plain = oracle(masks)
    assert oracle.finetunes == 2  # another key: a float fine-tune of the same masks
    assert oracle(masks, bits=dict(bits)) == quantized and oracle.finetunes == 2
    tuned = oracle.tuned_model(masks, bits)
    assert quantized == tuned.accuracy(digits, "val", masks=masks, bits=bits)
    assert plain == oracle.tuned_model(masks).accuracy(digits, "val", masks=masks)
    # Dense masks with bits still fine-tune (quantization-aware); without bits they are the model itself.
    dense = {name: np.ones_like(mask) for name, mask in masks.items()}
    assert oracle.tuned_model(dense) is model
    assert oracle.tuned_model(dense, bits) is not model


def test_sources_correct_uses_bits_with_training_split_ranges(digits, pruned_mlp):
    model, masks, bits = pruned_mlp
    ranges = model.calibrate(digits.x_train, masks=masks, bits=bits)
    expected = model.predict(digits.x_test, masks=masks, bits=bits, ranges=ranges) == digits.y_test
    np.testing.assert_array_equal(correct(model, digits, "test", masks, bits), expected)
    assert not np.array_equal(correct(model, digits, "test", masks), expected)
