"""Study: importance criteria x pruning schedules at one accuracy constraint -> EDP, accuracy, density.

    PYTHONPATH=. python -m reports.studies.pruning_criteria --out figures/pruning_criteria [--quick]

Every (criterion, schedule) pair runs the same co-design (`run_codesign`): the same network,
hardware, objective, constraint, strategy, granularities and seed; only ``importance`` (how weights
are ranked) and ``schedule`` (how the winners reach their masks) change. Each row is the searched
design: its EDP reduction over dense, its test accuracy with the 95% Wilson interval, whether it
meets the constraint on the test split, and its density. The test split is only reported: every
choice inside a run is made on validation. ``random`` is the control a criterion should beat.

Writes ``pruning_criteria`` (PDF, PNG and the plotted CSV, one row per pair). ``--quick`` is the
``make test`` size: three criteria, the 8x8-digits MLP, the uniform strategy over unstructured
sparsity, one candidate epoch and two final epochs (tens of seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from accelsim.codesign.criteria import IMPORTANCES
from accelsim.codesign.finalize import SCHEDULES
from accelsim.codesign.loop import CodesignConfig, run_codesign
from accelsim.codesign.results import CodesignResult
from reports.decor import category_ticks, legend_outside, plain_ticks, style_series
from reports.labels import scaled, title, value_label
from reports.save import save
from reports.style import DOUBLE_COLUMN, paper_style

#: The full study: the digits LeNet at the project's defaults, every criterion and schedule.
FULL = CodesignConfig(model="lenet_digits", mode="analytical")
QUICK = CodesignConfig(
    model="mlp_digits",
    mode="analytical",
    strategy="uniform",
    granularities=("unstructured",),
    candidate_epochs=1,
    final_epochs=2,
    max_accuracy_drop=3.0,
)
QUICK_CRITERIA = ("l1", "taylor", "random")
PANELS = ("edp_dense_over_searched", "test_accuracy", "density")


def row(result: CodesignResult) -> dict[str, Any]:
    """The searched design of one run as a CSV row (the constraint's test threshold alongside)."""
    summary = result.summary()
    searched = summary["designs"]["searched"]
    interval = searched["accuracy_intervals"]["test"]
    return {
        "importance": result.config.importance,
        "schedule": result.config.schedule,
        "edp_dense_over_searched": summary["ratios"]["edp_dense_over_searched"],
        "test_accuracy": searched["test_accuracy"],
        "test_accuracy_low": interval["low"],
        "test_accuracy_high": interval["high"],
        "test_accuracy_before_finetune": searched["test_accuracy_before_finetune"],
        "test_threshold": summary["constraint"]["test_threshold"],
        "meets_constraint": summary["constraint"]["searched_meets_on_test"],
        "dense_test_accuracy": summary["designs"]["dense"]["test_accuracy"],
        "density": searched["density"],
        "cycles": searched["cycles"],
        "energy_pj": searched["energy_pj"],
        "edp": searched["edp"],
    }


def sweep(
    base: CodesignConfig, criteria: Sequence[str] = IMPORTANCES, schedules: Sequence[str] = SCHEDULES
) -> list[dict[str, Any]]:
    """One row per (criterion, schedule), every run ``base`` with only those two fields changed."""
    return [
        row(run_codesign(replace(base, importance=criterion, schedule=schedule)))
        for criterion in criteria
        for schedule in schedules
    ]


def criteria_figure(frame: Sequence[Mapping[str, Any]]) -> Figure:
    """A panel per metric against the criterion, a series (colour and marker) per schedule, side by
    side within a criterion; test accuracy with its Wilson interval and the constraint's threshold."""
    criteria = list(dict.fromkeys(r["importance"] for r in frame))
    schedules = list(dict.fromkeys(r["schedule"] for r in frame))
    width = 0.6 / max(1, len(schedules))
    fig = Figure(layout="constrained")
    axes = fig.subplots(1, len(PANELS), squeeze=False)[0]
    for ax, metric in zip(axes, PANELS):
        unit = scaled(metric, [r[metric] for r in frame])
        for i, schedule in enumerate(schedules):
            rows = [r for r in frame if r["schedule"] == schedule]
            x = (
                np.array([criteria.index(r["importance"]) for r in rows])
                + (i - (len(schedules) - 1) / 2) * width
            )
            y = np.array([r[metric] for r in rows], dtype=float) * unit.factor
            label = value_label("schedule", schedule)
            if metric == "test_accuracy":
                low = y - np.array([r["test_accuracy_low"] for r in rows]) * unit.factor
                high = np.array([r["test_accuracy_high"] for r in rows]) * unit.factor - y
                ax.errorbar(
                    x, y, yerr=[low, high], linestyle="none", capsize=2, label=label, **style_series(i)
                )
            else:
                ax.plot(x, y, linestyle="none", label=label, **style_series(i))
        if metric == "test_accuracy":
            threshold = frame[0]["test_threshold"] * unit.factor
            ax.axhline(threshold, color="0.4", linestyle="--", linewidth=0.8, label="Constraint")
        category_ticks(ax, [value_label("importance", c) for c in criteria], room_chars=20)
        ax.set_xlabel(title("importance"))
        ax.set_ylabel(unit.label)
    # The accuracy panel holds every schedule's series and the constraint line.
    handles, labels = axes[PANELS.index("test_accuracy")].get_legend_handles_labels()
    legend_outside(axes[-1], title=title("schedule"), handles=handles, labels=labels)
    return plain_ticks(fig)


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--quick", action="store_true", help="make-test size: 3 criteria, tiny budgets")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run (training, search, tuning)")
    args = parser.parse_args(argv)
    base, criteria = (QUICK, QUICK_CRITERIA) if args.quick else (FULL, IMPORTANCES)
    frame = sweep(replace(base, seed=args.seed), criteria)
    args.out.mkdir(parents=True, exist_ok=True)
    with paper_style(DOUBLE_COLUMN, aspect=0.32):
        return save(criteria_figure(frame), frame, args.out / "pruning_criteria")


if __name__ == "__main__":
    for written_path in main():
        print(written_path)
