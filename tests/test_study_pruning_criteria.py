"""The importance-criteria x schedule study in its quick (make test) form: files, rows, the figure."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from accelsim.codesign.finalize import SCHEDULES
from reports.labels import scaled
from reports.studies.pruning_criteria import PANELS, QUICK_CRITERIA, criteria_figure, main

COLUMNS = {
    "importance",
    "schedule",
    "edp_dense_over_searched",
    "test_accuracy",
    "test_accuracy_low",
    "test_accuracy_high",
    "test_threshold",
    "meets_constraint",
    "density",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("study")
    paths = main(["--out", str(out), "--quick"])
    with (out / "pruning_criteria.csv").open() as f:
        return paths, list(csv.DictReader(f))


def test_quick_run_writes_pdf_png_csv(quick):
    paths, _ = quick
    assert {p.suffix for p in paths} == {".pdf", ".png", ".csv"}
    assert all(p.exists() and p.stat().st_size for p in paths)


def test_one_row_per_criterion_and_schedule_at_one_constraint(quick):
    _, rows = quick
    assert set(rows[0]) >= COLUMNS
    assert [(r["importance"], r["schedule"]) for r in rows] == [
        (c, s) for c in QUICK_CRITERIA for s in SCHEDULES
    ]
    # The same constraint, hardware and seed: one dense model, so one test threshold for every pair.
    assert (
        len({r["test_threshold"] for r in rows}) == 1 and len({r["dense_test_accuracy"] for r in rows}) == 1
    )
    for r in rows:
        accuracy, low, high = (
            float(r[k]) for k in ("test_accuracy", "test_accuracy_low", "test_accuracy_high")
        )
        assert low <= accuracy <= high
        assert (r["meets_constraint"] == "True") == (accuracy >= float(r["test_threshold"]) - 1e-12)
        assert 0.0 < float(r["density"]) <= 1.0
        # No design is slower and hungrier than dense: the dense plan is always a candidate.
        assert float(r["edp_dense_over_searched"]) >= 1.0 - 1e-12


def _row(importance: str, schedule: str, edp: float, accuracy: float, density: float) -> dict:
    return {
        "importance": importance,
        "schedule": schedule,
        "edp_dense_over_searched": edp,
        "test_accuracy": accuracy,
        "test_accuracy_low": accuracy - 0.02,
        "test_accuracy_high": accuracy + 0.01,
        "test_threshold": 0.9,
        "density": density,
    }


def test_figure_plots_each_schedule_beside_each_criterion():
    frame = [
        _row("l1", "oneshot", 3.0, 0.95, 0.3),
        _row("l1", "iterative", 2.0, 0.96, 0.4),
        _row("random", "oneshot", 1.5, 0.93, 0.6),
        _row("random", "iterative", 1.2, 0.94, 0.7),
    ]
    fig = criteria_figure(frame)
    for ax, metric in zip(fig.axes, PANELS):
        assert ax.get_ylabel() == scaled(metric, [r[metric] for r in frame]).label
        assert [t.get_text() for t in ax.get_xticklabels()] == ["l1", "random"]
    edp = fig.axes[0].get_lines()
    assert [line.get_label() for line in edp] == ["oneshot", "iterative"]
    oneshot, iterative = edp
    assert list(oneshot.get_ydata()) == [3.0, 1.5] and list(iterative.get_ydata()) == [2.0, 1.2]
    # Side by side: within a criterion, oneshot left of iterative, both near the criterion's tick.
    assert all(a < b for a, b in zip(oneshot.get_xdata(), iterative.get_xdata()))
    assert all(abs(x - i) < 0.5 for x, i in zip(oneshot.get_xdata(), (0, 1)))
    # Test accuracy in percent with the constraint drawn at the threshold.
    accuracy_axis = fig.axes[1]
    assert any(list(line.get_ydata()) == pytest.approx([90.0, 90.0]) for line in accuracy_axis.get_lines())
