import math

import numpy as np
import pytest

from accelsim.sparse.execute import choose_format, execute
from workloads import get_network
from workloads.layers import Add, Conv2d, Linear, Pool
from workloads.network import NetworkBuilder

# ------------------------------------------------------------------ an independent dense forward


def _act(x, activation):
    if activation == "relu":
        return np.maximum(x, 0)
    if activation == "relu6":
        return np.clip(x, 0, 6)
    if activation == "gelu":
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    return x


def _conv(x, w, layer):
    (sh, sw), (ph, pw), (dh, dw), g = layer.stride, layer.padding, layer.dilation, layer.groups
    kh, kw = layer.kernel_size
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    ho, wo = layer.output_hw
    cg, og = layer.in_channels // g, layer.out_channels // g
    out = np.zeros((layer.out_channels, ho, wo))
    for gi in range(g):
        for i in range(kh):
            for j in range(kw):
                patch = xp[
                    gi * cg : (gi + 1) * cg,
                    i * dh : i * dh + sh * (ho - 1) + 1 : sh,
                    j * dw : j * dw + sw * (wo - 1) + 1 : sw,
                ]
                out[gi * og : (gi + 1) * og] += np.einsum(
                    "oc,chw->ohw", w[gi * og : (gi + 1) * og, :, i, j], patch
                )
    return out


def _pool(x, layer):
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    fill = -np.inf if layer.kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    ho, wo = layer.output_hw
    out = np.empty((x.shape[0], ho, wo))
    for a in range(ho):
        for b in range(wo):
            win = xp[:, a * sh : a * sh + kh, b * sw : b * sw + kw]
            out[:, a, b] = win.max(axis=(1, 2)) if layer.kind == "max" else win.mean(axis=(1, 2))
    return out


def dense_forward(network, weights, masks, x):
    """One sample, float64, masked weights, straight from each layer's definition."""
    masks = masks or {}
    out = {}
    for layer in network.layers():
        preds = network.predecessors(layer.name)
        ins = [out[p] for p in preds] if preds else [x]
        w = weights.get(layer.name)
        if w is not None and masks.get(layer.name) is not None:
            w = np.where(masks[layer.name], w, 0)
        bias = weights.get(f"{layer.name}.bias")
        if isinstance(layer, Conv2d):
            y = _conv(ins[0].reshape(layer.input_shape), w, layer)
            if bias is not None:
                y = y + bias[:, None, None]
            y = _act(y, layer.activation)
        elif isinstance(layer, Linear):
            y = ins[0].reshape(layer.tokens, layer.in_features) @ w.T
            y = _act(y if bias is None else y + bias, layer.activation)
        elif isinstance(layer, Pool):
            y = _pool(ins[0].reshape(layer.input_shape), layer)
        elif isinstance(layer, Add):
            y = _act(ins[0].reshape(layer.shape) + ins[1].reshape(layer.shape), layer.activation)
        else:
            raise NotImplementedError(type(layer))
        out[layer.name] = y
    return out


