import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from workloads import nn
from workloads.datasets import Dataset
from workloads.layers import Add, Conv2d, Linear, Pool
from workloads.models import (
    Model,
    build_model,
    check_masks,
    init_weights,
    lenet_digits,
    lenet_network,
    magnitude_masks,
    mlp_digits,
)
from workloads.network import Network, NetworkBuilder


def naive_conv(x, w, b, stride, padding, dilation):
    """The textbook six-loop convolution (cross-correlation, as PyTorch), float64."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    for a in range(ho):
        for bb in range(wo):
            for i in range(kh):
                for j in range(kw):
                    patch = xp[:, :, a * stride[0] + i * dilation[0], bb * stride[1] + j * dilation[1]]
                    out[:, :, a, bb] += patch @ w[:, :, i, j].T
    return out + b[None, :, None, None]


# ------------------------------------------------------------------------------ kernels


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), hw=st.integers(3, 7),
    k=st.integers(1, 3), s=st.integers(1, 2), p=st.integers(0, 1), d=st.integers(1, 2), seed=st.integers(0, 99),
)  # fmt: skip
def test_conv_matches_naive_and_im2col_is_adjoint(n, c, o, hw, k, s, p, d, seed):
    if hw + 2 * p - d * (k - 1) < 1:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, hw, hw))
    w = rng.standard_normal((o, c, k, k))
    b = rng.standard_normal(o)
    out, _ = nn.conv2d_forward(x, w, b, stride=(s, s), padding=(p, p), dilation=(d, d))
    np.testing.assert_allclose(out, naive_conv(x, w, b, (s, s), (p, p), (d, d)), rtol=1e-10, atol=1e-10)
    cols = nn.im2col(x, (k, k), (s, s), (p, p), (d, d))
    probe = rng.standard_normal(cols.shape)
    back = nn.col2im(probe, x.shape, (k, k), (s, s), (p, p), (d, d))
    assert np.isclose(np.sum(cols * probe), np.sum(x * back))


def _gradient_check_network():
    """Every kernel variant in one chain: strided padded conv, overlapping padded max pool,
    dilated conv with relu6, avg pool, flatten into fc."""
    return Network.sequential("gradcheck", [
        Conv2d("c1", 2, 3, 3, (7, 7), stride=2, padding=1, activation="relu"),
        Pool("p1", 3, (4, 4), 3, 1, padding=1, kind="max"),
        Conv2d("c2", 3, 4, 2, (4, 4), dilation=2, activation="relu6"),
        Pool("p2", 4, (2, 2), 2, 1, kind="avg"),
        Linear("f1", 4, 5, activation="relu"),
        Linear("f2", 5, 3),
    ])  # fmt: skip


def test_backward_matches_finite_differences():
    network = _gradient_check_network()
    rng = np.random.default_rng(0)
    params = {k: v.astype(np.float64) for k, v in init_weights(network, seed=1).items()}
    for key in params:
        if key.endswith(".bias"):
            params[key] = rng.standard_normal(params[key].shape) * 0.1
    x = rng.standard_normal((5, 2, 7, 7))
    y = rng.integers(0, 3, 5)

    def loss(p):
        return nn.softmax_cross_entropy(nn.forward(network, p, x, keep_tape=False)[0], y)[0]

    logits, tape = nn.forward(network, params, x)
    _, dlogits = nn.softmax_cross_entropy(logits, y)
    grads = nn.backward(tape, dlogits)
    assert set(grads) == set(params)
    eps = 1e-6
    for key, value in params.items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            plus[key][index] += eps
            minus = {k: v.copy() for k, v in params.items()}
            minus[key][index] -= eps
            numeric[index] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_max_pool_routes_ties_to_the_first_maximum():
    x = np.ones((1, 1, 2, 2))
    out, tape = nn.pool2d_forward(x, kernel=(2, 2), stride=(2, 2))
    dx = nn.pool2d_backward(np.ones_like(out), tape)
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


# ------------------------------------------------------------------------------- models


@pytest.mark.parametrize("factory", [mlp_digits, lenet_digits])
@pytest.mark.parametrize("hw", [8, 28])
def test_weights_line_up_with_the_network(factory, hw):
    model = factory(input_hw=hw)
    weights = model.weights
    weighted = [layer for layer in model.network.layers() if layer.weight_shape is not None]
    assert set(weights) == {layer.name for layer in weighted} | {f"{layer.name}.bias" for layer in weighted}
    for layer in weighted:
        assert weights[layer.name].shape == layer.weight_shape
        assert weights[f"{layer.name}.bias"].shape == (layer.weight_shape[0],)
        assert weights[layer.name].dtype == np.float32
    x = np.zeros((3, 1, hw, hw), np.float32)
    logits, _ = model.forward(x)
    assert logits.shape == (3, 10)


def test_model_shapes():
    mlp = mlp_digits()
    assert [layer.weight_shape for layer in mlp.network] == [(300, 64), (100, 300), (10, 100)]
    assert mlp_digits(input_hw=28).network["fc1"].weight_shape == (300, 784)
    assert mlp.input_layout == "NF" and mlp.prepare_inputs(np.zeros((2, 1, 8, 8))).shape == (2, 64)
    lenet = lenet_digits()
    assert lenet.network.layer_names == ["conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3"]
    assert lenet.network["conv1"].weight_shape == (6, 1, 3, 3)
    assert lenet.network["fc1"].weight_shape == (120, 64)
    assert lenet_digits(input_hw=28).network["fc1"].weight_shape == (120, 784)
    assert lenet.input_layout == "NCHW"
    assert build_model("lenet_digits", seed=3).digest() == lenet_digits(seed=3).digest()
    with pytest.raises(ValueError, match="'resnet'"):
        build_model("resnet")


def test_init_is_deterministic_by_seed():
    assert mlp_digits(seed=5).digest() == mlp_digits(seed=5).digest()
    assert mlp_digits(seed=5).digest() != mlp_digits(seed=6).digest()


def test_model_is_immutable_and_validates_weights():
    model = mlp_digits()
    with pytest.raises(ValueError, match="read-only"):
        model.weights["fc1"][0, 0] = 1.0
    weights = model.weights
    weights["fc2"] = np.zeros((100, 299), np.float32)
    with pytest.raises(ValueError, match=r"'fc2' must have shape \(100, 300\)"):
        model.with_weights(weights)
    weights = model.weights
    del weights["fc3.bias"]
    with pytest.raises(ValueError, match=r"missing \['fc3.bias'\]"):
        model.with_weights(weights)
    weights = model.weights
    weights["fc1"] = weights["fc1"].astype(np.float64)
    with pytest.raises(ValueError, match="'fc1' must be float32"):
        model.with_weights(weights)


def test_untrainable_networks_are_rejected_by_name():
    grouped = Network.sequential("g", [Conv2d("dw", 4, 4, 3, (8, 8), groups=4)])
    with pytest.raises(ValueError, match="'dw': groups=4"):
        Model(grouped, init_weights(grouped, seed=0))
    builder = NetworkBuilder("branch")
    builder.add(Linear("a", 4, 4))
    builder.add(Linear("b", 4, 4), inputs="a")
    builder.add(Linear("c", 4, 4), inputs="a")
    with pytest.raises(ValueError, match="only chains"):
        nn.check_trainable(builder.build())
    residual = Network.sequential("r", [Linear("a", 4, 4), Add("add", (1, 4))])
    with pytest.raises(ValueError, match="'add' of type Add"):
        nn.check_trainable(residual)


# -------------------------------------------------------------------------------- masks


def test_check_masks_errors_name_the_layer():
    network = lenet_network()
    with pytest.raises(ValueError, match="'conv9'"):
        check_masks(network, {"conv9": np.ones((6, 1, 3, 3), bool)})
    with pytest.raises(ValueError, match="'pool1': layer has no weight"):
        check_masks(network, {"pool1": np.ones((6, 1, 3, 3), bool)})
    with pytest.raises(ValueError, match=r"'conv1': shape must be the weight shape \(6, 1, 3, 3\)"):
        check_masks(network, {"conv1": np.ones((6, 3, 3), bool)})
    with pytest.raises(ValueError, match="'conv1': dtype must be bool"):
        check_masks(network, {"conv1": np.ones((6, 1, 3, 3))})


def test_magnitude_masks_prune_the_smallest():
    weights = {"a": np.array([[0.1, -5.0], [2.0, -0.3]], np.float32), "a.bias": np.zeros(2, np.float32)}
    masks = magnitude_masks(weights, 0.5)
    assert set(masks) == {"a"}
    np.testing.assert_array_equal(masks["a"], [[False, True], [True, False]])
    model = mlp_digits()
    masks = magnitude_masks(model.weights, 0.8)
    for name, mask in masks.items():
        assert mask.mean() == pytest.approx(0.2, abs=1e-3), name


def test_masked_evaluation_equals_the_model_with_masked_weights():
    rng = np.random.default_rng(0)
    x = rng.random((40, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 40)
    data = Dataset("rand", x, y, x, y, x, y)
    for model in (mlp_digits(seed=1), lenet_digits(seed=1)):
        masks = magnitude_masks(model.weights, 0.7)
        masked = model.masked_weights(masks)
        for name, mask in masks.items():
            assert np.all(masked[name][~mask] == 0) and not np.any(np.signbit(masked[name][~mask]))
        explicit = model.with_weights(masked)
        np.testing.assert_array_equal(model.logits(x, masks=masks), explicit.logits(x))
        assert model.accuracy(data, "test", masks=masks) == explicit.accuracy(data, "test")
        # Batch size changes GEMM shapes, so BLAS may round differently: close, not bit-equal.
        np.testing.assert_allclose(model.logits(x, batch_size=7), model.logits(x), rtol=1e-5, atol=1e-6)
        evaluation = model.evaluate(data, "val")
        assert evaluation.count == 40 and 0 <= evaluation.accuracy <= 1 and evaluation.loss > 0
