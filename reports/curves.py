"""Speedup curves and state timelines: figures over a swept amount or over time.

Pure functions like `reports.figures` (which re-exports them); labels from `reports.labels`.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.decor import (
    Frame,
    hatch,
    legend_outside,
    log_y_if_wide,
    new_figure,
    numbers,
    ordered,
    plain_ticks,
    style_series,
)
from reports.frames import column
from reports.labels import axis_label, scaled, title, value_label

__all__ = ["speedup_curves", "speedup_panels", "timeline", "STATE_COLOURS", "state_legend", "state_style"]


def _ratio_axis(ax: Any, values: Any) -> None:
    # Speedups are ratios: past 10x a linear axis flattens every curve but the steepest; plain
    # 1-2-5 ticks read as "times faster" without exponents.
    log_y_if_wide(ax, values)


def _achieved_and_ideal(ax: Any, xs: list, achieved: list, ideal: list | None, i: int, label: str) -> None:
    """Achieved: solid line, filled markers. Ideal: dashed, hollow markers of the same shape, so a
    group with a single point still shows its ideal."""
    style = style_series(i)
    ax.plot(xs, achieved, linestyle="-", label=label, zorder=3, **style)
    if ideal is not None:
        ax.plot(xs, ideal, linestyle="--", linewidth=0.8, markerfacecolor="none", zorder=2, **style)


def _style_key(ideal: bool) -> list[Line2D]:
    """Legend entries that explain line and marker style (in black, independent of the group; no
    filled marker, so no entry looks like a group's)."""
    key = [Line2D([], [], color="k", linestyle="-", label="achieved")]
    if ideal:
        key.append(
            Line2D(
                [],
                [],
                color="k",
                marker="o",
                markerfacecolor="none",
                linestyle="--",
                linewidth=0.8,
                label="ideal",
            )
        )
    return key


def speedup_curves(
    frame: Frame,
    *,
    x: str = "sparsity",
    ideal: str = "ideal_speedup",
    achieved: str = "speedup",
    group: str | None = None,
) -> Figure:
    """Achieved speedup against `x` (one line and marker shape per `group`, e.g. granularity),
    with each group's ideal (e.g. 1 / (1 - sparsity)) dashed with hollow markers."""
    fig, ax = new_figure()
    rows = sorted(frame, key=lambda r: (r[x], r[achieved]))
    labels = column(rows, group) if group else [None] * len(rows)
    for i, value in enumerate(ordered(labels)):
        sel = [r for r, g in zip(rows, labels) if g == value]
        _achieved_and_ideal(
            ax,
            [r[x] for r in sel],
            [r[achieved] for r in sel],
            [r[ideal] for r in sel],
            i,
            "achieved" if value is None else value_label(group or "", value),
        )
    ax.set_xlabel(axis_label(x))
    ax.set_ylabel(axis_label(achieved))
    _ratio_axis(ax, numbers(frame, ideal))
    handles: list[Any]
    handles, texts = ax.get_legend_handles_labels()
    key = _style_key(True)
    if group is None:
        handles, texts = list(key), [str(h.get_label()) for h in key]
    else:
        handles, texts = handles + key, texts + [str(h.get_label()) for h in key]
    legend_outside(ax, title=title(group) if group else None, handles=handles, labels=texts)
    return plain_ticks(fig)


def speedup_panels(
    frame: Frame,
    *,
    panel: str,
    group: str,
    x: str = "sparsity",
    achieved: str = "speedup",
    ideal: str | None = "ideal_speedup",
    ylabel: str | None = None,
) -> Figure:
    """One panel per `panel` value (e.g. hardware), one colour and marker shape per `group`
    (e.g. pattern): achieved solid with filled markers, ideal (when given) dashed with hollow ones.
    The legend sits below the panels and explains both styles."""
    panels = ordered(column(frame, panel))
    groups = ordered(column(frame, group))
    fig = Figure(layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, value in zip(axes, panels):
        for i, g in enumerate(groups):
            rows = sorted(
                (r for r in frame if r[panel] == value and r[group] == g), key=lambda r: (r[x], r[achieved])
            )
            if rows:
                ideal_values = None if ideal is None else [r[ideal] for r in rows]
                _achieved_and_ideal(
                    ax,
                    [r[x] for r in rows],
                    [r[achieved] for r in rows],
                    ideal_values,
                    i,
                    value_label(group, g),
                )
        ax.set_title(value_label(panel, value))
        ax.set_xlabel(axis_label(x))
        _ratio_axis(ax, numbers(frame, ideal if ideal is not None else achieved))
    # With the ideal drawn too, the axis holds both speedups, not only the achieved one.
    axes[0].set_ylabel(ylabel or axis_label("speedup" if ideal is not None else achieved))
    # Below the panels, so several panels keep their width and their titles do not collide.
    handles: list[Any] = []
    labels: list[str] = []
    for ax in axes:
        for h, text in zip(*ax.get_legend_handles_labels()):
            if text not in labels:
                handles.append(h)
                labels.append(text)
    key = _style_key(ideal is not None)
    fig.legend(
        handles + key,
        labels + [str(h.get_label()) for h in key],
        loc="outside lower center",
        ncols=min(len(labels) + len(key), 6),
        title=title(group),
    )
    return plain_ticks(fig)


# ---- utilisation / power-state timeline -------------------------------------------------
#: One colour per power state across every timeline (and a hatch, for print in grey).
STATE_COLOURS = {"active": "C3", "busy": "C3", "idle": "C1", "stall": "C1", "sleep": "C0", "wake": "C2"}


def state_style(states: list[str]) -> dict[str, dict[str, Any]]:
    """Face colour and hatch per state, busiest state first (the legend's order)."""
    known = list(STATE_COLOURS)
    ranked = sorted(states, key=lambda s: known.index(s) if s in known else len(known))
    return {
        s: {"facecolor": STATE_COLOURS.get(s, f"C{4 + i % 6}"), "hatch": hatch(i)}
        for i, s in enumerate(ranked)
    }


def timeline(frame: Frame, *, time_unit: str = "cycles") -> Figure:
    """One lane per component, spans per state (colour and hatch), from `frames.from_trace(...)`."""
    components = ordered(column(frame, "component"))
    states = ordered(column(frame, "state"))
    styles = state_style(states)
    unit = scaled(f"time_{time_unit}", [r["end_cycles"] for r in frame])
    fig, ax = new_figure()
    for lane, component in enumerate(components):
        for state in states:
            spans = [
                (r["start_cycles"] * unit.factor, (r["end_cycles"] - r["start_cycles"]) * unit.factor)
                for r in frame
                if r["component"] == component and r["state"] == state
            ]
            if spans:
                ax.broken_barh(spans, (lane - 0.4, 0.8), edgecolor="k", linewidth=0.2, **styles[state])
    ax.set_yticks(range(len(components)), [value_label("component", c) for c in components])
    ax.set_ylim(-0.6, len(components) - 0.4)
    ax.set_xlabel(unit.label)
    ax.grid(axis="y", visible=False)
    state_legend(ax, styles)
    return plain_ticks(fig)


def state_legend(ax: Any, styles: dict[str, dict[str, Any]]) -> None:
    """A legend entry per state, beside the lanes (the spans themselves carry no labels)."""
    handles = [
        Patch(edgecolor="k", linewidth=0.4, label=value_label("state", s), **style)
        for s, style in styles.items()
    ]
    legend_outside(
        ax, title=title("state"), handles=handles, labels=[value_label("state", s) for s in styles]
    )
