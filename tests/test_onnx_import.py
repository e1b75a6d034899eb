"""ONNX import: models exported with torch.onnx.export import to the network from_torch gives."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

import torch_models
from importer_checks import random_masks, relative_error, same_but_names

from accelsim import execute
from workloads import MatMul, get_network
from workloads.importers import ImportFormatError, MissingExtraError
from workloads.importers.onnx_import import from_onnx, module_path
from workloads.importers.torch_import import from_torch

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def export(model: torch.nn.Module, x: torch.Tensor, path: Path, opset: int = 17) -> Path:
    # The TorchScript exporter: the dynamo one would need onnxscript besides onnx.
    torch.onnx.export(model.eval(), (x,), str(path), dynamo=False, opset_version=opset)
    return path


@pytest.mark.parametrize(("factory", "opset"), [(torch_models.resnet18, 11), (torch_models.mobilenet_v2, 13)])
def test_onnx_export_imports_to_the_torch_network_and_executes(tmp_path: Path, factory, opset: int) -> None:
    shape = (2, 3, 64, 64)  # below 224 to stay fast; the 224 zoo checks run through from_torch
    model = torch_models.settle_batchnorm(factory(num_classes=10), shape)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(5))
    from_file = from_onnx(export(model, x, tmp_path / "model.onnx", opset))
    from_module = from_torch(model, x)
    assert from_file.network.layer_names == from_module.network.layer_names
    same_but_names(from_file.network, from_module.network)
    same_but_names(from_file.network, get_network(factory.__name__, input_hw=64, num_classes=10))
    assert set(from_file.weights) == set(from_module.weights)
    for key, value in from_module.weights.items():
        np.testing.assert_allclose(from_file.weights[key], value, rtol=1e-5, atol=1e-6)

    masks = random_masks(from_file.network, dict(from_file.weights), 0.3, np.random.default_rng(6))
    with torch.no_grad():
        for name, mask in masks.items():
            model.get_submodule(name).weight.mul_(torch.from_numpy(mask))
        expected = model(x).numpy()
    assert relative_error(execute(from_file.network, from_file.weights, masks, x.numpy()), expected) < 1e-4


def test_spelled_out_activations_fuse_and_execute_exactly(tmp_path: Path) -> None:
    model = torch_models.MixedOps().eval()
    x = torch.randn(3, 4, 8, 8)
    imported = from_onnx(export(model, x, tmp_path / "mixed.onnx"))
    same_but_names(imported.network, from_torch(model, x).network)
    assert [layer.activation for layer in imported.network.layers() if hasattr(layer, "activation")] == [
        "silu",
        "hardswish",
        "gelu",
    ]  # Sigmoid*Mul, HardSwish and the Div/Erf/Add/Mul/Mul GELU
    with torch.no_grad():
        expected = model(x).numpy()
    assert relative_error(execute(imported.network, imported.weights, None, x.numpy()), expected) < 1e-4


def test_small_vit_imports_like_from_torch(tmp_path: Path) -> None:
    model = torch_models.ViT(image=32, patch=8, width=32, depth=2, heads=4, mlp=64, num_classes=10).eval()
    x = torch.randn(1, 3, 32, 32)
    from_file = from_onnx(export(model, x, tmp_path / "vit.onnx"))
    from_module = from_torch(model, x)
    assert from_file.network.total_macs == from_module.network.total_macs
    kinds = [type(layer).__name__ for layer in from_file.network.layers()]
    assert kinds == [type(layer).__name__ for layer in from_module.network.layers()]
    scores = next(layer for layer in from_file.network.layers() if isinstance(layer, MatMul))
    assert (scores.heads, scores.m, scores.k, scores.n) == (4, 17, 8, 17)


def test_missing_external_weights_import_shapes_and_say_so(tmp_path: Path) -> None:
    model = torch_models.resnet18(num_classes=10, width=8)
    x = torch.randn(1, 3, 32, 32)
    path = export(model, x, tmp_path / "full.onnx")
    proto = onnx.load(str(path))
    external = tmp_path / "split.onnx"
    onnx.save_model(
        proto,
        str(external),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="split.weights",
        size_threshold=0,
    )
    (tmp_path / "split.weights").unlink()
    imported = from_onnx(external)
    assert imported.weights is None
    assert len(imported.notes) == 1 and "missing" in imported.notes[0]
    same_but_names(imported.network, from_onnx(path).network)


def test_unsupported_op_names_node_op_type_and_supported_list(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Cos", ["x"], ["y"], name="my_cos")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    path = tmp_path / "cos.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(
        ImportFormatError, match=r"cos.onnx: node 'my_cos': unsupported op type 'Cos'; supported ops: .*Conv"
    ):
        from_onnx(path)


def test_old_opset_and_unreadable_files_are_clear_errors(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    old = tmp_path / "old.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)]), str(old))
    with pytest.raises(ImportFormatError, match="opset 9 is not supported"):
        from_onnx(old)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x07 not a protobuf")
    with pytest.raises(ImportFormatError, match="junk.onnx: not a readable ONNX model"):
        from_onnx(junk)
    with pytest.raises(ImportFormatError, match="no such ONNX file"):
        from_onnx(tmp_path / "absent.onnx")


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError, match=r"accelsim\[onnx\]"):
        from_onnx("any.onnx")


@pytest.mark.parametrize(
    ("node", "path"),
    [
        ("/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"),
        ("/features/features.1/conv/conv.0/conv.0.0/Conv", "features.1.conv.0.0"),
        ("/fc/Gemm", "fc"),
        ("/GlobalAveragePool", ""),
    ],
)
def test_module_path_from_exporter_node_names(node: str, path: str) -> None:
    assert module_path(node) == path


def test_asymmetric_padding_is_a_clear_error_naming_the_node(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 1, 3, 3), dtype=np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="/stem/Conv", pads=[1, 1, 0, 0])
    graph = helper.make_graph(
        [conv],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[weight],
    )
    path = tmp_path / "pad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(ImportFormatError, match=r"node '/stem/Conv': asymmetric padding \(1, 1, 0, 0\)"):
        from_onnx(path)
