"""Integer ``execute`` against fake quantization: the same top-1 on digits (issue 15 acceptance)."""

import numpy as np
import pytest

from accelsim.codesign.accuracy import accuracy
from accelsim.sparse.execute import execute
from accelsim.sparse.formats import encode
from accelsim.sparse.quantized import accumulator_dtype, prepare_quantized
from accelsim.sparse.spmm import spmm
from workloads.datasets import load_digits
from workloads.models import magnitude_masks
from workloads.quantization import ActivationRange, LayerBits, QuantizationError
from workloads.weight_cache import pretrained


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def weighted(model) -> list[str]:
    return [layer.name for layer in model.network.layers() if layer.weight_shape is not None]


def nm_masks(model, n: int, m: int) -> dict[str, np.ndarray]:
    """Keep the n largest |w| of every m along the reduction axis (layers whose K divides by m)."""
    masks = {}
    for name in weighted(model):
        w = model.weights[name].reshape(len(model.weights[name]), -1)
        if w.shape[1] % m:
            continue
        groups = np.abs(w).reshape(len(w), -1, m)
        keep = np.argsort(-groups, axis=2, kind="stable")[..., :n]
        mask = np.zeros(groups.shape, dtype=bool)
        np.put_along_axis(mask, keep, True, axis=2)
        masks[name] = mask.reshape(model.weights[name].shape)
    return masks


@pytest.mark.parametrize("name", ["mlp_digits", "lenet_digits"])
@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("pruned", [False, True])
def test_integer_execute_top1_equals_fake_quantization_top1(digits, name, bits, pruned):
    model = pretrained(name, digits)
    layer_bits = {layer: LayerBits(weights=bits, activations=bits) for layer in weighted(model)}
    masks = magnitude_masks(model.weights, 0.7, layers=weighted(model)) if pruned else None
    ranges = model.calibrate(digits.x_train, masks=masks, bits=layer_bits)
    x, y = digits.split("test")
    fake = model.logits(x, masks=masks, bits=layer_bits, ranges=ranges)
    integer = np.asarray(
        execute(model.network, model.weights, masks, model.prepare_inputs(x), bits=layer_bits, ranges=ranges)
    ).reshape(len(x), -1)
    np.testing.assert_array_equal(integer.argmax(axis=1), fake.argmax(axis=1))
    assert accuracy(model, masks, digits, "test", bits=layer_bits) == np.mean(fake.argmax(axis=1) == y)
    # The two differ only by float summation order, not by a quantization step.
    np.testing.assert_allclose(integer, fake, atol=1e-3 * np.abs(fake).max())


@pytest.mark.parametrize("fmt", ["csr", "bitmap", ("nm", 2, 4), "dense"])
def test_every_sparse_format_runs_integer_codes_and_gives_the_same_predictions(digits, fmt):
    model = pretrained("lenet_digits", digits)
    masks = nm_masks(model, 2, 4)
    bits = {layer: LayerBits(weights=4, activations=4) for layer in masks}
    ranges = model.calibrate(digits.x_train, masks=masks, bits=bits)
    formats = dict.fromkeys(masks, fmt)
    x = digits.x_test
    logits = execute(
        model.network,
        model.weights,
        masks,
        model.prepare_inputs(x),
        formats=formats,
        bits=bits,
        ranges=ranges,
    )
    expected = model.predict(x, masks=masks, bits=bits, ranges=ranges)
    np.testing.assert_array_equal(np.asarray(logits).reshape(len(x), -1).argmax(axis=1), expected)


@pytest.mark.parametrize("fmt", ["csr", "bitmap", ("bsr", (2, 2)), ("nm", 1, 4)])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_integer_spmm_is_exact(fmt, dtype):
    rng = np.random.default_rng(0)
    codes = rng.integers(-127, 128, size=(8, 16)).astype(dtype)
    mask = rng.random((8, 16)) < 0.4
    if fmt[0] == "nm":
        mask = np.zeros((8, 16), dtype=bool)
        mask[:, ::4] = True
    X = rng.integers(0, 256, size=(16, 5)).astype(dtype)
    expected = np.where(mask, codes, 0).astype(np.int64) @ X.astype(np.int64)
    result = spmm(encode(codes, mask, fmt), X)
    assert result.dtype == dtype
    np.testing.assert_array_equal(result, expected)


def test_accumulator_widens_to_int64_only_when_int32_could_overflow():
    assert accumulator_dtype(4608, 255, 127) == np.int32  # an 8-bit 512x3x3 conv: 1.5e8
    assert accumulator_dtype(64, 65535, 32767) == np.int64  # 16-bit operands: 1.4e11
    w = np.full((2, 3), 0.5, dtype=np.float32)
    _, wide = prepare_quantized(
        w, LayerBits(weights=16), ActivationRange(0, 1).quantizer(16), np.dtype(np.float32)
    )
    _, narrow = prepare_quantized(
        w, LayerBits(weights=8), ActivationRange(0, 1).quantizer(8), np.dtype(np.float32)
    )
    assert wide is not None and wide.accumulator == np.int64
    assert narrow is not None and narrow.accumulator == np.int32


def test_16_bit_layers_run_in_int64_and_stay_close_to_float(digits):
    model = pretrained("mlp_digits", digits)
    bits = {layer: LayerBits(weights=16, activations=16) for layer in weighted(model)}
    ranges = model.calibrate(digits.x_train, bits=bits)
    x = model.prepare_inputs(digits.x_test)
    integer = np.asarray(execute(model.network, model.weights, None, x, bits=bits, ranges=ranges))
    float_logits = np.asarray(execute(model.network, model.weights, None, x))
    np.testing.assert_allclose(integer, float_logits, atol=1e-2 * np.abs(float_logits).max())


def test_input_bits_without_ranges_and_bits_for_unknown_layers_are_named_errors(digits):
    model = pretrained("mlp_digits", digits)
    x = model.prepare_inputs(digits.x_test[:4])
    with pytest.raises(QuantizationError, match="'fc2'.*activations=8"):
        execute(model.network, model.weights, None, x, bits={"fc2": LayerBits(weights=8, activations=8)})
    with pytest.raises(QuantizationError, match="'pool9'"):
        execute(model.network, model.weights, None, x, bits={"pool9": LayerBits(weights=8)})
