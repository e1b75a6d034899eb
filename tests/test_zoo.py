import math
import subprocess
import sys

import pytest

from workloads.layers import Add, Conv2d, Linear, Pool
from workloads.zoo import UnknownNetworkError, get_network, list_networks

# Published totals at 224x224 (MACs, multiply-accumulates; weights exclude biases and batch-norm).
PUBLISHED_MACS = {
    "resnet50": 4.09e9,
    "vgg16": 15.47e9,
    "alexnet": 0.714e9,
    "mobilenet_v2": 0.300e9,
    "resnet18": 1.814e9,
    # ViT-B/16 at 224: 17.6 GMACs incl. attention (timm model card vit_base_patch16_224; DeiT-B, Touvron
    # et al. ICML 2021, Table 1: 17.6 "GFLOPs" counted as fvcore does, one per MAC)
    "vit_b16": 17.56e9,
}
PUBLISHED_WEIGHTS = {
    "vit_b16": 86.6e6,  # timm model card vit_base_patch16_224: 86.6 M params
    "resnet50": 25.5e6,
    "vgg16": 138.0e6,
    "resnet18": 11.7e6,
    "alexnet": 61.1e6,
    "mobilenet_v2": 3.5e6,
}


@pytest.fixture(scope="module")
def all_networks():
    return {name: get_network(name) for name in list_networks()}


def test_registry_names():
    assert set(list_networks()) >= {
        "lenet5", "mlp", "alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "bert_base_encoder",
        "vit_b16",
    }  # fmt: skip


def test_unknown_network_error_names_it_and_lists_known():
    with pytest.raises(UnknownNetworkError) as info:
        get_network("resnet1000")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert "resnet1000" in str(info.value) and "resnet50" in str(info.value)


@pytest.mark.parametrize(("name", "published"), sorted(PUBLISHED_MACS.items()))
def test_total_macs_match_published(name, published):
    assert get_network(name).total_macs == pytest.approx(published, rel=0.02)


@pytest.mark.parametrize(("name", "published"), sorted(PUBLISHED_WEIGHTS.items()))
def test_total_weights_match_published(name, published):
    assert get_network(name).total_weights == pytest.approx(published, rel=0.02)


def test_lenet_300_100_exact():
    net = get_network("mlp")
    assert net.total_macs == 784 * 300 + 300 * 100 + 100 * 10
    assert net.total_weights == 784 * 300 + 300 * 100 + 100 * 10


def test_lenet5_shapes():
    net = get_network("lenet5")
    assert net["conv1"].output_shape == (6, 28, 28)
    assert net["fc1"].in_features == 16 * 5 * 5
    # conv1 + conv2 + fcs, from LeCun et al. 1998 geometry.
    assert net.total_macs == 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10


