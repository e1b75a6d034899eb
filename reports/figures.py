"""Figures as pure functions: a tidy frame in, a `matplotlib.figure.Figure` out.

Built on `Figure` directly (no pyplot): no GUI backend, no global figure registry, no state left
behind. Style comes from the caller (`reports.style.paper_style`); saving is `reports.save.save`.
Axis labels come from column names via `axis_label` so units are stated once, in the name.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from reports.frames import column

__all__ = [
    "axis_label", "pareto_front", "pareto", "scatter", "energy_breakdown", "roofline", "heatmap",
    "grouped_bars", "speedup_curves", "timeline",
]

Frame = Sequence[Mapping[str, Any]]

_SPECIAL = {
    "seconds": "latency [s]", "macs": "MACs", "edp_j_s": "energy-delay product [J·s]",
    "utilisation": "utilisation [fraction]", "pe.rows": "PE rows", "pe.cols": "PE columns",
    "pe_count": "PEs", "pe.dataflow": "dataflow", "area_mm2": "area [mm²]",
    "edap_j_s_mm2": "energy-delay-area product [J·s·mm²]",
    "runs_per_s_per_mm2": "throughput per area [inferences/s/mm²]",
}
# Longest suffix first, so "_mac_per_byte" wins over "_byte".
_UNITS = sorted({
    "_j_s": "J·s", "_pj": "pJ", "_uj": "µJ", "_j": "J", "_s": "s", "_cycles": "cycles", "_bytes": "bytes",
    "_mhz": "MHz", "_mac_per_byte": "MAC/byte", "_mac_per_cycle": "MAC/cycle",
    "_bytes_per_cycle": "bytes/cycle", "_mw": "mW",
}.items(), key=lambda kv: -len(kv[0]))


def axis_label(name: str) -> str:
    """A readable label with the unit from the column name: ``energy_pj`` -> ``energy [pJ]``."""
    if name in _SPECIAL:
        return _SPECIAL[name]
    for suffix, unit in _UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return f"{name[: -len(suffix)].replace('_', ' ')} [{unit}]"
    if name == "cycles":
        return "cycles"
    return name.replace("_", " ")


def _numbers(frame: Frame, name: str) -> np.ndarray:
    values = column(frame, name)
    try:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"column {name!r} must be numeric, got {values[:3]!r}...") from None


def _log_if_wide(ax, axis: str, values: np.ndarray, ratio: float = 100.0) -> None:
    # Design spaces span orders of magnitude; a linear axis would crush most points into a corner.
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > ratio:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _figure() -> tuple[Figure, Any]:
    fig = Figure(layout="constrained")
    return fig, fig.add_subplot()


# ---- Pareto -----------------------------------------------------------------------------
def pareto_front(frame: Frame, x: str, y: str, *, minimise: tuple[bool, bool] = (True, True)) -> list[dict]:
    """Rows not dominated in (`x`, `y`), sorted by `x`. A row is dominated if another is at least
    as good in both and better in one. Rows with missing values are ignored."""
    sign = (1.0 if minimise[0] else -1.0, 1.0 if minimise[1] else -1.0)
    rows = [dict(r) for r in frame if r.get(x) is not None and r.get(y) is not None]
    rows.sort(key=lambda r: (sign[0] * r[x], sign[1] * r[y]))
    front, best = [], math.inf
    for row in rows:  # sweep in order of x; keep a row iff it strictly improves y
        value = sign[1] * row[y]
        if value < best:
            front.append(row)
            best = value
    return sorted(front, key=lambda r: r[x])


def pareto(frame: Frame, x: str, y: str, *, minimise: tuple[bool, bool] = (True, True),
           group: str | None = None, title: str | None = None) -> Figure:
    """All points (grey, or coloured by `group`) with their Pareto front drawn as a line."""
    fig, ax = _figure()
    xs, ys = _numbers(frame, x), _numbers(frame, y)
    if group:
        labels = column(frame, group)
        for value in sorted(set(labels), key=str):
            mask = np.array([v == value for v in labels])
            ax.scatter(xs[mask], ys[mask], s=10, alpha=0.7, label=f"{group}={value}")
    else:
        ax.scatter(xs, ys, s=8, color="0.6", alpha=0.7, label="design points")
    front = pareto_front(frame, x, y, minimise=minimise)
    ax.plot([r[x] for r in front], [r[y] for r in front], color="C3", marker="o", markersize=4,
            drawstyle="steps-post" if minimise == (True, True) else "default", label="Pareto front")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    _log_if_wide(ax, "x", xs)
    _log_if_wide(ax, "y", ys)
    ax.legend()
    if title:
        ax.set_title(title)
    return fig


def scatter(frame: Frame, x: str, y: str, *, group: str | None = None) -> Figure:
    fig, ax = _figure()
    xs, ys = _numbers(frame, x), _numbers(frame, y)
    labels = column(frame, group) if group else [None] * len(xs)
    for value in sorted(set(labels), key=str):
        mask = np.array([v == value for v in labels])
        ax.scatter(xs[mask], ys[mask], s=10, label=None if value is None else f"{group}={value}")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    _log_if_wide(ax, "x", xs)
    _log_if_wide(ax, "y", ys)
    if group:
        ax.legend()
    return fig


# ---- energy breakdown -------------------------------------------------------------------
_ENERGY_UNITS = (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3), ("pJ", 1.0))


def _energy_unit(largest_pj: float) -> tuple[str, float]:
    for unit, scale in _ENERGY_UNITS:
        if largest_pj >= scale:
            return unit, scale
    return "pJ", 1.0


def _ordered(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def energy_breakdown(frame: Frame, *, x: str = "component", stack: str = "action",
                     value: str = "energy_pj") -> Figure:
    """Stacked bars: one bar per `x` value (default: component), stacked by `stack` (default:
    action); energy summed over everything else (e.g. layers) and scaled to a readable unit."""
    xs, stacks, values = column(frame, x), column(frame, stack), _numbers(frame, value)
    bars, parts = _ordered(xs), _ordered(stacks)
    totals = np.zeros((len(parts), len(bars)))
    for bx, sx, v in zip(xs, stacks, values):
        totals[parts.index(sx), bars.index(bx)] += v
    unit, scale = _energy_unit(float(totals.sum(axis=0).max(initial=0.0)))
    fig, ax = _figure()
    bottom = np.zeros(len(bars))
    positions = np.arange(len(bars))
    for i, part in enumerate(parts):
        ax.bar(positions, totals[i] / scale, bottom=bottom, label=str(part), width=0.7)
        bottom += totals[i] / scale
    ax.set_xticks(positions, [str(b) for b in bars], rotation=30, ha="right")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(f"energy [{unit}]")
    ax.legend(title=stack.replace("_", " "), loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(axis="x", visible=False)
    return fig


# ---- roofline ---------------------------------------------------------------------------
def roofline(frame: Frame, *, label: str = "layer") -> Figure:
    """Per-layer roofline on log-log axes: operational intensity (MAC per DRAM byte) against
    achieved MAC/cycle, under the compute roof (``peak_mac_per_cycle``, R*C) and the bandwidth
    roof (``dram_bandwidth_bytes_per_cycle`` x intensity). Layers without DRAM traffic (infinite
    intensity) cannot be placed and are left out. Takes `reports.frames.from_report(r, hw)`."""
    peak = {r.get("peak_mac_per_cycle") for r in frame}
    bandwidth = {r.get("dram_bandwidth_bytes_per_cycle") for r in frame}
    if len(peak) != 1 or len(bandwidth) != 1 or None in bandwidth:
        raise ValueError("roofline: the frame must hold one hardware configuration with peak_mac_per_cycle and "
                         "dram_bandwidth_bytes_per_cycle (build it with from_report(report, hardware))")
    peak_v, bw_v = float(peak.pop()), float(bandwidth.pop())
    rows = [r for r in frame if r.get("operational_intensity_mac_per_byte")]
    oi = np.array([r["operational_intensity_mac_per_byte"] for r in rows], dtype=float)
    tp = np.array([r["throughput_mac_per_cycle"] for r in rows], dtype=float)
    fig, ax = _figure()
    ridge = peak_v / bw_v
    lo = min(oi.min(initial=ridge), ridge) / 4
    hi = max(oi.max(initial=ridge), ridge) * 4
    grid = np.geomspace(lo, hi, 256)
    ax.plot(grid, np.full_like(grid, peak_v), color="C3", label=f"compute roof ({peak_v:g} MAC/cycle)")
    ax.plot(grid, np.minimum(bw_v * grid, peak_v), color="C0", linestyle="--",
            label=f"bandwidth roof ({bw_v:g} bytes/cycle)")
    kinds = [r.get("kind", "") for r in rows]
    for kind in _ordered(kinds):
        mask = np.array([k == kind for k in kinds])
        ax.scatter(oi[mask], tp[mask], s=12, label=str(kind) or label, zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(max(tp.min(initial=peak_v) / 4, 1e-3), peak_v * 2)
    ax.set_xlabel(axis_label("operational_intensity_mac_per_byte"))
    ax.set_ylabel(axis_label("throughput_mac_per_cycle"))
    ax.legend()
    return fig


# ---- DSE heatmap ------------------------------------------------------------------------
def heatmap(frame: Frame, x: str, y: str, value: str, *, annotate: bool | None = None) -> Figure:
    """`value` over two axes (one row per cell; aggregate first with `frames.aggregate`). Axes are
    categorical, in sorted order; missing cells stay blank. Log colour scale for wide ranges."""
    xs, ys, vs = column(frame, x), column(frame, y), _numbers(frame, value)
    xcats = sorted(set(xs), key=_key)
    ycats = sorted(set(ys), key=_key)
    cells = np.full((len(ycats), len(xcats)), np.nan)
    seen = set()
    for xv, yv, v in zip(xs, ys, vs):
        if (xv, yv) in seen:
            raise ValueError(f"heatmap: several rows for {x}={xv!r}, {y}={yv!r}; aggregate the frame first")
        seen.add((xv, yv))
        cells[ycats.index(yv), xcats.index(xv)] = v
    finite = cells[np.isfinite(cells)]
    wide = finite.size and finite.min() > 0 and finite.max() / finite.min() > 100
    norm = LogNorm() if wide else Normalize()
    fig, ax = _figure()
    image = ax.imshow(np.ma.masked_invalid(cells), origin="lower", aspect="auto", cmap="viridis", norm=norm)
    ax.set_xticks(range(len(xcats)), [_fmt(c) for c in xcats])
    ax.set_yticks(range(len(ycats)), [_fmt(c) for c in ycats])
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(y))
    ax.grid(False)
    fig.colorbar(image, ax=ax, label=axis_label(value))
    if annotate if annotate is not None else cells.size <= 64:
        for (row, col), v in np.ndenumerate(cells):
            if np.isfinite(v):
                ax.text(col, row, f"{v:.3g}", ha="center", va="center", fontsize="x-small",
                        color="white" if norm(v) < 0.5 else "black")
    return fig


def _key(value: Any) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1024 and value % 1024 == 0:
        return f"{value // 1024}Ki"  # buffer sizes read better as KiB
    return str(value)


# ---- grouped bars (e.g. dataflows across networks) -----------------------------------------
def grouped_bars(frame: Frame, x: str, group: str, value: str, *, normalise_to: Any = None,
                 log: bool = False) -> Figure:
    """One cluster of bars per `x` value, one bar per `group` value. With `normalise_to`, each
    cluster is divided by its bar for that group value (relative figures, y label says so)."""
    xs, gs, vs = column(frame, x), column(frame, group), _numbers(frame, value)
    clusters, groups = _ordered(xs), _ordered(gs)
    table = np.full((len(groups), len(clusters)), np.nan)
    for xv, gv, v in zip(xs, gs, vs):
        table[groups.index(gv), clusters.index(xv)] = v
    ylabel = axis_label(value)
    if normalise_to is not None:
        if normalise_to not in groups:
            raise ValueError(f"normalise_to: {normalise_to!r} is not a value of {group!r}: {groups}")
        table = table / table[groups.index(normalise_to)]
        ylabel = f"{value.replace('_', ' ')} relative to {group} {normalise_to}"
    fig, ax = _figure()
    width = 0.8 / len(groups)
    positions = np.arange(len(clusters))
    for i, gv in enumerate(groups):
        ax.bar(positions + (i - (len(groups) - 1) / 2) * width, table[i], width=width, label=str(gv))
    ax.set_xticks(positions, [str(c) for c in clusters], rotation=30, ha="right")
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend(title=group.replace("_", " "))
    ax.grid(axis="x", visible=False)
    return fig


# ---- sparsity vs speedup ----------------------------------------------------------------
def speedup_curves(frame: Frame, *, x: str = "sparsity", ideal: str = "ideal_speedup",
                   achieved: str = "speedup", group: str | None = None) -> Figure:
    """Achieved speedup against sparsity (one line per `group`, e.g. granularity) next to the
    ideal curve (e.g. 1 / (1 - sparsity)), both read from the frame's columns."""
    fig, ax = _figure()
    rows = sorted(frame, key=lambda r: r[x])
    labels = column(rows, group) if group else [None] * len(rows)
    ideal_pts = sorted({(r[x], r[ideal]) for r in rows})
    ax.plot([p[0] for p in ideal_pts], [p[1] for p in ideal_pts], color="0.3", linestyle="--", label="ideal")
    for value in _ordered(labels):
        sel = [r for r, g in zip(rows, labels) if g == value]
        ax.plot([r[x] for r in sel], [r[achieved] for r in sel], marker="o",
                label="achieved" if value is None else f"{value}")
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel("speedup over dense [×]")
    ax.legend(title=group.replace("_", " ") if group else None)
    return fig


