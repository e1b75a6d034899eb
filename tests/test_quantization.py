"""workloads.quantization and fake quantization in the numpy Model (issue 15, accuracy)."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from pruning.statistics import PairedCounts, newcombe_paired_interval
from workloads.datasets import load_digits
from workloads.models import magnitude_masks, mlp_digits
from workloads.quantization import (
    CALIBRATION_EXAMPLES,
    ActivationRange,
    LayerBits,
    QuantizationError,
    bits_key,
    calibration_subset,
    fake_quantize_weight,
    quantize_weight,
)
from workloads.weight_cache import pretrained


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def uniform(model, weights=None, activations=None) -> dict[str, LayerBits]:
    layers = [layer.name for layer in model.network.layers() if layer.weight_shape is not None]
    return {name: LayerBits(weights=weights, activations=activations) for name in layers}


# ----------------------------------------------------------------------------------- LayerBits


@pytest.mark.parametrize("field", ["weights", "activations"])
@pytest.mark.parametrize("value", [1, 0, -8, 17, 32, 8.0, True, "8"])
def test_bad_bit_widths_are_named_errors(field, value):
    with pytest.raises(QuantizationError, match=rf"{field} .*{value!r}"):
        LayerBits(**{field: value})


@pytest.mark.parametrize("value", [2, 4, 8, 16, np.int64(8), None])
def test_bit_widths_from_2_to_16_are_accepted(value):
    assert LayerBits(weights=value, activations=value).weights == value


def test_bits_key_is_canonical_and_ignores_float_layers():
    a = {"fc2": LayerBits(weights=4), "fc1": LayerBits(weights=8, activations=8), "fc3": LayerBits()}
    b = {"fc1": LayerBits(weights=8, activations=8), "fc2": LayerBits(weights=4, activations=None)}
    assert bits_key(a) == bits_key(b) == "fc1=w8a8,fc2=w4af"
    assert bits_key(None) == bits_key({}) == bits_key({"fc1": LayerBits()}) == ""


def test_bits_for_an_unknown_layer_or_of_the_wrong_type_are_named_errors(digits):
    model = mlp_digits()
    with pytest.raises(QuantizationError, match="'conv9'"):
        model.accuracy(digits, "test", bits={"conv9": LayerBits(weights=8)})
    with pytest.raises(QuantizationError, match="'fc1'.*LayerBits"):
        model.accuracy(digits, "test", bits={"fc1": 8})  # type: ignore[dict-item]


# ------------------------------------------------------------------------------------- weights


def test_per_channel_scales_and_codes_match_a_hand_computation():
    w = np.array([[0.9, -1.5, 0.2], [0.0, 0.0, 0.0], [0.4, -0.2, -0.6]], dtype=np.float32)
    q = quantize_weight(w, 3)  # codes in [-3, 3]
    # Row scales: max|w| / 3 = 0.5 and 0.2; the zero row takes scale 1 instead of dividing by 0.
    np.testing.assert_allclose(q.scales, [0.5, 1.0, 0.2], rtol=1e-6)
    np.testing.assert_array_equal(q.codes, [[2, -3, 0], [0, 0, 0], [2, -1, -3]])
    assert q.codes.dtype == np.int32 and q.scales.dtype == np.float32


def test_conv_weights_get_one_scale_per_output_channel():
    w = np.zeros((2, 3, 2, 2), dtype=np.float32)
    w[0, 1, 1, 0], w[1, 2, 0, 1] = -7.0, 0.35
    q = quantize_weight(w, 8)
    np.testing.assert_allclose(q.scales, [7.0 / 127, 0.35 / 127], rtol=1e-6)
    assert q.codes[0, 1, 1, 0] == -127 and q.codes[1, 2, 0, 1] == 127


@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=4, max_side=5),
        elements=st.floats(-100, 100, width=32),
    ),
    st.integers(2, 16),
)
def test_weight_round_trip_error_is_at_most_half_a_step_and_codes_are_in_range(w, bits):
    q = quantize_weight(w, bits)
    qmax = 2 ** (bits - 1) - 1
    assert q.codes.min(initial=0) >= -qmax and q.codes.max(initial=0) <= qmax
    step = q.scales.reshape((-1,) + (1,) * (w.ndim - 1))
    error = np.abs(w.astype(np.float64) - q.dequantize())
    assert np.all(error <= step * (0.5 + 1e-5) + 1e-30)
    # A zero weight (a pruned one) is exactly code 0 and dequantizes to +0.0.
    assert np.all(q.codes[w == 0] == 0)
    assert not np.signbit(fake_quantize_weight(w, bits)[w == 0]).any()


# --------------------------------------------------------------------------------- activations


def test_non_negative_ranges_are_unsigned_and_others_signed_symmetric():
    relu = ActivationRange(0.0, 2.55).quantizer(8)
    assert (relu.low_code, relu.high_code, relu.signed) == (0, 255, False)
    assert relu.scale == pytest.approx(0.01)
    signed = ActivationRange(-3.0, 1.0).quantizer(4)
    assert (signed.low_code, signed.high_code, signed.signed) == (-7, 7, True)
    assert signed.scale == pytest.approx(3.0 / 7)
    dead = ActivationRange(0.0, 0.0).quantizer(8)  # a layer whose input was always 0
    np.testing.assert_array_equal(dead.codes(np.array([0.0, 5.0, -1.0])), [0, 0, 0])


@given(
    st.floats(-50, 0),
    st.floats(0.01, 50),
    st.integers(2, 16),
    hnp.arrays(np.float32, 20, elements=st.floats(-1, 1)),
)
def test_activation_round_trip_within_half_a_step_inside_the_range_and_clipped_outside(low, high, bits, u):
    quantizer = ActivationRange(low, high).quantizer(bits)
    x = (u * 2 * max(-low, high)).astype(np.float32)  # half of it beyond the range
    codes = quantizer.codes(x)
    assert codes.min() >= quantizer.low_code and codes.max() <= quantizer.high_code
    lo, hi = quantizer.low_code * quantizer.scale, quantizer.high_code * quantizer.scale
    inside = (x >= lo) & (x <= hi)
    error = np.abs(quantizer.fake(x) - x)
    assert np.all(error[inside] <= quantizer.scale * (0.5 + 1e-4))
    np.testing.assert_allclose(quantizer.fake(x)[~inside], np.clip(x, lo, hi)[~inside], rtol=1e-5)
    np.testing.assert_array_equal(quantizer.passes(x), inside)


# --------------------------------------------------------------------------------- calibration


def test_calibration_subset_is_a_fixed_seeded_sample_of_the_training_split(digits):
    subset = calibration_subset(digits.x_train)
    assert len(subset) == CALIBRATION_EXAMPLES < len(digits.x_train)
    np.testing.assert_array_equal(subset, calibration_subset(digits.x_train.copy()))
    rows = {row.tobytes() for row in digits.x_train}
    assert all(row.tobytes() in rows for row in subset)
    assert len(calibration_subset(digits.x_train[:10])) == 10


def test_evaluation_calibrates_on_the_training_split_never_on_the_measured_one(digits):
    model = pretrained("mlp_digits", digits)
    bits = uniform(model, 8, 8)
    ranges = model.calibrate(digits.x_train, bits=bits)
    expected = np.mean(model.predict(digits.x_test, bits=bits, ranges=ranges) == digits.y_test)
    assert model.accuracy(digits, "test", bits=bits) == expected
    # The first layer sees pixels: its calibrated range is that of the training images (in [0, 1]).
    assert ranges["fc1"] == ActivationRange(0.0, float(calibration_subset(digits.x_train).max()))
    # A test split scaled 10x is measured with the training split's ranges (it clips), not its own.
    loud = dataclasses.replace(digits, x_test=digits.x_test * 10)
    clipped = np.mean(model.predict(loud.x_test, bits=bits, ranges=ranges) == digits.y_test)
    own = model.calibrate(loud.x_test, bits=bits)
    assert own != ranges
    assert model.accuracy(loud, "test", bits=bits) == clipped


def test_input_bits_without_calibrated_ranges_are_a_named_error(digits):
    model = mlp_digits()
    with pytest.raises(QuantizationError, match="'fc1'.*activations=8.*ranges"):
        model.logits(digits.x_test, bits={"fc1": LayerBits(activations=8)})


# ------------------------------------------------------------------------------- numpy models


def test_masked_weights_stay_exactly_zero_after_quantization(digits):
    model = pretrained("lenet_digits", digits)
    masks = magnitude_masks(model.weights, 0.8, layers=["conv2", "fc1"])
    quantized = model.quantized_weights(masks, uniform(model, 4, 4))
    for name, mask in masks.items():
        assert np.all(quantized[name][~mask] == 0) and not np.signbit(quantized[name][~mask]).any()
        # The kept weights lie on a 4-bit per-channel grid: at most 15 distinct values per channel.
        assert all(len(np.unique(row)) <= 15 for row in quantized[name].reshape(len(mask), -1))


def test_weight_only_bits_change_nothing_but_the_weights(digits):
    model = pretrained("mlp_digits", digits)
    bits = uniform(model, weights=8)
    quantized = model.with_weights(model.quantized_weights(None, bits))
    np.testing.assert_array_equal(model.logits(digits.x_test, bits=bits), quantized.logits(digits.x_test))


@pytest.mark.parametrize("name", ["mlp_digits", "lenet_digits"])
def test_int8_fake_quantization_costs_under_3_points_of_top1(digits, name):
    """Paired test-split comparison: the Newcombe 95 % upper bound of (float - int8) top-1 < 3 points.

    Why 3 points: per-channel int8 loses well under 1 point on ImageNet CNNs (Krishnamoorthi 2018,
    arXiv:1806.08342, table 2); on 360 test images a 95 % paired interval is about 1-2 points wide,
    so 3 points is the tightest bound this split can certify without flaking.
    """
    model = pretrained(name, digits)
    bits = uniform(model, 8, 8)
    x, y = digits.split("test")
    ranges = model.calibrate(digits.x_train, bits=bits)
    counts = PairedCounts.from_correct(model.predict(x) == y, model.predict(x, bits=bits, ranges=ranges) == y)
    assert newcombe_paired_interval(counts).high < 0.03


def test_fake_quantization_is_deterministic_bit_for_bit(digits):
    model = pretrained("lenet_digits", digits)
    bits = uniform(model, 4, 6)
    masks = magnitude_masks(model.weights, 0.5, layers=["conv1", "fc2"])
    first = model.logits(
        digits.x_test, masks=masks, bits=bits, ranges=model.calibrate(digits.x_train, masks=masks, bits=bits)
    )
    again = model.logits(
        digits.x_test, masks=masks, bits=bits, ranges=model.calibrate(digits.x_train, masks=masks, bits=bits)
    )
    assert first.tobytes() == again.tobytes()
    # ... and it does quantize: 4-bit weights move the logits.
    assert not np.array_equal(first, model.logits(digits.x_test, masks=masks))


def test_ranges_of_the_wrong_type_are_a_named_error(digits):
    model = mlp_digits()
    with pytest.raises(QuantizationError, match=r"ranges\['fc1'\].*\(0.0, 1.0\)"):
        model.logits(digits.x_test, bits={"fc1": LayerBits(activations=8)}, ranges={"fc1": (0.0, 1.0)})