def make_weights(network, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    weights = {}
    for layer in network.layers():
        if layer.weight_shape is None:
            continue
        fan_in = math.prod(layer.weight_shape[1:])
        weights[layer.name] = rng.standard_normal(layer.weight_shape) * math.sqrt(2.0 / fan_in)
        if bias:
            weights[f"{layer.name}.bias"] = 0.1 * rng.standard_normal(layer.weight_shape[0])
    return weights


def random_masks(network, density, seed=0):
    rng = np.random.default_rng(seed)
    return {
        l.name: rng.random(l.weight_shape) < density for l in network.layers() if l.weight_shape is not None
    }


def nm_mask(shape, n, m, seed=0):
    rows, cols = shape[0], math.prod(shape[1:])
    keys = np.random.default_rng(seed).random((rows, cols // m, m))
    return (np.argsort(np.argsort(keys, axis=2), axis=2) < n).reshape(shape)


def assert_close(got, expected, rtol=1e-5):
    scale = max(np.abs(expected).max(), 1e-30)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


# ------------------------------------------------------------------------------ zoo networks


ZOO = [
    ("lenet5", {}),
    ("mlp", {}),
    ("resnet18", {"input_hw": 32, "num_classes": 10}),
    ("mobilenet_v2", {"input_hw": 32, "num_classes": 10, "width_mult": 0.5}),
    ("alexnet", {"input_hw": 64, "num_classes": 10}),
]


@pytest.mark.parametrize("name,params", ZOO, ids=[z[0] for z in ZOO])
@pytest.mark.parametrize("density", [1.0, 0.3, 0.05])
def test_zoo_network_matches_dense_forward(name, params, density):
    net = get_network(name, **params)
    weights = make_weights(net)
    masks = None if density == 1.0 else random_masks(net, density, seed=1)
    source = net[net.layer_names[0]]
    x = np.random.default_rng(2).standard_normal(source.input_shape)
    got = execute(net, weights, masks, x, return_all=True)
    expected = dense_forward(net, weights, masks, x)
    assert list(got) == net.layer_names
    for layer in net.layers():
        assert got[layer.name].shape == tuple(layer.output_shape)
        assert_close(got[layer.name], expected[layer.name].reshape(layer.output_shape))
    last = execute(net, weights, masks, x)
    np.testing.assert_array_equal(last, got[net.layer_names[-1]])


def test_resnet_adds_apply_relu():
    net = get_network("resnet18", input_hw=32)
    adds = [l for l in net.layers() if isinstance(l, Add)]
    assert adds and all(a.activation == "relu" for a in adds)
    assert all(l.activation is None for l in get_network("mobilenet_v2").layers() if isinstance(l, Add))


def test_add_activation_is_validated():
    with pytest.raises(ValueError, match=r"layer 'a'.*activation.*'tanh'"):
        Add("a", (3, 4), activation="tanh")
    assert Add("a", (3, 4), activation="relu").activation == "relu"


def _format_masks(net, fmt, seed=0):
    """A random mask per weighted layer shaped for ``fmt`` (N:M along the reduction axis, whole blocks)."""
    rng = np.random.default_rng(seed)
    masks, formats = {}, {}
    for layer in net.layers():
        if layer.weight_shape is None:
            continue
        shape = layer.weight_shape
        rows, cols = shape[0], math.prod(shape[1:])
        if fmt[0] == "nm":
            n, m = fmt[1], fmt[2]
            if cols % m:
                continue
            masks[layer.name] = nm_mask(shape, n, m, seed)
        elif fmt[0] == "bsr":
            br, bc = fmt[1]
            br, bc = math.gcd(br, rows), math.gcd(bc, cols)
            grid = rng.random((rows // br, cols // bc)) < 0.3
            masks[layer.name] = np.kron(grid, np.ones((br, bc), dtype=bool)).reshape(shape)
            formats[layer.name] = ("bsr", (br, bc))
            continue
        else:
            masks[layer.name] = rng.random(shape) < 0.2
            formats[layer.name] = "csr"
            continue
        formats[layer.name] = fmt
    return masks, formats


@pytest.mark.parametrize(
    "fmt",
    [("csr",), ("bitmap",), ("bsr", (4, 4)), ("nm", 2, 4), ("nm", 1, 4), ("dense",)],
    ids=lambda f: "-".join(map(str, f)),
)
@pytest.mark.parametrize("name,params", ZOO[:3], ids=[z[0] for z in ZOO[:3]])
def test_every_format_matches_dense_forward(fmt, name, params):
    net = get_network(name, **params)
    weights = make_weights(net, seed=3)
    if len(fmt) == 1:  # unstructured masks, run through the named format
        masks, _ = _format_masks(net, ("csr",), seed=4)
        formats = dict.fromkeys(masks, fmt[0])
    else:
        masks, formats = _format_masks(net, fmt, seed=4)
    x = np.random.default_rng(5).standard_normal((3, *net[net.layer_names[0]].input_shape))
    got = execute(net, weights, masks, x, formats=formats, return_all=True)
    for b in range(3):
        expected = dense_forward(net, weights, masks, x[b])
        for layer in net.layers():
            assert_close(got[layer.name][b], expected[layer.name].reshape(layer.output_shape))


def test_float32_runs_in_float32():
    net = get_network("lenet5")
    weights = make_weights(net)
    masks = random_masks(net, 0.2)
    x = np.random.default_rng(0).standard_normal((4, 1, 32, 32)).astype(np.float32)
    out = execute(net, weights, masks, x)
    assert out.dtype == np.float32 and out.shape == (4, 1, 10)
    expected = np.stack([dense_forward(net, weights, masks, xi.astype(np.float64))["fc3"] for xi in x])
    assert_close(out, expected, rtol=1e-4)


def test_all_kept_masks_equal_no_masks_and_fully_pruned_layer_gives_bias():
    net = get_network("mlp")
    weights = make_weights(net)
    x = np.random.default_rng(0).standard_normal(784)
    dense = execute(net, weights, None, x)
    all_kept = {n: np.ones(w.shape, dtype=bool) for n, w in weights.items() if not n.endswith(".bias")}
    np.testing.assert_array_equal(execute(net, weights, all_kept, x), dense)
    masks = dict(all_kept, fc3=np.zeros((10, 100), dtype=bool))
    for fmt in ["csr", "bitmap", ("bsr", (2, 4)), "dense"]:
        out = execute(net, weights, masks, x, formats={"fc3": fmt})
        np.testing.assert_array_equal(out, weights["fc3.bias"][None, :])


def test_batch_and_single_agree():
    net = get_network("lenet5")
    weights = make_weights(net)
    masks = random_masks(net, 0.3)
    xs = np.random.default_rng(0).standard_normal((3, 1, 32, 32))
    batch = execute(net, weights, masks, xs)
    for b in range(3):
        assert_close(execute(net, weights, masks, xs[b]), batch[b], rtol=1e-12)
        assert_close(execute(net, weights, masks, xs[b, 0]), batch[b], rtol=1e-12)  # (32, 32) fits by size


# ---------------------------------------------------------------------------------- BERT


def test_bert_encoder_matches_hand_written_attention():
    seq, hidden, heads, ffn = 6, 8, 2, 16
    net = get_network("bert_base_encoder", seq_len=seq, hidden=hidden, heads=heads, ffn=ffn)
    weights = make_weights(net, seed=1)
    rng = np.random.default_rng(2)
    for ln in ("attention.norm", "ffn.norm"):
        weights[f"{ln}.weight"] = 1 + 0.1 * rng.standard_normal(hidden)
        weights[f"{ln}.bias"] = 0.1 * rng.standard_normal(hidden)
    masks = random_masks(net, 0.4, seed=3)
    x = rng.standard_normal((seq, hidden))
    got = execute(net, weights, masks, x, return_all=True)

    def lin(name, a):
        w = np.where(masks[name], weights[name], 0)
        return _act(a @ w.T + weights[f"{name}.bias"], net[name].activation)

    def norm(name, a):
        mu, var = a.mean(-1, keepdims=True), a.var(-1, keepdims=True)
        return (a - mu) / np.sqrt(var + 1e-5) * weights[f"{name}.weight"] + weights[f"{name}.bias"]

    d = hidden // heads
    q, k, v = (
        lin(f"attention.{p}", x).reshape(seq, heads, d).transpose(1, 0, 2) for p in ("query", "key", "value")
    )
    scores = q @ k.transpose(0, 2, 1)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    ctx = p @ v
    attn = lin("attention.output", ctx.transpose(1, 0, 2).reshape(seq, hidden))
    h = norm("attention.norm", attn + x)
    out = norm("ffn.norm", lin("ffn.output", lin("ffn.intermediate", h)) + h)
    for name, expected in [
        ("attention.scores", scores),
        ("attention.softmax", p),
        ("attention.context", ctx),
        ("attention.norm", h),
        ("ffn.norm", out),
    ]:
        assert_close(got[name], expected)
    assert_close(execute(net, weights, masks, x), out)


def test_matmul_operand_order_when_seq_equals_head_dim():
    # seq == head_dim makes both operand assignments of the context MatMul fit by shape.
    net = get_network("bert_base_encoder", seq_len=4, hidden=8, heads=2, ffn=8)
    weights = make_weights(net, seed=4)
    x = np.random.default_rng(5).standard_normal((4, 8))
    got = execute(net, weights, None, x, return_all=True)
    v = (
        (x @ weights["attention.value"].T + weights["attention.value.bias"])
        .reshape(4, 2, 4)
        .transpose(1, 0, 2)
    )
    assert_close(got["attention.context"], got["attention.softmax"] @ v)


# ------------------------------------------------------------------------- format choice


def test_choose_format_reads_the_pattern():
    rng = np.random.default_rng(0)
    assert choose_format(None) == "dense"
    assert choose_format(np.ones((8, 8), dtype=bool)) == "dense"
    assert choose_format(rng.random((32, 32)) < 0.8) == "dense"
    assert choose_format(nm_mask((16, 32), 2, 4)) == ("nm", 2, 4)
    assert choose_format(nm_mask((16, 32), 1, 4)) == ("nm", 1, 4)
    blocks = np.kron(rng.random((4, 4)) < 0.3, np.ones((16, 16), dtype=bool))
    assert choose_format(blocks) == ("bsr", (16, 16))
    blocks8 = np.kron(rng.random((2, 6)) < 0.3, np.ones((8, 8), dtype=bool))
    assert choose_format(blocks8) == ("bsr", (8, 8))
    assert choose_format(rng.random((32, 32)) < 0.1) == "csr"
    # A 16-row block would straddle the 8-channel groups of a grouped conv: 8x8 instead.
    grouped = np.kron(rng.random((4, 2)) < 0.4, np.ones((16, 16), dtype=bool))
    assert choose_format(grouped, groups=8) == ("bsr", (8, 8))
    assert choose_format(grouped, groups=4) == ("bsr", (16, 16))


# ---------------------------------------------------------------------------------- errors


@pytest.fixture
def lenet():
    net = get_network("lenet5")
    return net, make_weights(net), np.zeros((1, 32, 32))


def test_mask_shape_mismatch(lenet):
    net, weights, x = lenet
    with pytest.raises(ValueError, match=r"layer 'conv2'.*mask shape \(16, 6, 5\).*\(16, 6, 5, 5\)"):
        execute(net, weights, {"conv2": np.ones((16, 6, 5), dtype=bool)}, x)


def test_non_bool_mask(lenet):
    net, weights, x = lenet
    with pytest.raises(ValueError, match=r"layer 'fc1'.*bool.*int64"):
        execute(net, weights, {"fc1": np.ones((120, 400), dtype=np.int64)}, x)


def test_block_that_does_not_tile(lenet):
    net, weights, x = lenet
    with pytest.raises(ValueError, match=r"layer 'fc2'.*\(16, 16\) does not tile.*\(84, 120\)"):
        execute(net, weights, {"fc2": np.ones((84, 120), dtype=bool)}, x, formats={"fc2": ("bsr", (16, 16))})


def test_n_greater_than_m(lenet):
    net, weights, x = lenet
    with pytest.raises(ValueError, match=r"layer 'fc3'.*n=4 > m=2"):
        execute(net, weights, None, x, formats={"fc3": ("nm", 4, 2)})


def test_mask_not_matching_nm(lenet):
    net, weights, x = lenet
    with pytest.raises(ValueError, match=r"layer 'fc3'.*not 1:4"):
        execute(net, weights, {"fc3": np.ones((10, 84), dtype=bool)}, x, formats={"fc3": ("nm", 1, 4)})


def test_weight_errors(lenet):
    net, weights, x = lenet
    with pytest.raises(ValueError, match=r"layer 'fc1'.*missing"):
        execute(net, {k: v for k, v in weights.items() if k != "fc1"}, None, x)
    with pytest.raises(ValueError, match=r"layer 'fc1'.*\(400, 120\).*\(120, 400\)"):
        execute(net, dict(weights, fc1=np.zeros((400, 120))), None, x)
    with pytest.raises(ValueError, match=r"layer 'fc1'.*bias shape \(3,\)"):
        execute(net, {**weights, "fc1.bias": np.zeros(3)}, None, x)
    with pytest.raises(ValueError, match=r"no layer 'fc9'"):
        execute(net, weights, None, x, formats={"fc9": "csr"})
    with pytest.raises(ValueError, match=r"layer 'pool1'.*no weights"):
        execute(net, weights, None, x, formats={"pool1": "csr"})
    with pytest.raises(ValueError, match=r"layer 'fc1'.*format.*'coo'"):
        execute(net, weights, None, x, formats={"fc1": "coo"})
    with pytest.raises(ValueError, match=r"layer 'conv1'.*input shape \(5, 5\)"):
        execute(net, weights, None, np.zeros((5, 5)))


def test_tiny_graph_with_every_op():
    b = NetworkBuilder("tiny")
    b.add(Conv2d("c", 2, 4, 3, (6, 6), padding=1, activation="relu6"), inputs=())
    b.add(Pool("p", 4, (6, 6), 3, 2, padding=1, kind="avg"))
    b.add(Conv2d("dw", 4, 4, 3, (3, 3), padding=1, groups=4))
    b.add(Add("a", (4, 3, 3), activation="relu"), inputs=("dw", "p"))
    b.add(Linear("fc", 36, 6, activation="gelu"))
    net = b.build()
    weights = make_weights(net)
    masks = random_masks(net, 0.4, seed=9)
    x = np.random.default_rng(1).standard_normal((2, 6, 6))
    got = execute(net, weights, masks, x, return_all=True)
    expected = dense_forward(net, weights, masks, x)
    for name in net.layer_names:
        assert_close(got[name], expected[name].reshape(net[name].output_shape))
