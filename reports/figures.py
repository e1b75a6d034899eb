"""Figures as pure functions: a tidy frame in, a `matplotlib.figure.Figure` out.

Built on `Figure` directly (no pyplot): no GUI backend, no global figure registry, no state left
behind. Style comes from the caller (`reports.style.paper_style`); saving is `reports.save.save`.
Labels and units come from the one column map, `reports.labels`; values are scaled to the
labelled unit, series differ in marker or hatch as well as colour, legends sit beside the data
(`reports.decor`). Speedup and timeline figures live in `reports.curves`, re-exported here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from pruning.search_records import pareto_front
from reports.curves import speedup_curves, speedup_panels, timeline
from reports.decor import (
    Frame,
    category_key,
    category_ticks,
    hatch,
    legend_outside,
    log_if_wide,
    new_figure,
    numbers,
    ordered,
    plain_ticks,
    style_series,
)
from reports.frames import column
from reports.labels import axis_label, scaled, title as column_title, value_label

__all__ = [
    "axis_label",
    "pareto_front",
    "pareto",
    "scatter",
    "energy_breakdown",
    "roofline",
    "heatmap",
    "grouped_bars",
    "speedup_curves",
    "speedup_panels",
    "timeline",
]


# ---- Pareto -----------------------------------------------------------------------------
def _points(ax: Any, frame: Frame, x: str, y: str, group: str | None) -> tuple[float, float]:
    """Scatter `y` against `x` in their labelled units, one marker shape per `group` value;
    returns the two scale factors."""
    xs, ys = numbers(frame, x), numbers(frame, y)
    sx, sy = scaled(x, xs), scaled(y, ys)
    if group:
        labels = column(frame, group)
        for i, value in enumerate(sorted(set(labels), key=category_key)):
            mask = np.array([v == value for v in labels])
            ax.scatter(
                xs[mask] * sx.factor,
                ys[mask] * sy.factor,
                s=12,
                alpha=0.8,
                linewidths=0.3,
                edgecolors="k",
                label=value_label(group, value),
                **style_series(i),
            )
    else:
        ax.scatter(xs * sx.factor, ys * sy.factor, s=8, color="0.6", alpha=0.7, label="design points")
    ax.set_xlabel(sx.label)
    ax.set_ylabel(sy.label)
    log_if_wide(ax, "x", xs)
    log_if_wide(ax, "y", ys)
    return sx.factor, sy.factor


def pareto(
    frame: Frame,
    x: str,
    y: str,
    *,
    minimise: tuple[bool, bool] = (True, True),
    group: str | None = None,
    title: str | None = None,
) -> Figure:
    """All points (grey, or one marker and colour per `group` value) with their Pareto front."""
    fig, ax = new_figure()
    fx, fy = _points(ax, frame, x, y, group)
    front = pareto_front(frame, x, y, minimise=minimise, skip_missing=True)
    ax.plot(
        [r[x] * fx for r in front],
        [r[y] * fy for r in front],
        color="k",
        marker="o",
        markersize=3,
        markerfacecolor="none",
        linewidth=0.9,
        drawstyle="steps-post" if minimise == (True, True) else "default",
        label="Pareto front",
    )
    legend_outside(ax, title=column_title(group) if group else None)
    if title:
        ax.set_title(title)
    return plain_ticks(fig)


def scatter(frame: Frame, x: str, y: str, *, group: str | None = None) -> Figure:
    fig, ax = new_figure()
    _points(ax, frame, x, y, group)
    if group:
        legend_outside(ax, title=column_title(group))
    return plain_ticks(fig)


# ---- energy breakdown -------------------------------------------------------------------
def _bar_order(values: list[Any]) -> list[Any]:
    # Numeric categories (array sizes) read left to right in size; names keep the frame's order.
    distinct = ordered(values)
    if all(category_key(v)[0] == 0 for v in distinct):
        return sorted(distinct)
    return distinct


def energy_breakdown(
    frame: Frame, *, x: str = "component", stack: str = "action", value: str = "energy_pj"
) -> Figure:
    """Stacked bars: one bar per `x` value (default: component), stacked by `stack` (default:
    action), each part with its own hatch; energy summed over everything else (e.g. layers) and
    scaled to a readable unit."""
    xs, stacks, values = column(frame, x), column(frame, stack), numbers(frame, value)
    bars, parts = _bar_order(xs), ordered(stacks)
    totals = np.zeros((len(parts), len(bars)))
    for bx, sx, v in zip(xs, stacks, values):
        totals[parts.index(sx), bars.index(bx)] += v
    unit = scaled(value, totals.sum(axis=0))
    fig, ax = new_figure()
    bottom = np.zeros(len(bars))
    positions = np.arange(len(bars))
    for i, part in enumerate(parts):
        heights = totals[i] * unit.factor
        ax.bar(
            positions,
            heights,
            bottom=bottom,
            label=value_label(stack, part),
            width=0.7,
            color=f"C{i % 10}",
            hatch=hatch(i),
            edgecolor="k",
            linewidth=0.3,
        )
        bottom += heights
    category_ticks(ax, [value_label(x, b) for b in bars])
    ax.set_xlabel(column_title(x))
    ax.set_ylabel(unit.label)
    # Largest part at the top of the legend, as in the stack.
    handles, labels = ax.get_legend_handles_labels()
    legend_outside(ax, title=column_title(stack), handles=handles[::-1], labels=labels[::-1])
    ax.grid(axis="x", visible=False)
    return plain_ticks(fig)


# ---- roofline ---------------------------------------------------------------------------
def roofline(frame: Frame, *, label: str = "layer") -> Figure:
    """Per-layer roofline on log-log axes: operational intensity (MAC per DRAM byte) against
    achieved MAC/cycle, under the compute roof (``peak_mac_per_cycle``, R*C) and the bandwidth
    roof (``dram_bandwidth_bytes_per_cycle`` x intensity). Layers without DRAM traffic (infinite
    intensity) cannot be placed and are left out. Takes `reports.frames.from_report(r, hw)`."""
    peak = {r.get("peak_mac_per_cycle") for r in frame}
    bandwidth = {r.get("dram_bandwidth_bytes_per_cycle") for r in frame}
    if len(peak) != 1 or len(bandwidth) != 1 or None in bandwidth or None in peak:
        raise ValueError(
            "roofline: the frame must hold one hardware configuration with peak_mac_per_cycle and "
            "dram_bandwidth_bytes_per_cycle (build it with from_report(report, hardware))"
        )
    peak_v, bw_v = float(peak.pop()), float(bandwidth.pop())  # type: ignore[arg-type]  # None excluded above
    rows = [r for r in frame if r.get("operational_intensity_mac_per_byte")]
    oi = np.array([r["operational_intensity_mac_per_byte"] for r in rows], dtype=float)
    tp = np.array([r["throughput_mac_per_cycle"] for r in rows], dtype=float)
    fig, ax = new_figure()
    ridge = peak_v / bw_v
    lo = min(oi.min(initial=ridge), ridge) / 4
    hi = max(oi.max(initial=ridge), ridge) * 4
    grid = np.geomspace(lo, hi, 256)
    ax.plot(grid, np.full_like(grid, peak_v), color="C3", label=f"compute roof ({peak_v:g} MAC/cycle)")
    ax.plot(
        grid,
        np.minimum(bw_v * grid, peak_v),
        color="C0",
        linestyle="--",
        label=f"bandwidth roof ({bw_v:g} bytes/cycle)",
    )
    kinds = [r.get("kind", "") for r in rows]
    for i, kind in enumerate(ordered(kinds)):
        mask = np.array([k == kind for k in kinds])
        ax.scatter(
            oi[mask],
            tp[mask],
            s=14,
            label=str(kind) or label,
            zorder=3,
            edgecolors="k",
            linewidths=0.3,
            **style_series(i + 2),
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(max(tp.min(initial=peak_v) / 4, 1e-3), peak_v * 2)
    ax.set_xlabel(axis_label("operational_intensity_mac_per_byte"))
    ax.set_ylabel(axis_label("throughput_mac_per_cycle"))
    legend_outside(ax, below=True)
    return fig


# ---- DSE heatmap ------------------------------------------------------------------------
def _tick_texts(name: str, categories: list[Any]) -> tuple[list[str], str]:
    """Tick texts and axis label of a categorical axis: numbers in the label's unit (a byte
    axis says KiB once, in its label), names as readers know them."""
    if all(category_key(c)[0] == 0 for c in categories):
        unit = scaled(name, categories)
        return [f"{c * unit.factor:g}" for c in categories], unit.label
    return [value_label(name, c) for c in categories], column_title(name)


def heatmap(frame: Frame, x: str, y: str, value: str, *, annotate: bool | None = None) -> Figure:
    """`value` over two axes (one row per cell; aggregate first with `frames.aggregate`). Axes are
    categorical, in sorted order; missing cells stay blank. Log colour scale for wide ranges."""
    xs, ys, vs = column(frame, x), column(frame, y), numbers(frame, value)
    xcats = sorted(set(xs), key=category_key)
    ycats = sorted(set(ys), key=category_key)
    unit = scaled(value, vs)
    cells = np.full((len(ycats), len(xcats)), np.nan)
    seen = set()
    for xv, yv, v in zip(xs, ys, vs):
        if (xv, yv) in seen:
            raise ValueError(f"heatmap: several rows for {x}={xv!r}, {y}={yv!r}; aggregate the frame first")
        seen.add((xv, yv))
        cells[ycats.index(yv), xcats.index(xv)] = v * unit.factor
    finite = cells[np.isfinite(cells)]
    wide = finite.size and finite.min() > 0 and finite.max() / finite.min() > 100
    norm = LogNorm() if wide else Normalize()
    fig, ax = new_figure()
    image = ax.imshow(np.ma.masked_invalid(cells), origin="lower", aspect="auto", cmap="viridis", norm=norm)
    (xticks, xlabel), (yticks, ylabel) = _tick_texts(x, xcats), _tick_texts(y, ycats)
    category_ticks(ax, xticks)
    ax.set_yticks(range(len(ycats)), yticks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    fig.colorbar(image, ax=ax, label=unit.label)
    if annotate if annotate is not None else cells.size <= 64:
        for (row, col), v in np.ndenumerate(cells):
            if np.isfinite(v):
                ax.text(
                    col,
                    row,
                    f"{v:.3g}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white" if norm(v) < 0.5 else "black",
                )
    return plain_ticks(fig)


# ---- grouped bars (e.g. dataflows across networks) -----------------------------------------
def grouped_bars(
    frame: Frame, x: str, group: str, value: str, *, normalise_to: Any = None, log: bool = False
) -> Figure:
    """One cluster of bars per `x` value, one bar (colour and hatch) per `group` value. With
    `normalise_to`, each cluster is divided by its bar for that group value (the label says so)."""
    xs, gs, vs = column(frame, x), column(frame, group), numbers(frame, value)
    clusters, groups = ordered(xs), ordered(gs)
    table = np.full((len(groups), len(clusters)), np.nan)
    for xv, gv, v in zip(xs, gs, vs):
        table[groups.index(gv), clusters.index(xv)] = v
    if normalise_to is not None:
        if normalise_to not in groups:
            raise ValueError(f"normalise_to: {normalise_to!r} is not a value of {group!r}: {groups}")
        table = table / table[groups.index(normalise_to)]
        reference = f"{value_label(group, normalise_to)} {column_title(group).lower()}"
        ylabel = f"{column_title(value)} relative to {reference}"
    else:
        unit = scaled(value, table.ravel())
        table, ylabel = table * unit.factor, unit.label
    fig, ax = new_figure()
    width = 0.8 / len(groups)
    positions = np.arange(len(clusters))
    for i, gv in enumerate(groups):
        ax.bar(
            positions + (i - (len(groups) - 1) / 2) * width,
            table[i],
            width=width,
            label=value_label(group, gv),
            color=f"C{i % 10}",
            hatch=hatch(i),
            edgecolor="k",
            linewidth=0.3,
        )
    category_ticks(ax, [value_label(x, c) for c in clusters])
    ax.set_xlabel(column_title(x))
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    legend_outside(ax, title=column_title(group))
    ax.grid(axis="x", visible=False)
    return plain_ticks(fig)