def test_bert_encoder_macs_hand_formula():
    net = get_network("bert_base_encoder")
    s, d, f, h = 128, 768, 3072, 12
    assert net.total_macs == 4 * s * d * d + 2 * s * d * f + 2 * h * s * s * (d // h)
    assert net["attention.scores"].gemm.groups == h
    assert net["ffn.intermediate"].activation == "gelu"


def test_vit_b16_macs_hand_formula():
    # 196 patches + class token; per block QKV/proj 4*T*D^2, QK^T and AV 2*T^2*D, MLP 2*T*D*F.
    t, d, f = 197, 768, 3072
    block = 4 * t * d * d + 2 * t * t * d + 2 * t * d * f
    expected = 196 * (3 * 16 * 16) * d + 12 * block + d * 1000
    net = get_network("vit_b16")
    assert net.total_macs == expected
    assert sum(1 for layer in net if isinstance(layer, Linear) and layer.name.endswith("mlp.fc1")) == 12


def test_vit_b16_input_and_depth_params():
    small = get_network("vit_b16", input_hw=64, layers=2, num_classes=10)
    _check_edges(small)
    assert small["blocks.1.attn.scores"].m == (64 // 16) ** 2 + 1
    assert small.layers()[-1].out_features == 10
    with pytest.raises(ValueError, match="patch"):
        get_network("vit_b16", input_hw=(224, 200))


def test_bert_seq_len_param():
    assert (
        get_network("bert_base_encoder", seq_len=64).total_macs < get_network("bert_base_encoder").total_macs
    )


def test_gemm_macs_equal_layer_macs(all_networks):
    for net in all_networks.values():
        for layer in net:
            if layer.gemm is None:
                assert layer.macs == 0
            else:
                assert layer.gemm.macs == layer.macs, layer.name


def _check_edges(net):
    """Every producer's output feeds its consumer's input where the two speak the same layout."""
    spatial = (Conv2d, Pool, Add)
    for layer in net:
        preds = [net[p] for p in net.predecessors(layer.name)]
        if isinstance(layer, Add):
            shapes = {p.output_shape for p in preds} | {layer.shape}
            assert len(shapes) == 1, (layer.name, shapes)
            continue
        for pred in preds:
            if isinstance(layer, (Conv2d, Pool)) and isinstance(pred, spatial):
                assert pred.output_shape == layer.input_shape, (pred.name, layer.name)
            elif isinstance(layer, Linear) and isinstance(pred, spatial):
                assert math.prod(pred.output_shape) == layer.in_features * layer.tokens, (
                    pred.name,
                    layer.name,
                )
            elif isinstance(layer, Linear) and isinstance(pred, Linear):
                assert pred.output_shape == layer.input_shape, (pred.name, layer.name)


def test_shapes_consistent_along_every_edge(all_networks):
    for net in all_networks.values():
        _check_edges(net)


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "vgg16", "alexnet"])
def test_input_hw_and_num_classes(name):
    small = get_network(name, input_hw=(64, 64), num_classes=10)
    _check_edges(small)
    assert small.layers()[-1].out_features == 10
    assert small.total_macs < get_network(name).total_macs


def test_resnet18_at_32x32():
    net = get_network("resnet18", input_hw=(32, 32))
    _check_edges(net)
    assert net["avgpool"].output_shape == (512, 1, 1)


def test_resnet_structure():
    r50 = get_network("resnet50")
    adds = [layer for layer in r50 if isinstance(layer, Add)]
    assert len(adds) == 3 + 4 + 6 + 3
    # v1.5: stride sits on the 3x3, not the first 1x1.
    assert r50["layer2.0.conv1"].stride == (1, 1) and r50["layer2.0.conv2"].stride == (2, 2)
    assert r50.predecessors("layer2.0.add") == ["layer2.0.conv3", "layer2.0.downsample"]
    assert r50.predecessors("layer1.1.add") == ["layer1.0.add", "layer1.1.conv3"]  # identity shortcut
    r18 = get_network("resnet18")
    assert "layer1.0.downsample" not in r18 and "layer2.0.downsample" in r18


def test_mobilenet_v2_structure():
    net = get_network("mobilenet_v2")
    dws = [layer for layer in net if isinstance(layer, Conv2d) and layer.is_depthwise]
    assert len(dws) == 17
    adds = [layer for layer in net if isinstance(layer, Add)]
    assert len(adds) == 10  # repeats beyond the first in each stage: 1+2+3+2+2 (16, 320 stages: none)


def test_relu_activations_present():
    for name in ("alexnet", "vgg16", "resnet50"):
        net = get_network(name)
        assert any(getattr(layer, "activation", None) == "relu" for layer in net)
    assert get_network("mobilenet_v2")["features.0"].activation == "relu6"


def test_workloads_imports_none_of_our_other_packages():
    ours = "{'accelsim', 'pruning', 'reports'}"
    code = f"import sys, workloads.zoo; print(sorted(m for m in sys.modules if m.split('.')[0] in {ours}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