def speedup_panels(frame: Frame, *, panel: str, group: str, x: str = "sparsity", achieved: str = "speedup",
                   ideal: str | None = "ideal_speedup", ylabel: str = "speedup over dense [×]") -> Figure:
    """One panel per `panel` value (e.g. hardware), one colour per `group` (e.g. pattern):
    achieved solid with markers, ideal (when given) dashed in the same colour."""
    panels = _ordered(column(frame, panel))
    groups = _ordered(column(frame, group))
    fig = Figure(layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, value in zip(axes, panels):
        for i, g in enumerate(groups):
            rows = sorted((r for r in frame if r[panel] == value and r[group] == g), key=lambda r: r[x])
            if not rows:
                continue
            xs = [r[x] for r in rows]
            ax.plot(xs, [r[achieved] for r in rows], marker="o", color=f"C{i}", label=str(g))
            if ideal is not None:
                ax.plot(xs, [r[ideal] for r in rows], linestyle="--", color=f"C{i}", linewidth=0.8)
        ax.set_title(str(value))
        ax.set_xlabel(axis_label(x))
        if ideal is not None:
            # Speedups are ratios: past 10x a linear axis flattens every curve but the steepest.
            _log_if_wide(ax, "y", _numbers(frame, ideal), ratio=10.0)
            if ax.get_yscale() == "log":
                ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel(ylabel)
    # Below the panels, so several panels keep their width and their titles do not collide.
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4),
               title=group.replace("_", " ") + (" (dashed: ideal)" if ideal else ""))
    return fig


