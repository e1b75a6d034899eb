"""Pruning methods in the co-design loop: every importance criterion and schedule from the CLI.

Tiny budgets (uniform strategy over unstructured pruning, no per-candidate fine-tuning, two final
epochs, analytical timing). The constraint is 100 points so the most pruned uniform plan wins and
every path (re-scoring, ramping, fine-tuning) really runs. All runs happen once per module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from accelsim.cli.main import main
from accelsim.codesign.criteria import IMPORTANCES
from accelsim.codesign.finalize import SCHEDULES
from accelsim.codesign.loop import CodesignConfig
from accelsim.codesign.sources import digits_source
from pruning import Masks

TINY = [
    "--strategy", "uniform", "--granularities", "unstructured", "--candidate-epochs", "0",
    "--final-epochs", "2", "--max-accuracy-drop", "100", "--mode", "analytical", "--json", "--no-progress",
]  # fmt: skip
#: (importance, schedule) runs: every criterion and every schedule once. The gradual ones re-score
#: with fresh gradients (taylor) or recorded outputs (apoz) at every step.
GRADUAL = {"taylor": "iterative", "apoz": "polynomial"}
RUNS = [(name, GRADUAL.get(name, "oneshot")) for name in IMPORTANCES]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[tuple[str, str], tuple[dict[str, Any], Path]]:
    out: dict[tuple[str, str], tuple[dict[str, Any], Path]] = {}
    for importance, schedule in RUNS:
        directory = tmp_path_factory.mktemp(f"{importance}_{schedule}")
        argv = ["codesign", *TINY, "--importance", importance, "--schedule", schedule]
        assert main([*argv, "--out", str(directory)]) == 0
        out[(importance, schedule)] = (json.loads((directory / "summary.json").read_text()), directory)
    return out


@pytest.mark.parametrize("importance, schedule", RUNS)
def test_each_method_runs_from_the_cli(runs, importance, schedule):
    summary, directory = runs[(importance, schedule)]
    assert summary["config"]["importance"] == importance and summary["config"]["schedule"] == schedule
    assert summary["config"]["candidate_epochs"] == 0 and summary["config"]["final_epochs"] == 2
    searched = summary["designs"]["searched"]
    assert searched["density"] < 0.5
    # The final masks keep the planned sparsity of every layer, whatever the criterion or schedule.
    for row in searched["layers"]:
        assert row["granularity"] == "unstructured"
        assert 1 - row["density"] == pytest.approx(row["sparsity"], abs=0.01)
    report = (directory / "report.md").read_text()
    assert "## Accuracy before and after fine-tuning" in report
    before = searched["accuracy_intervals_before_finetune"]["test"]
    assert f"| searched | {searched['val_accuracy_before_finetune']:.4f} [" in report
    assert before["estimate"] == searched["test_accuracy_before_finetune"]
    # The uniform strategy has no per-layer choice, so no priorities to report.
    assert summary["search"]["layer_priorities"] is None and "searched alike" in report


@pytest.mark.parametrize("importance, schedule", RUNS)
def test_before_is_the_masks_on_the_dense_model(runs, importance, schedule):
    summary, directory = runs[(importance, schedule)]
    source = digits_source("lenet_digits", seed=0)
    for label in ("uniform", "searched"):
        masks = dict(Masks.load(directory / f"masks_{label}.npz"))
        design = summary["designs"][label]
        for split in ("val", "test"):
            expected = source.model.accuracy(source.dataset, split, masks=masks)
            assert design[f"{split}_accuracy_before_finetune"] == pytest.approx(expected, abs=1e-12)
    dense = summary["designs"]["dense"]
    assert dense["test_accuracy_before_finetune"] == dense["test_accuracy"]


def test_criteria_rank_differently(runs):
    masks = {key: Masks.load(directory / "masks_searched.npz") for key, (_, directory) in runs.items()}
    oneshot = {name: masks[(name, "oneshot")] for name in IMPORTANCES if name not in GRADUAL}
    # Same plan (the most pruned uniform one), so different masks can only come from the ranking.
    assert oneshot["l1"] != oneshot["random"] != oneshot["gradient"] != oneshot["l2"]
    assert oneshot["l1"] != oneshot["gradient"]
    # Channel statistics rank whole rows: the surviving weights of fc1 fill whole output rows.
    for name in ("mean_activation", "entropy"):
        fc1 = np.asarray(oneshot[name]["fc1"])
        assert (fc1.all(axis=1) | ~fc1.any(axis=1)).sum() >= fc1.shape[0] - 1


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("importance", "snip", IMPORTANCES),
        ("schedule", "cosine", SCHEDULES),
        ("importance", "activation", IMPORTANCES),
    ],
)
def test_unknown_names_are_named_errors(field, value, allowed):
    with pytest.raises(ValueError) as err:
        CodesignConfig(**{field: value})
    assert str(err.value) == f"codesign: {field} must be one of {list(allowed)}, got {value!r}"


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--importance", "snip"], "argument --importance: invalid choice: 'snip'"),
        (["--schedule", "gradual"], "argument --schedule: invalid choice: 'gradual'"),
        (["--final-epochs", "-1"], "argument --final-epochs: must be >= 0 epochs, got -1"),
        (
            ["--candidate-epochs", "two"],
            "argument --candidate-epochs: must be a whole number of epochs, got 'two'",
        ),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, needle, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["codesign", *argv, "--out", str(tmp_path / "x")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_the_runs_cover_every_criterion_and_schedule():
    assert {name for name, _ in RUNS} == set(IMPORTANCES) and {s for _, s in RUNS} == set(SCHEDULES)
