"""`accelsim codesign --model module:function --data PATH`: a user's trained PyTorch model and data.

Test-sized: a tiny CNN trained for two epochs on the 8x8 digits written to an npz, the uniform
strategy over one granularity, one candidate epoch.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch_models import FAST_CODESIGN

from accelsim.cli.main import main
from accelsim.codesign.honesty import BoundedAccuracy
from accelsim.codesign.loop import CodesignConfig, CodesignResult, run_codesign
from accelsim.codesign.sources import ModelSpecError, load_model_spec
from pruning import MaxDrop
from pruning.statistics import compare, constraint_holds, wilson_interval
from workloads.datasets import load_digits
from workloads.user_data import load_user_data

# What a user writes: a function returning their trained module and an example input.
USER_MODULE = """
import numpy as np
import torch

DATA = {data!r}


class TinyCnn(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


def trained():
    torch.manual_seed(0)
    with np.load(DATA) as data:
        x, y = torch.tensor(data["x_train"]), torch.tensor(data["y_train"])
    model = TinyCnn()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        for start in range(0, len(y), 64):
            optimiser.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[start:start + 64]), y[start:start + 64])
            loss.backward()
            optimiser.step()
    return model.eval(), torch.zeros(1, 1, 8, 8)


def not_a_pair():
    return TinyCnn()


def broken():
    raise RuntimeError("no checkpoint here")
"""

FAST = FAST_CODESIGN


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(--model spec, --data path) of a user's tiny CNN and the digits written as an npz."""
    root = tmp_path_factory.mktemp("user")
    digits = load_digits()
    data = root / "digits.npz"
    np.savez(
        data,
        x_train=np.concatenate([digits.x_train, digits.x_val]),
        y_train=np.concatenate([digits.y_train, digits.y_val]),
        x_test=digits.x_test,
        y_test=digits.y_test,
    )
    module = root / "user_model.py"
    module.write_text(USER_MODULE.format(data=str(data)))
    return f"{module}:trained", str(data)


@pytest.fixture(scope="module")
def result(user: tuple[str, str]) -> CodesignResult:
    spec, data = user
    return run_codesign(CodesignConfig(torch_model=spec, data=data, **FAST))


