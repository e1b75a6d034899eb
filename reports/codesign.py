"""The results directory of a co-design run: summary, Markdown report, figures and masks.

    write_results(result, out_dir) -> list of written paths

* ``summary.json``: `CodesignResult.summary()` (config, the three designs, ratios, timings);
* ``report.md``: the comparison table (dense / uniform / searched) and what it means;
* ``candidates.csv`` + ``candidates_pareto.{pdf,png,csv}``: validation accuracy against EDP of
  every evaluated candidate of both searches, with the Pareto front;
* ``layer_plan.{pdf,png,csv}``: per-layer granularity and sparsity of the uniform and searched plans
  (and, in a run with bit widths, each layer's weight/activation widths, e.g. ``w4a8``);
* ``energy_breakdown.{pdf,png,csv}``: energy by component for the three designs;
* ``masks_uniform.npz``, ``masks_searched.npz``: the chosen masks (`pruning.Masks.load`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from accelsim.codesign.honesty import REPORT_CONFIDENCE
from accelsim.timing.bottleneck import bottlenecks, render_markdown
from reports import figures
from reports.decor import hatch, legend_outside, plain_ticks
from reports.frames import to_csv
from reports.labels import axis_label, scaled, title as column_title
from reports.save import save
from reports.style import COLUMN, DOUBLE_COLUMN, paper_style

__all__ = ["write_results", "markdown_report"]


def _plan_cell(row: dict) -> str:
    """Granularity @ the mask's sparsity; a layer left dense may still lose inputs to channel
    pruning upstream, which the cell says."""
    text = f"{row['granularity']} @ {1 - row['density']:.2f}"
    if row["granularity"] == "dense" and row["density"] < 1.0:
        text += " (inputs removed upstream)"
    widths = _widths_text(row)
    return f"{text}, {widths}" if widths else text


def _widths_text(row: dict) -> str:
    """``w4a8`` (weights 4 bits, input activations 8), ``wfa4`` with an unquantized (float) operand;
    empty for a row of a run without bit widths."""
    if "weight_bits" not in row:
        return ""

    def width(value: Any) -> str:
        return "f" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{int(value)}"

    return f"w{width(row['weight_bits'])}a{width(row['activation_bits'])}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _candidate_rows(result) -> list[dict[str, Any]]:
    rows = []
    for search, label in ((result.uniform_search, "uniform"), (result.search, result.search.strategy)):
        for record in search.candidates:
            rows.append(
                {
                    "search": label,
                    "index": record.index,
                    "accuracy": record.accuracy,
                    "edp": record.edp,
                    "cycles": record.cost["cycles"],
                    "energy_pj": record.cost["energy_pj"],
                    "density": record.density,
                    "feasible": record.feasible,
                    "best": record.index == search.best_index,
                }
            )
    return rows


def _pareto_figure(rows: list[dict], result) -> Figure:
    # "uniform" names both a search and the design it chose: say which is which in the legend.
    named = [dict(r, search=f"{r['search']} search") for r in rows]
    fig = figures.pareto(named, "edp", "accuracy", minimise=(True, False), group="search")
    ax = fig.axes[0]
    edp = scaled("edp", [r["edp"] for r in rows])
    accuracy = scaled("accuracy", [r["accuracy"] for r in rows])
    ax.axhline(
        result.search.threshold * accuracy.factor,
        color="0.4",
        linestyle=":",
        linewidth=0.8,
        label="constraint (validation)",
    )
    # Shapes unlike the candidates' (circles, squares), so the three designs stand out in grey too.
    for i, (design, shape) in enumerate(((result.dense, "X"), (result.uniform, "^"), (result.searched, "*"))):
        ax.scatter(
            [design.edp * edp.factor],
            [design.val_accuracy * accuracy.factor],
            marker=shape,
            s=60,
            color=f"C{i + 2}",
            edgecolor="k",
            linewidth=0.5,
            zorder=5,
            label=f"{design.label} design",
        )
    ax.set_ylabel(f"Validation {accuracy.label.lower()}")
    legend_outside(ax, title="Candidates / designs")
    return fig


def _layer_plan_figure(rows: list[dict]) -> Figure:
    """Sparsity per layer, one bar per design (plain or hatched), coloured by granularity and
    labelled with it (and with the layer's widths, ``w4a8``, in a run with bit widths), so the
    plot reads without colour. A layer left dense has no bar to colour:
    it is marked "dense" on the axis instead of getting a legend entry for an invisible bar."""
    fig = Figure(layout="constrained")
    ax = fig.add_subplot()
    designs = list(dict.fromkeys(r["design"] for r in rows))
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    width = 0.8 / max(len(designs), 1)
    colours: dict[str, str] = {}
    for j, design in enumerate(designs):
        for i, layer in enumerate(layers):
            row = next(r for r in rows if r["design"] == design and r["layer"] == layer)
            x = i + (j - (len(designs) - 1) / 2) * width
            sparsity = 1.0 - row["density"]
            widths = _widths_text(row)
            if sparsity <= 0.0:
                text = " ".join(filter(None, ("dense", widths)))
                ax.text(x, 0.01, text, rotation=90, ha="center", va="bottom", fontsize="x-small", color="0.3")
                continue
            colour = colours.setdefault(row["granularity"], f"C{len(colours)}")
            ax.bar(
                x, sparsity, width=width * 0.95, color=colour, hatch=hatch(j), edgecolor="k", linewidth=0.4
            )
            ax.text(
                x,
                sparsity + 0.01,
                " ".join(filter(None, (_granularity_text(row["granularity"]), widths))),
                rotation=90,
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
    ax.set_xticks(np.arange(len(layers)), layers)
    ax.set_xlim(-0.5, len(layers) - 0.5)  # a first layer left dense has no bar to set the limit
    ax.set_xlabel(column_title("layer"))
    ax.set_ylabel(axis_label("sparsity"))
    ax.set_ylim(0, 1.3)  # headroom for the labels above the bars; the axis itself ends at 1
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.spines["left"].set_bounds(0, 1)
    ax.grid(axis="x", visible=False)
    handles = [
        Patch(facecolor=c, edgecolor="k", linewidth=0.4, label=_granularity_text(g))
        for g, c in colours.items()
    ]
    handles += [
        Patch(facecolor="w", edgecolor="k", linewidth=0.4, hatch=hatch(j), label=d)
        for j, d in enumerate(designs)
    ]
    legend_outside(
        ax, title="Granularity / design", handles=handles, labels=[str(h.get_label()) for h in handles]
    )
    return plain_ticks(fig)


def _granularity_text(granularity: str) -> str:
    """``nm2:4`` -> ``2:4``, ``block4x4`` -> ``block 4×4``: the plan's option as a reader names it."""
    if granularity.startswith("nm"):
        return granularity[2:]
    if granularity.startswith("block"):
        return "block " + granularity[5:].replace("x", "×")
    return granularity


def _energy_rows(result) -> list[dict[str, Any]]:
    rows = []
    for design in result.designs:
        for component, energy in design.report.energy_by_component_pj().items():
            rows.append({"design": design.label, "component": component, "energy_pj": energy})
    return rows


def _with_interval(interval: dict[str, Any]) -> str:
    """``estimate [low, high]``; differences (any method but Wilson's) carry their sign."""
    spec = ".4f" if interval["method"] == "wilson" else "+.4f"
    return f"{interval['estimate']:{spec}} [{interval['low']:{spec}}, {interval['high']:{spec}}]"


def _fmt_ratio(x: float) -> str:
    return f"{x:.2f}×" if math.isfinite(x) else "∞"


def _before_after_section(s: dict[str, Any]) -> list[str]:
    """Accuracy of each design's masks on the dense weights (no fine-tuning) and after its fine-tune."""
    lines = [
        "## Accuracy before and after fine-tuning",
        "",
        "Before: the design's masks applied to the dense model's weights, no fine-tuning. After: the "
        f"design as reported above ({s['config']['final_epochs']} final epochs, schedule "
        f"{s['config']['schedule']}). {REPORT_CONFIDENCE:.0%} Wilson intervals.",
        "",
        "| design | validation before [CI] | validation after [CI] | test before [CI] | test after [CI] |",
        "|---|---|---|---|---|",
    ]
    for label, d in s["designs"].items():
        before, after = d["accuracy_intervals_before_finetune"], d["accuracy_intervals"]
        lines.append(
            f"| {label} | {_with_interval(before['val'])} | {_with_interval(after['val'])} | "
            f"{_with_interval(before['test'])} | {_with_interval(after['test'])} |"
        )
    return lines + [""]


def _priorities_sentence(priorities: dict[str, float] | None) -> str:
    if priorities is None:
        return "All layers were searched alike (no cost priorities)."
    ranked = sorted(priorities.items(), key=lambda item: -item[1])
    shares = ", ".join(f"{name} {share:.0%}" for name, share in ranked)
    return f"Layers were searched by their share of the dense cost, costliest first: {shares}."


def markdown_report(result) -> str:
    s = result.summary()
    c = s["config"]
    model = s["model"]
    level = c["confidence"]
    on = (
        f"the upper limit of the {level:.0%} paired (Newcombe) interval of the drop"
        if level is not None
        else "the point estimate of the drop"
    )
    widths = (
        f" Bit widths searched per layer for weights and input activations: {', '.join(map(str, c['bits']))}."
        if c.get("bits")
        else ""
    )
    lines = [
        f"# Co-design: {model} on {s['hardware']}",
        "",
        f"Objective **{c['objective']}**, at most **{c['max_accuracy_drop']:g} point{'' if c['max_accuracy_drop'] == 1 else 's'}** below the dense model's "
        f"accuracy (validation threshold {s['constraint']['val_threshold']:.4f} during the search, test threshold "
        f"{s['constraint']['test_threshold']:.4f}); search strategy **{c['strategy']}**, seed {c['seed']}, "
        f"{c['mode']} mode; weights ranked by **{c['importance']}**, final schedule **{c['schedule']}**; "
        f"{s['fine_tuning']}. The constraint is judged on {on}, on the validation split only; the test "
        "split is never used for choosing." + widths,
        "",
        "## Hardware assessment (dense run)",
        "",
        "What bounds each layer before any pruning: compute-bound layers gain from skipped MACs, "
        "memory-bound ones only from fewer bytes moved, overhead-bound ones from neither.",
        "",
        render_markdown(bottlenecks(result.dense.report)),
        "## Designs",
        "",
        f"Accuracies with their {REPORT_CONFIDENCE:.0%} Wilson intervals."
        if s["accuracy_measure"] == "top-1"
        else f"Accuracy is {s['accuracy_measure']}: per design (validation / test) "
        + ", ".join(
            f"{label} {d['val_accuracy']:.4f} / {d['test_accuracy']:.4f}" for label, d in s["designs"].items()
        )
        + f". Top-1 with its {REPORT_CONFIDENCE:.0%} Wilson interval:",
        "",
        "| design | test accuracy [CI] | validation accuracy [CI] | density | cycles | energy [µJ] | EDP [cycles·µJ] | ideal speedup | achieved speedup |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, d in s["designs"].items():
        ci = d["accuracy_intervals"]
        lines.append(
            f"| {label} | {_with_interval(ci['test'])} | {_with_interval(ci['val'])} | {d['density']:.3f} | {d['cycles']:,} | {d['energy_pj'] * 1e-6:.4f} "
            f"| {d['edp'] * 1e-6:.1f} | {_fmt_ratio(d['ideal_speedup'])} | {_fmt_ratio(d['achieved_speedup'])} |"
        )
    r = s["ratios"]
    lines += [
        "",
        f"EDP: the searched masks are **{r['edp_dense_over_searched']:.2f}×** below dense and "
        f"**{r['edp_uniform_over_searched']:.2f}×** below the uniform baseline "
        f"(uniform: {r['edp_dense_over_uniform']:.2f}× below dense). "
        f"Constraint met on the test split: searched {'yes' if s['constraint']['searched_meets_on_test'] else '**no**'}, "
        f"uniform {'yes' if s['constraint']['uniform_meets_on_test'] else '**no**'}.",
        "",
        *_before_after_section(s),
        f"## Against dense on the test split (paired, {REPORT_CONFIDENCE:.0%})",
        "",
        "| design | accuracy difference [CI] | only dense right | only design right | exact McNemar p |",
        "|---|---|---:|---:|---:|",
        *(
            f"| {label} | {_with_interval(cmp['difference'])} | {cmp['only_dense_correct']} | "
            f"{cmp['only_searched_correct']} | {cmp['mcnemar_p']:.4g} |"
            for label, cmp in s["against_dense_on_test"].items()
        ),
        "",
        "## Where the searched design's speedup went (cycles)",
        "",
        "| cause | cycles |",
        "|---|---|",
    ]
    for cause, cycles in s["designs"]["searched"]["speedup_losses_cycles"].items():
        gain = " (a gain: zero or negative)" if cause == "channel_compaction" else ""
        lines.append(f"| {cause.replace('_', ' ')}{gain} | {cycles:,.0f} |")
    lines += ["", "## Per-layer plans", "", "| layer | uniform | searched |", "|---|---|---|"]
    uniform = {row["layer"]: row for row in s["designs"]["uniform"]["layers"]}
    for row in s["designs"]["searched"]["layers"]:
        u = uniform[row["layer"]]
        lines.append(f"| {row['layer']} | {_plan_cell(u)} | {_plan_cell(row)} |")
    search = s["search"]
    chosen = {label: s["designs"][label] for label in ("uniform", "searched")}
    lines += [
        "",
        "After their final fine-tune (if any) the winners are checked again on the validation split; "
        + "; ".join(
            f"{label}: candidate #{d['candidate']}, {d['final_attempts']} tried"
            for label, d in chosen.items()
        )
        + ".",
        "",
        f"The search evaluated {search['evaluations']} candidates ({search['stopped']}); the uniform baseline "
        f"{search['uniform_evaluations']}. {_priorities_sentence(search['layer_priorities'])} Time: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in s["seconds"].items())
        + ".",
        "",
        "Figures: `candidates_pareto` (all candidates, accuracy against EDP, with the Pareto front), "
        "`layer_plan` (sparsity per layer, coloured by granularity"
        + (
            "; `w4a8`: 4-bit weights, 8-bit input activations, `f` unquantized (the hardware's own datatype)"
            if c.get("bits")
            else ""
        )
        + "), `energy_breakdown` (by component).",
        "",
    ]
    return "\n".join(lines)


def write_results(result, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    summary = out / "summary.json"
    summary.write_text(json.dumps(_json_safe(result.summary()), indent=2, sort_keys=True) + "\n")
    report = out / "report.md"
    report.write_text(markdown_report(result))
    written += [summary, report]
    for design in (result.uniform, result.searched):
        path = out / f"masks_{design.label}.npz"
        design.masks.save(path)
        written.append(path)
    candidates = _candidate_rows(result)
    written.append(to_csv(candidates, out / "candidates.csv"))
    layer_rows = result.uniform.layer_rows() + result.searched.layer_rows()
    energy_rows = _energy_rows(result)
    with paper_style(COLUMN):
        written += save(_pareto_figure(candidates, result), candidates, out / "candidates_pareto")
        written += save(
            figures.energy_breakdown(energy_rows, x="design", stack="component"),
            energy_rows,
            out / "energy_breakdown",
        )
    with paper_style(DOUBLE_COLUMN, aspect=0.35):
        written += save(_layer_plan_figure(layer_rows), layer_rows, out / "layer_plan")
    return written
