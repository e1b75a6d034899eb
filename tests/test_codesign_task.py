"""`accelsim codesign --task module:function`: a user's model, data and accuracy measure in code.

Test-sized: a tiny CNN trained for two epochs on the 8x8 digits, the training split given as a
DataLoader (drained once), no validation split (carved from train), the uniform strategy over one
granularity and one epoch of fine-tuning. The task's measure in the metric test is top-2 accuracy,
which differs from top-1, so a run that ignored it would show.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_models import FAST_CODESIGN

from accelsim.cli.main import main
from accelsim.codesign.loop import CodesignConfig, CodesignResult, run_codesign
from accelsim.codesign.task_source import TASK_MEASURE, pruned_view, task_source
from pruning.statistics import wilson_interval
from reports.codesign import markdown_report
from workloads.datasets import load_digits
from workloads.user_task import TaskSpecError, load_task, task_dataset

TASK_MODULE = """
import numpy as np
import torch

from torch_models import TinyCnn, train_briefly  # tests/ is on sys.path under pytest
from workloads.datasets import load_digits
from workloads.user_task import Task

DIGITS = load_digits()
_TRAINED = []


def _model():
    if not _TRAINED:
        torch.manual_seed(0)
        _TRAINED.append(train_briefly(TinyCnn(), DIGITS.x_train, DIGITS.y_train))
    return _TRAINED[0]


def _loader(x, y):
    data = torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y))
    return torch.utils.data.DataLoader(data, batch_size=100, shuffle=False)


def top2(model, data):
    x, y = data
    with torch.no_grad():
        best = model(torch.tensor(x)).topk(2, dim=1).indices.numpy()
    return float(np.mean((best == y[:, None]).any(axis=1)))


def plain():
    return Task(model=_model(), train=_loader(DIGITS.x_train, DIGITS.y_train), test=(DIGITS.x_test, DIGITS.y_test))


def measured():
    return Task(model=_model(), train=(DIGITS.x_train, DIGITS.y_train), test=(DIGITS.x_test, DIGITS.y_test),
                accuracy=top2)


def out_of_range():
    return Task(model=_model(), train=(DIGITS.x_train, DIGITS.y_train), test=(DIGITS.x_test, DIGITS.y_test),
                accuracy=lambda model, data: 1.5)


def _broken_measure(model, data):
    raise KeyError("labels")


def raising_measure():
    return Task(model=_model(), train=(DIGITS.x_train, DIGITS.y_train), test=(DIGITS.x_test, DIGITS.y_test),
                accuracy=_broken_measure)


def bad_batches():
    return Task(model=_model(), train=[(DIGITS.x_train, DIGITS.y_train, 0)], test=(DIGITS.x_test, DIGITS.y_test))


def numpy_model():
    from workloads.models import build_model

    return Task(model=build_model("mlp_digits", seed=0), train=(DIGITS.x_train, DIGITS.y_train),
                test=(DIGITS.x_test, DIGITS.y_test), accuracy=lambda model, data: 0.5)


def not_a_model():
    return Task(model="resnet", train=(DIGITS.x_train, DIGITS.y_train), test=(DIGITS.x_test, DIGITS.y_test))