def test_cli_runs_end_to_end_with_a_user_model(user, tmp_path, capsys):
    spec, data = user
    out = tmp_path / "run"
    args = ["codesign", "--model", spec, "--data", data, "--strategy", "uniform", "--mode", "analytical"]
    assert main([*args, "--granularities", "unstructured", "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    # The hardware assessment comes first, one row per layer of the traced network (torch names).
    assert printed.index("hardware assessment") < printed.index("design ")
    assert "| conv |" in printed and "| fc |" in printed
    assert "exact McNemar p" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["torch_model"] == spec
    assert {row["layer"] for row in summary["dense_bottlenecks"]} >= {"conv", "fc"}
    assert {"report.md", "masks_searched.npz", "candidates_pareto.png"} <= {p.name for p in out.iterdir()}
    report = (out / "report.md").read_text()
    assert report.index("## Hardware assessment") < report.index("## Designs")


def test_the_dense_accuracy_is_the_users_model_on_the_users_test_split(user, result):
    spec, data = user
    module, example = load_model_spec(spec)
    dataset = load_user_data(data, seed=0)
    with torch.no_grad():
        logits = module(torch.tensor(dataset.x_test)).numpy()
    by_hand = logits.argmax(axis=1) == dataset.y_test
    np.testing.assert_array_equal(result.dense.test_correct, by_hand)
    assert result.dense.test_accuracy == pytest.approx(by_hand.mean())
    assert result.dense.test_accuracy > 0.5  # two epochs learn the digits; a broken wiring would not


def test_report_intervals_match_pruning_statistics(result, tmp_path):
    summary = result.summary()
    for design in result.designs:
        for split, correct in (("val", design.val_correct), ("test", design.test_correct)):
            expected = wilson_interval(int(correct.sum()), len(correct), confidence=0.95).to_dict()
            assert summary["designs"][design.label]["accuracy_intervals"][split] == expected
            assert correct.mean() == pytest.approx(getattr(design, f"{split}_accuracy"))
    paired = compare(result.dense.test_correct, result.searched.test_correct).to_dict()
    assert summary["against_dense_on_test"]["searched"] == paired
    from reports.codesign import markdown_report

    report = markdown_report(result)
    low, high = paired["difference"]["low"], paired["difference"]["high"]
    assert f"[{low:+.4f}, {high:+.4f}]" in report
    assert f"{paired['mcnemar_p']:.4g}" in report
    test = summary["designs"]["dense"]["accuracy_intervals"]["test"]
    assert f"{test['estimate']:.4f} [{test['low']:.4f}, {test['high']:.4f}]" in report


class _Fixed:
    """An oracle whose 'tuned model' predicts a fixed vector: the case is built, not searched."""

    def __init__(self, predictions: np.ndarray) -> None:
        self.predictions = predictions

    def tuned_model(self, masks: object) -> _Fixed:
        return self

    def predict(self, x: np.ndarray, *, masks: object = None) -> np.ndarray:
        return self.predictions


class _Val:
    def __init__(self, y: np.ndarray) -> None:
        self.y = y

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        assert name == "val"  # choosing never looks at the test split
        return np.zeros((len(self.y), 1)), self.y


def test_confidence_makes_a_borderline_design_infeasible():
    # 200 validation examples; the pruned model loses 2 the dense model got right: a 1-point drop,
    # exactly at a 1-point constraint. The point estimate accepts it; the 95% bound cannot.
    y = np.zeros(200, dtype=np.int64)
    dense_correct = np.ones(200, dtype=bool)
    predictions = np.zeros(200, dtype=np.int64)
    predictions[:2] = 1
    pruned_correct = predictions == y
    masks = {"fc": np.array([True, False])}
    threshold = MaxDrop(1.0).threshold(1.0)
    assert constraint_holds(dense_correct, pruned_correct, 1.0)
    assert not constraint_holds(dense_correct, pruned_correct, 1.0, confidence=0.95)
    oracle = _Fixed(predictions)
    bounded = BoundedAccuracy(oracle, dense_correct, _Val(y), 0.95)
    assert pruned_correct.mean() >= threshold - 1e-12  # feasible on the point estimate
    assert bounded(masks) < threshold - 1e-9  # infeasible on the bound, as the search sees it
    assert bounded({"fc": np.array([True, True])}) == 1.0  # dense keeps its point estimate


def test_with_confidence_the_chosen_designs_hold_on_the_bound(result):
    bounded = run_codesign(replace(result.config, confidence=0.95))
    assert bounded.summary()["constraint"]["confidence"] == 0.95
    for design in (bounded.uniform, bounded.searched):
        holds = constraint_holds(
            bounded.dense.val_correct, design.val_correct, bounded.config.max_accuracy_drop, confidence=0.95
        )
        assert holds, design.label
    # The bound is stricter: the bounded search keeps at least as many weights as the point one.
    assert bounded.searched.masks.density >= result.searched.masks.density - 1e-12


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--model", "no_such_module_xyz:f", "--data", "{data}"],
            "cannot import module 'no_such_module_xyz'",
        ),
        (["--model", "{module}:missing", "--data", "{data}"], "has no attribute 'missing'"),
        (["--model", "{module}:not_a_pair", "--data", "{data}"], "must return (nn.Module, example_input)"),
        (["--model", "justaname", "--data", "{data}"], "must be 'module:function'"),
        (
            ["--model", "{module}:broken", "--data", "{data}"],
            "broken() raised RuntimeError: no checkpoint here",
        ),
        (["--model", "{root}/absent.py:f", "--data", "{data}"], "no Python file"),
        (["--model", "{module}:trained", "--data", "{root}/absent.npz"], "absent.npz: does not exist"),
        (["--model", "{module}:trained"], "--model and --data go together"),
        (["--data", "{data}"], "--model and --data go together"),
    ],
)
def test_bad_model_or_data_is_one_line_and_exit_2(user, tmp_path, capsys, extra, message):
    spec, data = user
    module, root = spec.rsplit(":", 1)[0], str(Path(data).parent)
    args = [a.format(module=module, root=root, data=data) for a in extra]
    assert main(["codesign", *args, "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_model_and_network_are_mutually_exclusive(user, tmp_path, capsys):
    spec, data = user
    with pytest.raises(SystemExit) as exit_info:
        out = str(tmp_path / "x")
        main(["codesign", "--network", "lenet_digits", "--model", spec, "--data", data, "--out", out])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_a_bad_spec_raises_the_named_error():
    with pytest.raises(ModelSpecError, match="--model 'a:b:c': must be 'module:function'"):
        load_model_spec("a:b:c")


def test_a_data_driven_criterion_and_a_gradual_schedule_on_a_user_model(user):
    spec, data = user
    config = CodesignConfig(
        torch_model=spec, data=data, importance="taylor", schedule="iterative",
        **{**FAST, "candidate_epochs": 0, "final_epochs": 2, "max_accuracy_drop": 100.0},
    )  # fmt: skip
    summary = run_codesign(config).summary()
    searched = summary["designs"]["searched"]
    assert searched["density"] < 0.5  # the 100-point constraint lets the most pruned plan win
    for row in searched["layers"]:
        assert 1 - row["density"] == pytest.approx(row["sparsity"], abs=0.01)
    assert 0.0 <= searched["test_accuracy_before_finetune"] <= 1.0
    before = searched["accuracy_intervals_before_finetune"]["test"]
    assert before["method"] == "wilson" and before["low"] <= before["estimate"] <= before["high"]
