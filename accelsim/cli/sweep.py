"""`accelsim sweep SWEEP.yaml` and `accelsim plot STORE`: the DSE commands of the command line.

Part of the CLI shell: the only DSE code that prints (progress to stderr, summaries to stdout).
`reports` is imported inside the plot command only, as the layering rule allows for the shell.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from accelsim.cli.main import whole_number
from accelsim.dse.outputs import check_output_file
from accelsim.dse.sweep_config import DEFAULT_MAX_POINTS

__all__ = ["register", "Progress"]


class Progress:
    """A progress bar with rate and ETA: redrawn in place on a terminal, one line per 10% otherwise
    (so logs of batch jobs stay short). Call as ``progress(done, total)``."""

    def __init__(self, stream: TextIO, *, width: int = 30, min_interval_s: float = 0.1) -> None:
        self.stream, self.width, self.min_interval_s = stream, width, min_interval_s
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.first_done: int | None = None
        self.last_draw = 0.0
        self.last_decile = -1

    def line(self, done: int, total: int, now: float) -> str:
        fraction = done / total if total else 1.0
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "." * (self.width - filled)
        evaluated = done - (self.first_done or 0)
        elapsed = now - self.start
        rate = evaluated / elapsed if elapsed > 0 and evaluated else 0.0
        if done >= total:
            eta = "done"
        elif rate:
            eta = "ETA " + _clock((total - done) / rate)
        else:
            eta = "ETA --:--"
        return f"[{bar}] {done}/{total} {100 * fraction:5.1f}% {rate:7.1f} pt/s {eta} ({_clock(elapsed)})"

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.first_done is None:
            self.first_done = done  # points already in the store do not count towards the rate
        finished = done >= total
        if self.tty:
            if finished or now - self.last_draw >= self.min_interval_s:
                self.stream.write("\r" + self.line(done, total, now) + ("\n" if finished else ""))
                self.stream.flush()
                self.last_draw = now
            return
        decile = 10 if finished else int(10 * done / total) if total else 10
        if decile > self.last_decile:
            self.stream.write(self.line(done, total, now) + "\n")
            self.stream.flush()
            self.last_decile = decile


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:d}:{rest % 60:02d}"


def _cmd_sweep(args: argparse.Namespace) -> int:
    from accelsim.dse.executors import make_executor
    from accelsim.dse.explore import explore
    from accelsim.dse.store import Store
    from accelsim.dse.sweep_config import SweepConfigError, load_sweep

    if args.csv:
        check_output_file(args.csv, force=args.force, what="the CSV table")
    config = load_sweep(args.sweep, max_points=args.max_points)  # validates everything before any point runs
    store_path = Path(args.store) if args.store else config.store
    if store_path is None:
        raise SweepConfigError(f"{args.sweep}: store: no results store given (add `store:` or pass --store)")
    spec = dict(config.executor)
    if args.executor:
        spec = {"kind": args.executor}
    if args.workers is not None:
        spec["workers"] = args.workers
    if args.scheduler:
        spec.update(kind="dask", address=args.scheduler)
    executor = make_executor(spec.pop("kind"), **spec)
    progress = None if args.no_progress else Progress(sys.stderr)
    started = time.monotonic()
    with Store(store_path) as store:
        before = len(store)
        records = explore(
            config.points, executor=executor, store=store, on_error=config.on_error, progress=progress
        )
        failures = len(store.failures())
        after = len(store)
        if args.csv:
            store.export_csv(args.csv)
    elapsed = time.monotonic() - started
    print(
        f"{len(config.points)} points ({len(set(p.key for p in config.points))} distinct): "
        f"{after - before} evaluated, {len(records) - (after - before)} already in the store, "
        f"{failures} failed; {elapsed:.1f} s; store {store_path}"
    )
    if args.csv:
        print(f"table written to {args.csv}")
    return 0


def _parse_where(items: list[str]) -> dict[str, Any]:
    from accelsim.cli.main import parse_value

    out = {}
    for item in items:
        column, sep, raw = item.partition("=")
        if not sep or not column:
            raise ValueError(f"--where: expected COLUMN=VALUE (e.g. pe.dataflow=ws), got {item[:80]!r}")
        out[column] = parse_value(f"--where {column[:80]}", raw)
    return out


def _cmd_plot(args: argparse.Namespace) -> int:
    # Lazily: this module is part of the application shell, the one place allowed to reach reports.
    from reports import figures, frames, style
    from reports.save import output_paths, save

    for path in output_paths(args.out):
        check_output_file(path, force=args.force, what="the figure")
    if not Path(args.store).is_file():
        raise ValueError(f"{args.store}: no such results store")
    frame = frames.where(frames.from_store(args.store), **_parse_where(args.where))
    if not frame:
        raise ValueError(f"{args.store}: no finished points match {args.where or 'the store'}")
    double = args.width == "double" or (args.width is None and args.kind in ("speedup", "timeline"))
    width = style.DOUBLE_COLUMN if double else style.COLUMN
    with style.paper_style(width=width):
        if args.kind == "pareto":
            x, y = args.x or "seconds", args.y or "energy_pj"
            keep = [x, y] + ([args.group] if args.group else [])
            plotted = frames.select(
                frame, keep + [c for c in ("point_key", "network", "hardware") if c not in keep]
            )
            fig = figures.pareto(plotted, x, y, group=args.group)
        elif args.kind == "heatmap":
            if not (args.x and args.y):
                raise ValueError("plot --kind heatmap: give the two axes with --x and --y (e.g. --x pe.rows)")
            plotted = frames.aggregate(frame, [args.x, args.y], args.value, how=args.agg)
            fig = figures.heatmap(plotted, args.x, args.y, args.value)
        elif args.kind == "energy":
            x = args.x or "hardware"
            plotted = [
                {x: row[x], "component": column[len("energy_") : -len("_pj")], "energy_pj": value}
                for row in frame
                for column, value in row.items()
                if column.startswith("energy_")
                and column.endswith("_pj")
                and value is not None
                and column not in ("energy_pj",)
            ]
            if not plotted:
                raise ValueError(f"{args.store}: no energy_<component>_pj columns to plot")
            fig = figures.energy_breakdown(plotted, x=x, stack="component")
        elif args.kind == "speedup":
            x, panel, group = args.x or "density", args.panel, args.group or "pruning.granularity"
            missing = [c for c in (x, panel, group, "achieved_speedup", "ideal_speedup") if c not in frame[0]]
            if missing:
                raise ValueError(
                    f"plot --kind speedup: the store has no column(s) {missing} "
                    "(sweep pruning plans to get them)"
                )
            frame, series = frames.split_uncompacted(frame, group)
            keep = [panel, group, *([series] if series != group else []), x]
            plotted = frames.select(frame, keep + ["ideal_speedup", "achieved_speedup"])
            fig = figures.speedup_panels(plotted, panel=panel, group=series, x=x, achieved="achieved_speedup")
        elif args.kind in ("roofline", "timeline"):
            from reports.replay import point_figure

            fig, plotted = point_figure(args.kind, args.store, frame)
        else:  # scatter
            if not (args.x and args.y):
                raise ValueError("plot --kind scatter: give --x and --y columns")
            plotted = frame
            fig = figures.scatter(frame, args.x, args.y, group=args.group)
        written = save(fig, plotted, args.out)
    for path in written:
        print(f"wrote {path}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `sweep` and `plot` subcommands to the CLI's subparsers."""
    sweep = commands.add_parser(
        "sweep", help="run a design-space sweep from a YAML file into a results store"
    )
    sweep.add_argument("sweep", metavar="SWEEP.yaml", help="sweep file (see examples/sweep_resnet50.yaml)")
    sweep.add_argument(
        "--store", metavar="PATH", help="results store (SQLite); overrides `store:` in the file"
    )
    sweep.add_argument(
        "--executor", choices=["serial", "process", "dask"], help="overrides `executor:` in the file"
    )
    sweep.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (process pool / local Dask)"
    )
    sweep.add_argument(
        "--scheduler", metavar="ADDRESS", help="Dask scheduler address (implies --executor dask)"
    )
    sweep.add_argument("--csv", metavar="PATH", help="also export the store as a CSV table")
    sweep.add_argument("--force", action="store_true", help="replace an existing --csv file")
    sweep.add_argument(
        "--max-points",
        type=whole_number("points", 1),
        default=DEFAULT_MAX_POINTS,
        metavar="N",
        help=f"refuse sweeps of more than N points (default {DEFAULT_MAX_POINTS:,})",
    )
    sweep.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sweep.set_defaults(func=_cmd_sweep)

    plot = commands.add_parser("plot", help="draw a figure from a results store (PDF, PNG and CSV)")
    plot.add_argument("store", metavar="STORE", help="results store written by `accelsim sweep`")
    kinds = ["pareto", "heatmap", "scatter", "energy", "speedup", "roofline", "timeline"]
    plot.add_argument(
        "--kind",
        choices=kinds,
        default="pareto",
        help="energy: stacked energy by component per --x value (summed over matching points); "
        "speedup: achieved (solid) and ideal (dashed) speedup against --x (default density), "
        "one panel per --panel, one line per --group (default pruning.granularity); "
        "roofline (per layer), timeline (power states, buffer occupancy; event mode): "
        "the one point --where selects, re-simulated",
    )
    plot.add_argument("--panel", default="hardware", help="speedup: one panel per value of this column")
    plot.add_argument("--x", help="x column (pareto default: seconds; heatmap: a swept axis, e.g. pe.rows)")
    plot.add_argument("--y", help="y column (pareto default: energy_pj)")
    plot.add_argument("--value", default="edp_j_s", help="heatmap cell value column (default: edp_j_s)")
    plot.add_argument(
        "--agg",
        choices=["min", "max", "mean"],
        default="min",
        help="heatmap: how to combine points sharing a cell (default: min)",
    )
    plot.add_argument("--group", help="pareto/scatter: colour points by this column")
    plot.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="keep only rows with COLUMN == VALUE (repeatable), e.g. --where pe.dataflow=ws",
    )
    plot.add_argument(
        "--width",
        choices=["column", "double"],
        default=None,
        help="paper figure width (default: column; double for --kind speedup and timeline)",
    )
    plot.add_argument("--out", required=True, metavar="STEM", help="output path without extension")
    plot.add_argument("--force", action="store_true", help="replace existing output files")
    plot.set_defaults(func=_cmd_plot)
