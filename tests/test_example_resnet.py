"""examples/cifar_resnet.py, test-sized: the same prepare -> `accelsim codesign --model` path on a tiny ResNet.

The tiny variant is ResNet-8 at width 4 on the digits resized to 12x12 with 300 training images,
trained for six epochs; the codesign run searches the one-level 2:4 option in analytical mode, so
it fine-tunes one candidate per search, and allows a 20-point drop so that the candidate is kept
and gets the final fine-tune.
The full-size run and its figures are benchmarks/bench_codesign_resnet.py's.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from importer_checks import relative_error

from accelsim import execute
from accelsim.cli.main import main
from workloads.datasets import load_digits
from workloads.importers.torch_import import from_torch
from workloads.torch_model import TorchModel

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cifar_resnet.py"
SPEC = f"{EXAMPLE}:resnet"
TRAIN_LIMIT = 300  # of the 1,257 training images; validation and test stay whole


@pytest.fixture(scope="module")
def example() -> ModuleType:
    loader = importlib.util.spec_from_file_location("cifar_resnet_example", EXAMPLE)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    sys.modules[loader.name] = module  # the Recipe dataclass looks its module up here
    loader.loader.exec_module(module)
    return module


def tiny(example: ModuleType, seed: int = 0) -> Any:
    """The test-sized ``Recipe`` (the example module is loaded from its path, so no static type)."""
    return example.Recipe(
        blocks_per_stage=1, width=4, size=12, epochs=6, batch_size=32, seed=seed, train_limit=TRAIN_LIMIT
    )


@pytest.fixture(scope="module")
def prepared(example: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("resnet")
    example.prepare(out, tiny(example))
    return out


def test_resize_matches_torch_bilinear(example: ModuleType) -> None:
    # An independent reference: torch's bilinear interpolation with half-pixel centres.
    x = np.random.default_rng(0).random((2, 1, 8, 8))
    matrix = example.bilinear_matrix(8, 32)
    ours = np.einsum("oi,ncij,pj->ncop", matrix, x, matrix)
    theirs = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=(32, 32), mode="bilinear", align_corners=False
    ).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_data_is_the_fixed_digits_split_resized_and_normalised(example: ModuleType) -> None:
    digits = load_digits()
    arrays = example.digits_arrays(32)
    for split in ("train", "val", "test"):
        x, y = digits.split(split)
        np.testing.assert_array_equal(arrays[f"y_{split}"], y)
        assert arrays[f"x_{split}"].shape == (len(y), 1, 32, 32)
        assert arrays[f"x_{split}"].dtype == np.float32
    train = arrays["x_train"].astype(np.float64)
    assert abs(train.mean()) < 1e-5 and abs(train.std() - 1.0) < 1e-5
    # The test split is normalised with the training statistics, so its mean is not forced to 0.
    assert abs(arrays["x_test"].astype(np.float64).mean()) > 1e-4
    limited = example.digits_arrays(12, TRAIN_LIMIT)
    np.testing.assert_array_equal(limited["y_train"], digits.y_train[:TRAIN_LIMIT])
    assert len(limited["y_val"]) == len(digits.y_val) and len(limited["y_test"]) == len(digits.y_test)


def test_prepare_is_deterministic_by_seed(example: ModuleType, prepared: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    first = TorchModel(*_loaded(example, prepared))
    assert example.prepare(again, tiny(example)).digest() == first.digest()
    assert example.prepare(other, tiny(example, seed=1)).digest() != first.digest()
    with np.load(prepared / example.DATA_FILE) as a, np.load(again / example.DATA_FILE) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_traced_network_has_the_torch_models_layers_with_batchnorm_folded(
    example: ModuleType, prepared: Path
) -> None:
    module, example_input = _loaded(example, prepared)
    model = TorchModel(module, example_input)
    imported = from_torch(module, example_input)
    weighted = {layer.name: layer.weight_shape for layer in imported.network.layers() if layer.weight_shape}
    assert {name: tuple(shape) for name, shape in weighted.items()} == model.layers
    assert "stage2.0.shortcut.0" in weighted and "stage1.0.shortcut.0" not in weighted
    # BatchNorm lives on in the folded weights: the traced network computes what the module does.
    with np.load(prepared / example.DATA_FILE) as data:
        x = data["x_test"][:8]
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    assert relative_error(execute(imported.network, imported.weights, None, x), expected) < 1e-4


def test_missing_weights_name_the_command_that_makes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ACCELSIM_RESNET_DIR", str(tmp_path))
    data = tmp_path / "digits32.npz"
    args = ["codesign", "--model", SPEC, "--data", str(data), "--out", str(tmp_path / "run"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "examples/cifar_resnet.py prepare" in err and str(tmp_path) in err


def test_codesign_cli_runs_the_example_end_to_end(
    example: ModuleType, prepared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("ACCELSIM_RESNET_DIR", str(prepared))
    out = tmp_path / "run"
    args = ["codesign", "--model", SPEC, "--data", str(prepared / example.DATA_FILE)]
    args += ["--hardware", "sparse_edge_16x16", "--strategy", "uniform", "--granularities", "nm2:4"]
    args += ["--max-accuracy-drop", "20", "--mode", "analytical", "--out", str(out), "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "accuracy constraint on test:" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hardware"] == "sparse_edge_16x16"
    assert isinstance(summary["constraint"]["searched_meets_on_test"], bool)
    assert summary["designs"]["dense"]["test_accuracy"] > 0.5  # six epochs on 300 12x12 digits learn
    searched = summary["designs"]["searched"]
    assert searched["density"] < 0.75 and searched["final_attempts"] == 1  # 2:4 kept, then fine-tuned
    assert {row["layer"] for row in searched["layers"]} == set(TorchModel(*_loaded(example, prepared)).layers)
    assert {row["layer"] for row in summary["dense_bottlenecks"]} >= {"conv", "stage1.0.add", "fc"}
    assert {"report.md", "masks_searched.npz"} <= {p.name for p in out.iterdir()}


def _loaded(example: ModuleType, directory: Path) -> tuple[Any, Any]:
    """``resnet()``'s (module, example input) for the weights in ``directory``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(example.DIR_VARIABLE, str(directory))
        return example.resnet()