# ---- utilisation / power-state timeline -------------------------------------------------
_STATE_COLOURS = {"active": "C2", "busy": "C2", "idle": "C1", "stall": "C1", "sleep": "C7", "wake": "C3"}


def timeline(frame: Frame, *, time_unit: str = "cycles") -> Figure:
    """One lane per component, coloured spans per state, from `frames.from_trace(...)` rows."""
    components = _ordered(column(frame, "component"))
    states = _ordered(column(frame, "state"))
    colours = {s: _STATE_COLOURS.get(s, f"C{3 + i % 7}") for i, s in enumerate(states)}
    fig, ax = _figure()
    for lane, component in enumerate(components):
        for state in states:
            spans = [(r["start_cycles"], r["end_cycles"] - r["start_cycles"]) for r in frame
                     if r["component"] == component and r["state"] == state]
            if spans:
                ax.broken_barh(spans, (lane - 0.4, 0.8), facecolors=colours[state],
                               label=state if lane == _first_lane(frame, components, state) else None)
    ax.set_yticks(range(len(components)), components)
    ax.set_ylim(-0.6, len(components) - 0.4)
    ax.set_xlabel(f"time [{time_unit}]")
    ax.grid(axis="y", visible=False)
    ax.legend(title="state", loc="upper right", ncols=min(len(states), 4))
    return fig


def _first_lane(frame: Frame, components: list, state: str) -> int:
    return min(components.index(r["component"]) for r in frame if r["state"] == state)
