"""PyTorch import: the zoo's networks from module definitions, execute against torch, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch_models
from importer_checks import random_masks, relative_error, same_but_names, same_reports

from accelsim import execute, simulate
from workloads import Concat, Conv2d, Linear, MatMul, Softmax, get_network
from workloads.importers import ImportFormatError, MissingExtraError
from workloads.importers.torch_import import from_torch

IMAGE_224 = (1, 3, 224, 224)


@pytest.fixture(scope="module")
def imported_224() -> dict:
    torch.manual_seed(0)
    return {
        name: from_torch(getattr(torch_models, name)(), torch.randn(IMAGE_224))
        for name in ("resnet18", "resnet50", "mobilenet_v2", "vgg16")
    }


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v2", "vgg16"])
def test_imports_the_zoo_network(imported_224: dict, name: str) -> None:
    imported = imported_224[name]
    same_but_names(imported.network, get_network(name))
    assert imported.notes == ()


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "vgg16", "resnet50"])
def test_simulates_like_the_zoo_network(imported_224: dict, name: str) -> None:
    same_reports(imported_224[name].network, get_network(name), "scalesim_32x32")


def test_layer_names_are_module_paths(imported_224: dict) -> None:
    names = imported_224["resnet18"].network.layer_names
    assert names[:4] == ["conv1", "maxpool", "layer1.0.conv1", "layer1.0.conv2"]
    assert "layer2.0.downsample.0" in names and "layer2.0.add" in names and names[-1] == "fc"
    weights = imported_224["resnet18"].weights
    assert weights["layer1.0.conv1"].shape == (64, 64, 3, 3) and weights["fc.bias"].shape == (1000,)


def test_vit_b16_macs_match_the_published_figure() -> None:
    imported = from_torch(torch_models.vit_b_16(), torch.randn(IMAGE_224))
    # 17.56 GMACs for ViT-B/16 at 224 including the attention matmuls (the figure).
    assert imported.network.total_macs == pytest.approx(17.56e9, rel=0.01)
    scores = imported.network["layers.0.self_attn.attention.scores"]
    assert isinstance(scores, MatMul) and (scores.heads, scores.m, scores.k, scores.n) == (12, 197, 64, 197)
    assert any("execute() does not reproduce" in note for note in imported.notes)


@pytest.mark.parametrize("factory", [torch_models.resnet18, torch_models.mobilenet_v2])
def test_execute_matches_torch_with_and_without_masks(factory) -> None:
    shape = (2, 3, 64, 64)  # the numerical check runs below 224 to stay fast
    model = torch_models.settle_batchnorm(factory(num_classes=10), shape)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    imported = from_torch(model, x)
    with torch.no_grad():
        expected = model(x).numpy()
    actual = execute(imported.network, imported.weights, None, x.numpy())
    assert relative_error(actual, expected) < 1e-4

    masks = random_masks(imported.network, dict(imported.weights), 0.3, np.random.default_rng(3))
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_submodule(name).weight.mul_(torch.from_numpy(mask))
        expected_pruned = model(x).numpy()
    actual_pruned = execute(imported.network, imported.weights, masks, x.numpy())
    assert relative_error(actual_pruned, expected_pruned) < 1e-4
    assert relative_error(expected_pruned, expected) > 1e-2  # the masks did change the output


def test_mixed_ops_import_and_execute_exactly() -> None:
    model = torch_models.MixedOps().eval()
    x = torch.randn(3, 4, 8, 8)
    imported = from_torch(model, x)
    net = imported.network
    assert net["a"] == Conv2d("a", 4, 8, 3, (8, 8), padding=2, dilation=2, activation="silu")
    assert net["b"].groups == 2 and net["b"].activation == "hardswish"
    assert isinstance(net["cat"], Concat) and net["cat"].output_shape == (16, 8, 8)
    assert net["fc"] == Linear("fc", 256, 6, activation="gelu")
    with torch.no_grad():
        expected = model(x).numpy()
    assert relative_error(execute(net, imported.weights, None, x.numpy()), expected) < 1e-4
    for mode in ("analytical", "event"):  # the concat moves data on the vector unit and counts no ops
        cat = next(layer for layer in simulate(net, "edge_16x16", mode=mode).layers if layer.name == "cat")
        assert cat.macs == 0 and cat.cycles >= 1 and cat.dram_bytes > 0


class _Attention(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(16, 48)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(1, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
        scores = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
        return scores @ v


def test_explicit_attention_matmuls_have_heads() -> None:
    net = from_torch(_Attention(), torch.randn(1, 5, 16)).network
    matmuls = [layer for layer in net.layers() if isinstance(layer, MatMul)]
    assert [(m.heads, m.m, m.k, m.n) for m in matmuls] == [(2, 5, 8, 5), (2, 5, 5, 8)]
    assert any(isinstance(layer, Softmax) and layer.shape == (2, 5, 5) for layer in net.layers())


class _Unsupported(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cumsum(x, dim=1)


def test_unsupported_op_names_node_op_and_supported_list() -> None:
    with pytest.raises(
        ImportFormatError, match=r"node 'cumsum'.*unsupported op 'cumsum'.*supported ops: .*conv2d"
    ):
        from_torch(_Unsupported(), torch.randn(1, 4))


def test_standalone_batchnorm_is_a_clear_error() -> None:
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(3))
    with pytest.raises(ImportFormatError, match="batch normalisation is supported only directly after"):
        from_torch(model, torch.randn(1, 3, 4, 4))


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"accelsim\[torch\]"):
        from_torch(object(), None)


def test_importing_workloads_does_not_import_torch_or_onnx() -> None:
    code = (
        "import sys, workloads, workloads.importers, workloads.importers.torch_import, "
        "workloads.importers.onnx_import; print(sorted({'torch', 'onnx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class _ComputedWeight(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(x, self.weight * 2)


def test_weights_computed_from_parameters_fold_into_constants() -> None:
    imported = from_torch(_ComputedWeight(), torch.randn(1, 3, 4, 4))
    (name,) = imported.network.layer_names
    assert isinstance(imported.network[name], Conv2d)
    np.testing.assert_array_equal(imported.weights[name], np.full((2, 3, 1, 1), 2.0, dtype=np.float32))
