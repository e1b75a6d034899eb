"""`accelsim codesign --model model.onnx --data PATH`: one-shot co-design of an exported model.

Test-sized: a tiny CNN trained for two epochs on the 8x8 digits, exported with its weights, the
uniform strategy over one granularity. The references are the torch module itself: the pruned
designs must score exactly what the module scores with the same masks applied to its weights,
which holds only if nothing was fine-tuned.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from torch_models import FAST_CODESIGN, TinyCnn, train_briefly

from accelsim.cli.main import main
from accelsim.codesign.executed_model import ExecutedModel
from accelsim.codesign.loop import CodesignConfig, CodesignResult, run_codesign
from accelsim.codesign.sources import ModelSpecError, onnx_source
from workloads.datasets import load_digits
from workloads.models import Model, init_weights, mlp_network
from workloads.quantization import LayerBits
from workloads.user_data import load_user_data

FAST = FAST_CODESIGN  # its epochs are ignored: an ONNX model is pruned one-shot


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyCnn, Path, Path]:
    """(the trained module, its ONNX file with weights, the digits as an npz)."""
    root = tmp_path_factory.mktemp("onnx")
    digits = load_digits()
    x_train = np.concatenate([digits.x_train, digits.x_val])
    y_train = np.concatenate([digits.y_train, digits.y_val])
    data = root / "digits.npz"
    np.savez(data, x_train=x_train, y_train=y_train, x_test=digits.x_test, y_test=digits.y_test)
    torch.manual_seed(0)
    module = train_briefly(TinyCnn(), x_train, y_train)
    path = root / "tiny.onnx"
    # The TorchScript exporter: the dynamo one would need onnxscript besides onnx.
    torch.onnx.export(module, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, opset_version=17)
    return module, path, data


@pytest.fixture(scope="module")
def result(exported: tuple[TinyCnn, Path, Path]) -> CodesignResult:
    _, path, data = exported
    return run_codesign(CodesignConfig(onnx_model=str(path), data=str(data), **FAST))


def _torch_correct(module: TinyCnn, masks: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pruned = {name: np.asarray(masks[name]) for name in masks}
    state = {
        key: (value * torch.tensor(pruned[key.rsplit(".", 1)[0]]) if key.endswith("weight") else value)
        for key, value in module.state_dict().items()
    }
    with torch.no_grad():
        logits = torch.func.functional_call(module, state, (torch.tensor(x),))
    return logits.numpy().argmax(axis=1) == y


def test_one_shot_designs_score_what_the_masked_torch_module_scores(exported, result):
    module, _, data = exported
    dataset = load_user_data(data, seed=0)
    assert result.dense.test_accuracy > 0.5  # two epochs learn the digits; broken wiring would not
    for design in result.designs:
        masks = dict(design.masks)
        np.testing.assert_array_equal(
            design.test_correct, _torch_correct(module, masks, dataset.x_test, dataset.y_test)
        )
        np.testing.assert_array_equal(
            design.val_correct, _torch_correct(module, masks, dataset.x_val, dataset.y_val)
        )
    assert result.searched.masks.density < 1.0  # something was pruned, and still nothing retrained


def test_the_run_says_one_shot_and_ran_with_zero_epochs(result):
    assert (result.config.candidate_epochs, result.config.final_epochs) == (0, 0)
    summary = result.summary()
    assert summary["fine_tuning"] == "one-shot, no fine-tuning"
    assert summary["config"]["candidate_epochs"] == 0


def test_cli_runs_an_onnx_file_end_to_end(exported, tmp_path, capsys):
    _, path, data = exported
    out = tmp_path / "run"
    args = [
        "codesign",
        "--model",
        str(path),
        "--data",
        str(data),
        "--strategy",
        "uniform",
        "--mode",
        "analytical",
    ]
    assert main([*args, "--granularities", "unstructured", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "one-shot, no fine-tuning" in printed
    assert "| conv |" in printed and "| fc |" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["onnx_model"] == str(path) and summary["config"]["torch_model"] is None
    report = (out / "report.md").read_text()
    assert report.startswith(f"# Co-design: {path} on") and "one-shot, no fine-tuning" in report


def test_an_onnx_file_without_its_weights_is_refused(exported, tmp_path, capsys):
    _, path, data = exported
    model = onnx.load(str(path))
    external = tmp_path / "no_weights.onnx"
    onnx.save_model(model, str(external), save_as_external_data=True, location="w.bin", size_threshold=0)
    (tmp_path / "w.bin").unlink()  # the weights file that did not come along
    with pytest.raises(ModelSpecError, match="has no weights"):
        onnx_source(str(external), str(data), seed=0)
    assert (
        main(
            [
                "codesign",
                "--model",
                str(external),
                "--data",
                str(data),
                "--out",
                str(tmp_path / "x"),
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert f"--model '{external}': has no weights" in err and "\n" not in err


def test_data_of_another_shape_names_both_shapes(exported, tmp_path, capsys):
    _, path, _ = exported
    digits = load_digits()
    flat = tmp_path / "flat.npz"  # 64 features per example: the model takes 1x8x8 images
    np.savez(
        flat,
        x_train=digits.x_train.reshape(len(digits.x_train), 16, 4),
        y_train=digits.y_train,
        x_test=digits.x_test.reshape(len(digits.x_test), 16, 4),
        y_test=digits.y_test,
    )
    assert (
        main(
            [
                "codesign",
                "--model",
                str(path),
                "--data",
                str(flat),
                "--out",
                str(tmp_path / "x"),
                "--no-progress",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "takes inputs of shape (1, 8, 8), got examples of shape (1, 16, 4)" in err and "\n" not in err


def test_size_one_axes_may_differ_between_data_and_graph():
    # A graph over 64 features and the (1, 1, 64) vectors load_user_data gives for an (n, 64) array.
    network = mlp_network(hidden=(16,))
    weights = init_weights(network, seed=0)
    model = ExecutedModel(network, weights)
    x = np.random.default_rng(0).random((5, 1, 1, 64), dtype=np.float32)
    by_numpy = Model(network, weights).predict(x.reshape(5, 64))  # the training graph, an independent path
    np.testing.assert_array_equal(model.predict(x), by_numpy)
    with pytest.raises(ValueError, match=r"takes inputs of shape \(1, 64\), got examples of shape \(2, 32\)"):
        model.predict(x.reshape(5, 2, 32))
    with pytest.raises(ValueError, match="no weights for layers \\['fc2'\\]"):
        ExecutedModel(network, {k: v for k, v in weights.items() if k != "fc2"})


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(onnx_model="m.onnx"), "a user's model and data go together, got model='m.onnx', data=None"),
        (dict(task="t.py:f", data="d.npz"), "a task brings its own data, got task='t.py:f', data='d.npz'"),
        (
            dict(onnx_model="m.onnx", torch_model="m.py:f", data="d.npz"),
            "torch_model and onnx_model exclude each other, got {'torch_model': 'm.py:f', 'onnx_model': 'm.onnx'}",
        ),
    ],
)
def test_bad_source_fields_are_named(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CodesignConfig(**fields)


def test_data_driven_criteria_are_refused_for_an_executed_model(exported):
    _, path, data = exported
    config = CodesignConfig(onnx_model=str(path), data=str(data), importance="taylor", **FAST)
    with pytest.raises(ValueError, match="importance 'taylor' needs gradients or layer outputs"):
        run_codesign(config)


def test_bit_widths_are_refused_for_an_executed_model_by_name(exported):
    _, path, data = exported
    config = CodesignConfig(
        onnx_model=str(path), data=str(data), bits=(8, 4), hardware="bitfusion_16x32", **FAST
    )
    with pytest.raises(ValueError, match=r"bits=\(8, 4\) need a model that fake-quantizes"):
        run_codesign(config)
    model = onnx_source(str(path), str(data), seed=0).model
    with pytest.raises(ValueError, match="runs one-shot in float"):
        model.check_bits({"conv1": LayerBits(weights=4)})
