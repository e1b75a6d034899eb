"""`accelsim codesign`: the co-design main job, with a status line while it runs.

Part of the CLI shell: prints progress to stderr and the summary to stdout, writes the results
directory through `reports.codesign`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from accelsim.cli.main import CliError, whole_number
from accelsim.codesign.criteria import IMPORTANCES
from accelsim.codesign.finalize import SCHEDULES
from accelsim.codesign.loop import OBJECTIVES, CodesignConfig, run_codesign
from accelsim.dse.outputs import check_run_directory, run_directory
from accelsim.timing.bottleneck import bottlenecks, render_markdown
from pruning.search_strategies import STRATEGIES
from workloads.models import MODELS

__all__ = ["register", "Status"]

_PHASES = {
    "train": "training / loading the dense model",
    "dense": "simulating the dense model",
    "uniform": "uniform baseline search",
    "searched": "mask search",
    "finetune_uniform": "fine-tuning the uniform masks",
    "finetune_searched": "fine-tuning the searched masks",
}


class Status:
    """One status line per phase; during searches the line shows candidates, the best objective
    against dense and the elapsed time -- redrawn in place on a terminal, every 25 candidates
    otherwise."""

    def __init__(self, stream: TextIO, *, min_interval_s: float = 0.1) -> None:
        self.stream, self.min_interval_s = stream, min_interval_s
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.last_draw = 0.0
        self.dense_objective: float | None = None
        self.open_line = False

    def _write(self, text: str, *, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
            self.open_line = not final
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event: Mapping[str, Any]) -> None:
        now = time.monotonic()
        clock = f"{now - self.start:6.1f} s"
        kind = event.get("event")
        if kind == "phase":
            if self.open_line:
                self.stream.write("\n")
                self.open_line = False
            self._write(f"[{clock}] {_PHASES.get(event['phase'], event['phase'])}", final=True)
            return
        if kind != "evaluation":
            return
        count = event["evaluations"]
        if event["index"] == 0:
            self.dense_objective = event["objective"]
        best = event.get("best_objective")
        gain = (
            f"best {self.dense_objective / best:5.2f}x below dense"
            if best and self.dense_objective
            else "no feasible yet"
        )
        line = f"[{clock}] {event.get('phase', 'search')}: {count:4d} candidates, {gain}"
        if self.tty and now - self.last_draw >= self.min_interval_s:
            self._write(line, final=False)
            self.last_draw = now
        elif not self.tty and count % 25 == 0:
            self._write(line, final=True)


def _cmd_codesign(args: argparse.Namespace) -> int:
    from reports.codesign import write_results

    if args.task is not None and args.data is not None:
        raise CliError("--task brings its own data: --data goes with --model only")
    if args.task is None and (args.model is None) != (args.data is None):
        raise CliError("--model and --data go together: a user's model needs its data, and the data a model")
    onnx = args.model is not None and args.model.lower().endswith(".onnx")
    config = CodesignConfig(
        model=args.network or CodesignConfig.model,
        hardware=args.hardware,
        objective=args.objective,
        max_accuracy_drop=args.max_accuracy_drop,
        strategy=args.strategy,
        seed=args.seed,
        mode=args.mode,
        granularities=args.granularities,
        torch_model=None if onnx else args.model,
        onnx_model=args.model if onnx else None,
        data=None if args.data is None else str(args.data),
        task=args.task,
        confidence=args.confidence,
        importance=args.importance,
        schedule=args.schedule,
        candidate_epochs=args.candidate_epochs,
        final_epochs=args.final_epochs,
        cost_priorities=not args.even_search,
        bits=args.bits,
    )
    replacing = any(check_run_directory(args.out).glob("*"))  # before the search, not after it
    status = None if args.no_progress else Status(sys.stderr)
    result = run_codesign(config, progress=status)
    with run_directory(args.out, command="codesign") as staging:
        written = write_results(result, staging)
    summary = json.loads((Path(args.out) / "summary.json").read_text())
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    ratios, designs = summary["ratios"], summary["designs"]
    print("hardware assessment of the dense run (what bounds each layer):")
    print(render_markdown(bottlenecks(result.dense.report)))
    if summary["accuracy_measure"] != "top-1":
        print(f"test acc is {summary['accuracy_measure']}")
    print(
        f"{'design':<9} {'test acc':>8} {'before FT':>9} {'density':>7} {'cycles':>9} {'energy uJ':>10} "
        f"{'EDP vs dense':>12}"
    )
    dense_edp = designs["dense"]["edp"]
    for label in ("dense", "uniform", "searched"):
        d = designs[label]
        test = d["accuracy_intervals"]["test"]
        print(
            f"{label:<9} {d['test_accuracy']:8.4f} {d['test_accuracy_before_finetune']:9.4f} "
            f"{d['density']:7.3f} {d['cycles']:9,d} "
            f"{d['energy_pj'] * 1e-6:10.4f} {dense_edp / d['edp']:11.2f}x"
            f"  95% CI [{test['low']:.4f}, {test['high']:.4f}]"
        )
    diff = summary["against_dense_on_test"]["searched"]
    print(
        f"searched - dense on test: {diff['difference']['estimate']:+.4f} "
        f"[{diff['difference']['low']:+.4f}, {diff['difference']['high']:+.4f}] (paired 95%), "
        f"exact McNemar p = {diff['mcnemar_p']:.4g}"
    )
    met = summary["constraint"]["searched_meets_on_test"]
    print(
        f"searched EDP {ratios['edp_dense_over_searched']:.2f}x below dense, "
        f"{ratios['edp_uniform_over_searched']:.2f}x below uniform; "
        f"accuracy constraint on test: {'met' if met else 'NOT met'}; {summary['fine_tuning']}"
    )
    print(
        f"results: {args.out} ({len(written)} files; report.md, summary.json, figures)"
        + ("; replaced the previous run's results" if replacing else "")
    )
    return 0


def _points(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of percentage points, got {text!r}") from None


def _level(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a level in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be a level in (0, 1), got {text!r}")
    return value


def _widths(text: str) -> tuple[int, ...]:
    """``"8,6,4,2"`` -> ``(8, 6, 4, 2)``; the config checks the range, the hardware what it can run."""
    try:
        widths = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated bit widths, e.g. 8,4,2, got {text!r}"
        ) from None
    if any(w < 2 for w in widths):
        raise argparse.ArgumentTypeError(f"bit widths must be at least 2, got {text!r}")
    return widths


def _labels(text: str) -> tuple[str, ...]:
    return tuple(label.strip() for label in text.split(",") if label.strip())


def register(commands) -> None:
    cmd = commands.add_parser(
        "codesign", help="search pruning masks for simulated EDP under an accuracy constraint"
    )
    source = cmd.add_mutually_exclusive_group()
    source.add_argument(
        "--network",
        # None, not the default's name: argparse misses a clash with --model when the value given
        # is the default string itself.
        choices=sorted(MODELS),
        help="trainable digits model (default: lenet_digits)",
    )
    source.add_argument(
        "--model",
        metavar="MODULE:FUNCTION|FILE.onnx",
        help="your trained PyTorch model: FUNCTION() in MODULE (dotted name or .py path) returns "
        "(nn.Module, example_input); or an ONNX file with its weights, pruned one-shot (no "
        "fine-tuning) with accuracy through the sparse kernels; needs --data",
    )
    source.add_argument(
        "--task",
        metavar="MODULE:FUNCTION",
        help="your model and data in code: FUNCTION() in MODULE returns a workloads.user_task.Task "
        "(model, train/val/test as (x, y) arrays or batch iterables, optional example input and "
        "accuracy(model, data) function); see docs/user_models.md",
    )
    cmd.add_argument(
        "--data",
        type=Path,
        metavar="PATH",
        help="data for --model: an .npz (x_train, y_train, x_test, y_test[, x_val, y_val]), an IDX "
        "directory or an image-folder tree; validation is carved from train when absent",
    )
    cmd.add_argument(
        "--confidence",
        type=_level,
        metavar="LEVEL",
        help="judge the accuracy constraint on the upper limit of the paired LEVEL interval of the drop "
        "(validation split), e.g. 0.95, instead of on the point estimate",
    )
    cmd.add_argument("--hardware", default="sparse_edge_16x16", help="preset name or hardware YAML path")
    cmd.add_argument("--objective", default="edp", choices=OBJECTIVES, help="what the search minimises")
    cmd.add_argument(
        "--max-accuracy-drop",
        type=_points,
        default=1.0,
        metavar="POINTS",
        help="allowed top-1 drop from the dense model, in percentage points (default 1)",
    )
    cmd.add_argument("--strategy", default="greedy", choices=list(STRATEGIES), help="search strategy")
    cmd.add_argument(
        "--granularities",
        type=_labels,
        default=CodesignConfig.granularities,
        metavar="LIST",
        help="comma-separated pruning granularities to search: unstructured, channel, "
        "block<r>x<c>, nm<n>:<m> (default: " + ",".join(CodesignConfig.granularities) + ")",
    )
    cmd.add_argument(
        "--importance",
        default=CodesignConfig.importance,
        choices=IMPORTANCES,
        help="how weights are ranked for pruning: magnitude (l1, l2), gradient, taylor, apoz, "
        "mean_activation, entropy (scored on the training split) or random (default l1)",
    )
    cmd.add_argument(
        "--schedule",
        default=CodesignConfig.schedule,
        choices=SCHEDULES,
        help="how the two winners reach their masks before the final fine-tune: oneshot, or gradually "
        "with fine-tuning between steps (iterative: linear ramp; polynomial: Zhu & Gupta's cubic)",
    )
    for flag, field, whose in (
        ("--candidate-epochs", "candidate_epochs", "per search candidate"),
        ("--final-epochs", "final_epochs", "of the two winners"),
    ):
        default = getattr(CodesignConfig, field)
        cmd.add_argument(
            flag,
            type=whole_number("epochs", 0),
            default=default,
            metavar="N",
            help=f"fine-tuning epochs {whose} (default {default})",
        )
    cmd.add_argument(
        "--even-search",
        action="store_true",
        help="search all layers alike instead of by their share of the dense run's cost (by default "
        "greedy visits costly layers first and evolutionary mutates them more often)",
    )
    cmd.add_argument(
        "--bits",
        type=_widths,
        metavar="LIST",
        help="also search per-layer weight and activation bit widths among LIST, e.g. 8,4,2 "
        "(each must run on the hardware's precision mode); default: pruning only, hardware's datatypes",
    )
    cmd.add_argument("--seed", type=int, default=0, help="seed of training, fine-tuning and search")
    cmd.add_argument("--mode", default="event", choices=["event", "analytical"], help="simulation mode")
    cmd.add_argument(
        "--out",
        type=Path,
        default=Path("results/codesign"),
        help="results directory: created, or replaced if an earlier accelsim run wrote it; "
        "any other non-empty directory is refused",
    )
    cmd.add_argument("--json", action="store_true", help="print summary.json to stdout instead of the table")
    cmd.add_argument("--no-progress", action="store_true", help="no status line on stderr")
    cmd.set_defaults(func=_cmd_codesign)
