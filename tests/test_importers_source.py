"""load_network: one string to a network (zoo, trainable model, SCALE-Sim CSV, network YAML, module:function)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workloads.importers import ImportFormatError
from workloads.importers.network_yaml import dump_network
from workloads.importers.source import load_network
from workloads.layers import Conv2d, Linear
from workloads.models import build_model
from workloads.zoo import UnknownNetworkError, get_network


def test_zoo_names_and_input_size() -> None:
    assert load_network("resnet18").network.layers() == get_network("resnet18").layers()
    small = load_network("resnet18", input_size=64).network
    assert small.layers() == get_network("resnet18", input_hw=(64, 64)).layers()
    assert small.total_macs < get_network("resnet18").total_macs


def test_trainable_model_names() -> None:
    assert load_network("lenet_digits").network.layers() == build_model("lenet_digits").network.layers()


def test_unknown_name_lists_every_kind_of_source() -> None:
    with pytest.raises(UnknownNetworkError) as info:
        load_network("resnet51")
    message = str(info.value)
    assert "'resnet51'" in message and "resnet50" in message and "lenet_digits" in message
    assert ".onnx" in message and "module:function" in message


def test_csv_is_a_scalesim_topology(tmp_path: Path) -> None:
    path = tmp_path / "net.csv"
    path.write_text("Layer, M, N, K,\nfc, 4, 10, 20,\n")
    (layer,) = load_network(str(path)).network.layers()
    assert layer == Linear("fc", in_features=20, out_features=10, tokens=4)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_yaml_is_a_network_file(tmp_path: Path, suffix: str) -> None:
    network = get_network("lenet5")
    path = tmp_path / f"lenet{suffix}"
    path.write_text(dump_network(network))
    assert load_network(str(path)).network.layers() == network.layers()


def test_input_size_does_not_apply_to_files(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="input size 64: applies to zoo networks"):
        load_network(str(tmp_path / "x.yaml"), input_size=64)


def test_missing_file_is_an_import_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="cannot read"):
        load_network(str(tmp_path / "nothing.csv"))


def test_module_function_errors_before_torch_is_needed(tmp_path: Path) -> None:
    script = tmp_path / "nets.py"
    script.write_text("def not_a_pair():\n    return 3\n\nVALUE = 1\n")
    with pytest.raises(
        ImportFormatError, match=r"not_a_pair\(\) must return \(nn.Module, example_input\), got int"
    ):
        load_network(f"{script}:not_a_pair")
    with pytest.raises(ImportFormatError, match="'VALUE' is a int, not a function"):
        load_network(f"{script}:VALUE")
    with pytest.raises(ImportFormatError, match="no Python file"):
        load_network(f"{tmp_path / 'absent.py'}:build")
    with pytest.raises(ImportFormatError, match="cannot import module 'no_such_pkg.models'"):
        load_network("no_such_pkg.models:build")


def test_dotted_module_is_imported_by_name() -> None:
    # A real module whose attribute is not a function: proves the dotted import happened.
    with pytest.raises(
        ImportFormatError,
        match="--network 'workloads.layers:ACTIVATIONS': 'ACTIVATIONS' is a tuple, not a function",
    ):
        load_network("workloads.layers:ACTIVATIONS")


def test_conv_csv_keeps_scalesim_shapes(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("Layer, H, W, FH, FW, C, K, S,\nc, 7, 7, 3, 3, 2, 4, 2,\n")
    (layer,) = load_network(str(path)).network.layers()
    assert layer == Conv2d("c", 2, 4, (3, 3), (7, 7), stride=(2, 2))