"""

FAST = FAST_CODESIGN


@pytest.fixture(scope="module")
def module(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("task") / "user_task_module.py"
    path.write_text(TASK_MODULE)
    return str(path)


@pytest.fixture(scope="module")
def measured(module: str) -> CodesignResult:
    return run_codesign(CodesignConfig(task=f"{module}:measured", **FAST))


def _top2_by_hand(module: torch.nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        best = module(torch.tensor(x)).topk(2, dim=1).indices.numpy()
    return float(np.mean((best == y[:, None]).any(axis=1)))


def test_the_task_measure_replaces_top1_and_intervals_stay_top1(measured):
    digits = load_digits()
    dense = measured.dense
    user_module = load_task(measured.config.task or "").model
    assert dense.test_accuracy == pytest.approx(_top2_by_hand(user_module, digits.x_test, digits.y_test))
    assert dense.test_accuracy > dense.test_correct.mean()  # top-2 above top-1: the measure was used
    summary = measured.summary()
    assert summary["accuracy_measure"] == TASK_MEASURE
    test = summary["designs"]["dense"]["accuracy_intervals"]["test"]
    correct = dense.test_correct
    assert test == wilson_interval(int(correct.sum()), len(correct), confidence=0.95).to_dict()
    # The verdict on test is the measure's: threshold drawn from dense top-2.
    assert summary["constraint"]["test_threshold"] == pytest.approx(dense.test_accuracy - 0.02)
    assert "no interval" in markdown_report(measured)


def test_a_scalar_measure_refuses_a_confidence_bound(measured):
    with pytest.raises(ValueError, match="needs per-example correctness"):
        run_codesign(replace(measured.config, confidence=0.95))


def test_cli_runs_a_task_with_a_dataloader_and_no_validation_split(module, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["codesign", "--task", f"{module}:plain", "--strategy", "uniform", "--mode", "analytical"]
    assert main([*args, "--granularities", "unstructured", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| conv |" in printed and "| fc |" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["task"] == f"{module}:plain" and summary["accuracy_measure"] == "top-1"
    assert summary["designs"]["dense"]["test_accuracy"] > 0.5


def test_batches_are_drained_once_and_validation_is_carved_from_train(module):
    digits = load_digits()
    spec = f"{module}:plain"
    dataset = task_dataset(load_task(spec), spec, seed=0)
    assert len(dataset.y_train) + len(dataset.y_val) == len(digits.y_train)
    assert 0.09 <= len(dataset.y_val) / len(digits.y_train) <= 0.11
    np.testing.assert_array_equal(dataset.x_test, digits.x_test)  # test is never touched
    pairs = {(x.tobytes(), int(y)) for x, y in zip(digits.x_train, digits.y_train)}
    assert all((x.tobytes(), int(y)) in pairs for x, y in zip(dataset.x_val, dataset.y_val))


@pytest.mark.parametrize(
    "function, message",
    [
        ("bad_batches", "train: batch 0 must be an (x, y) pair, got 3 items"),
        ("not_a_model", "model must be a torch.nn.Module or a workloads Model, got str"),
    ],
)
def test_bad_tasks_are_one_line_and_exit_2(module, tmp_path, capsys, function, message):
    assert (
        main(["codesign", "--task", f"{module}:{function}", "--out", str(tmp_path / "x"), "--no-progress"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert f"--task '{module}:{function}': {message}" in err and "\n" not in err


@pytest.mark.parametrize(
    "function, message",
    [
        ("out_of_range", r"accuracy\(\) must return a fraction in \[0, 1\], got 1.5"),
        ("raising_measure", r"accuracy\(\) raised KeyError: 'labels'"),
    ],
)
def test_a_bad_measure_is_named(module, function, message):
    source = task_source(f"{module}:{function}", seed=0)
    assert source.metric is not None
    with pytest.raises(TaskSpecError, match=rf"--task '.*:{function}': {message}"):
        source.metric(source.model, None, "val")


def test_task_and_data_exclude_each_other(module, tmp_path, capsys):
    args = ["codesign", "--task", f"{module}:plain", "--data", "x.npz", "--out", str(tmp_path / "x")]
    assert main([*args, "--no-progress"]) == 2
    assert "--task brings its own data" in capsys.readouterr().err


def test_a_workloads_model_is_used_as_is_and_the_measure_sees_it_pruned(module):
    spec = f"{module}:numpy_model"
    source = task_source(spec, seed=0)
    task = load_task(spec)
    assert source.network.layer_names == task.model.network.layer_names
    masks = {"fc1": np.zeros(task.model.weights["fc1"].shape, bool)}
    pruned = pruned_view(source.model, masks)
    assert not np.any(pruned.weights["fc1"]) and np.any(source.model.weights["fc1"])
    assert source.metric is not None and source.metric(source.model, masks, "test") == 0.5
