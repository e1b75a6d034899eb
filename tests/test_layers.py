import dataclasses

import pytest
from hypothesis import given, strategies as st

from workloads.layers import (
    LAYER_TYPES,
    Add,
    Concat,
    Conv2d,
    GemmShape,
    LayerNorm,
    Linear,
    MatMul,
    Pool,
    Softmax,
    depthwise_conv2d,
)


def sliding_window_count(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Obviously-correct twin: count window starts whose last tap stays inside the padded input."""
    padded = size + 2 * padding
    span = dilation * (kernel - 1) + 1
    return sum(1 for start in range(0, padded, stride) if start + span <= padded)


@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 7),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
    dilation=st.integers(1, 3),
)
def test_conv_output_size_matches_brute_force(size, kernel, stride, padding, dilation):
    expected = sliding_window_count(size, kernel, stride, padding, dilation)
    args = dict(stride=stride, padding=padding, dilation=dilation)
    if expected < 1:
        with pytest.raises(ValueError, match="output size"):
            Conv2d("c", 2, 4, kernel, (size, size + 1), **args)
        return
    conv = Conv2d("c", 2, 4, kernel, (size, size), **args)
    assert conv.output_shape == (4, expected, expected)


@given(size=st.integers(1, 30), kernel=st.integers(1, 5), stride=st.integers(1, 3), padding=st.integers(0, 2))
def test_pool_output_size_matches_brute_force(size, kernel, stride, padding):
    expected = sliding_window_count(size, kernel, stride, padding, 1)
    if expected < 1:
        with pytest.raises(ValueError):
            Pool("p", 3, size, kernel, stride, padding)
        return
    pool = Pool("p", 3, size, kernel, stride, padding)
    assert pool.output_shape == (3, expected, expected)
    assert pool.ops == 3 * expected * expected * kernel * kernel
    assert pool.macs == 0 and pool.gemm is None and pool.weight_count == 0


def test_int_params_normalise_to_pairs():
    conv = Conv2d("c", 3, 8, 3, 32, stride=2, padding=1)
    assert conv.kernel_size == (3, 3) and conv.input_hw == (32, 32)
    assert conv.stride == (2, 2) and conv.padding == (1, 1) and conv.dilation == (1, 1)
    assert conv.output_shape == (8, 16, 16)


def test_rectangular_conv_uses_each_axis():
    conv = Conv2d("c", 4, 6, (3, 1), (10, 7), stride=(1, 2), padding=(1, 0))
    assert conv.output_shape == (6, 10, 4)
    assert conv.weight_shape == (6, 4, 3, 1)
    assert conv.macs == 6 * 10 * 4 * 4 * 3 * 1


def test_depthwise_shapes_and_macs():
    dw = depthwise_conv2d("dw", 32, 3, 56, stride=2, padding=1, activation="relu6")
    assert dw.groups == dw.in_channels == dw.out_channels == 32
    assert dw.is_depthwise
    assert dw.weight_shape == (32, 1, 3, 3)
    assert dw.weight_count == 32 * 9
    assert dw.gemm == GemmShape(groups=32, m=28 * 28, k=9, n=1)
    assert dw.macs == 32 * 28 * 28 * 9


def test_grouped_conv_gemm():
    conv = Conv2d("g", 8, 16, 3, 10, padding=1, groups=4)
    assert conv.weight_shape == (16, 2, 3, 3)
    assert conv.gemm == GemmShape(groups=4, m=100, k=18, n=4)
    assert conv.gemm.macs == conv.macs == conv.ops == 16 * 100 * 18


def test_linear_and_matmul():
    fc = Linear("fc", 768, 3072, tokens=128, activation="gelu")
    assert fc.input_shape == (128, 768) and fc.output_shape == (128, 3072)
    assert fc.weight_shape == (3072, 768)
    assert fc.gemm == GemmShape(1, 128, 768, 3072)
    assert fc.macs == 128 * 768 * 3072
    mm = MatMul("qk", m=128, k=64, n=128, heads=12)
    assert mm.input_shape == (12, 128, 64) and mm.output_shape == (12, 128, 128)
    assert mm.weight_shape is None and mm.weight_count == 0
    assert mm.gemm.macs == mm.macs == 12 * 128 * 64 * 128


@pytest.mark.parametrize("cls", [Add, Softmax, LayerNorm])
def test_elementwise(cls):
    layer = cls("e", (4, 5, 6))
    assert layer.input_shape == layer.output_shape == (4, 5, 6)
    assert layer.ops == 120 and layer.macs == 0 and layer.gemm is None and layer.weight_shape is None


@pytest.mark.parametrize(
    ("build", "field", "value"),
    [
        (lambda: Conv2d("bad", 0, 4, 3, 8), "in_channels", "0"),
        (lambda: Conv2d("bad", 3, 4, 3, 8, groups=2), "in_channels", "3"),
        (lambda: Conv2d("bad", 4, 6, 3, 8, groups=4), "out_channels", "6"),
        (lambda: Conv2d("bad", 3, 4, (3, -1), 8), "kernel_size", "-1"),
        (lambda: Conv2d("bad", 3, 4, 3, 8, padding=-1), "padding", "-1"),
        (lambda: Conv2d("bad", 3, 4, 3, 8, activation="tanh"), "activation", "'tanh'"),
        (lambda: Conv2d("bad", 3, 4, 9, 8), "output size", "(0, 0)"),
        (lambda: Conv2d("bad", 3, 4, True, 8), "kernel_size", "True"),
        (lambda: Linear("bad", 10, 0), "out_features", "0"),
        (lambda: Linear("bad", 10, 5, tokens=2.5), "tokens", "2.5"),
        (lambda: MatMul("bad", 4, 4, 4, heads=0), "heads", "0"),
        (lambda: Pool("bad", 3, 8, 2, 2, kind="median"), "kind", "'median'"),
        (lambda: Add("bad", (3, 0)), "shape", "0"),
    ],
)
def test_validation_names_layer_field_and_value(build, field, value):
    with pytest.raises(ValueError) as info:
        build()
    message = str(info.value)
    assert "'bad'" in message and field in message and value in message


@pytest.mark.parametrize(
    "layer",
    [
        Conv2d("c", 3, 8, 3, 8),
        Linear("l", 4, 4),
        MatMul("m", 2, 3, 4),
        Pool("p", 3, 8, 2, 2),
        Add("a", (3, 8, 8)),
    ],
)
def test_layers_are_frozen_and_hashable(layer):
    assert isinstance(layer, LAYER_TYPES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.name = "other"
    assert hash(layer) == hash(dataclasses.replace(layer))
    assert layer == dataclasses.replace(layer)


def test_gemm_macs_equals_layer_macs_for_mac_layers():
    for layer in (Conv2d("c", 6, 12, (3, 5), (9, 11), stride=(2, 1), groups=3), Linear("l", 7, 5, tokens=3)):
        assert layer.gemm.macs == layer.macs == layer.ops


@given(
    st.lists(st.integers(1, 5), min_size=2, max_size=4),
    st.integers(0, 2),
    st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
)
def test_concat_output_sums_the_axis_and_does_no_work(sizes, axis, base):
    shapes = []
    for size in sizes:
        shape = list(base)
        shape[axis] = size
        shapes.append(tuple(shape))
    layer = Concat("cat", tuple(shapes), axis)
    expected = list(base)
    expected[axis] = sum(sizes)
    assert layer.output_shape == tuple(expected) == layer.input_shape
    assert layer.macs == layer.ops == layer.weight_count == 0 and layer.gemm is None


@pytest.mark.parametrize(
    ("shapes", "axis", "message"),
    [
        (((2, 3),), 0, "at least 2 shapes"),
        (((2, 3), (2, 4)), 0, "differ outside axis 0"),
        (((2, 3), (2, 3, 1)), 1, "rank 2"),
        (((2, 3), (2, 3)), 2, "axis must be an int in"),
    ],
)
def test_concat_validation_names_layer_and_values(shapes, axis, message):
    with pytest.raises(ValueError, match=message) as info:
        Concat("bad", shapes, axis)
    assert "'bad'" in str(info.value)
