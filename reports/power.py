"""Power-state timeline and buffer occupancy of an event-mode run (`simulate(..., trace=True)`).

    trace_frame(report.trace) -> tidy rows;  power_timeline(rows) -> Figure

Rows have ``kind`` "power" (component, state, start, end), "occupancy" (component = buffer,
start = change point, bytes held from then on) or "layer_end" (component = layer, start = its
last cycle), so one CSV holds everything the figure draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from reports.curves import state_legend, state_style
from reports.decor import legend_outside, linestyle, ordered, plain_ticks
from reports.labels import scaled, value_label

__all__ = ["trace_frame", "power_timeline", "POWER_COLUMNS"]

POWER_COLUMNS = ("kind", "component", "state", "start_cycles", "end_cycles", "bytes")
#: Past this many layers, per-layer boundary lines hide the data they are meant to divide.
MAX_LAYER_MARKS = 12


def trace_frame(trace: Any) -> list[dict[str, Any]]:
    """The rows of an event trace (`accelsim.timing.engine.trace`); raises if the run kept no trace."""
    if trace is None:
        raise ValueError("trace_frame: the report has no trace; simulate with mode='event', trace=True")
    rows = [
        dict(zip(POWER_COLUMNS, ("power", p.component, p.state, p.start_cycle, p.end_cycle, None)))
        for p in trace.power
    ]
    for buffer, changes in trace.occupancy.items():
        rows += [
            dict(zip(POWER_COLUMNS, ("occupancy", buffer, None, cycle, None, held)))
            for cycle, held in changes
        ]
    rows += [
        dict(zip(POWER_COLUMNS, ("layer_end", name, None, end, None, None)))
        for name, end in zip(trace.layers, trace.layer_end_cycles)
    ]
    return rows


def power_timeline(frame: Sequence[Mapping[str, Any]]) -> Figure:
    """Top: one lane per component, spans per power state (colour and hatch). Bottom: bytes held
    per buffer (one line style each). Dotted verticals mark layer ends (up to `MAX_LAYER_MARKS`
    layers); time in scaled cycles."""
    fig = Figure(layout="constrained")
    lanes_ax, occupancy_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1.2, 1.0))
    power = [r for r in frame if r["kind"] == "power"]
    occupancy = [r for r in frame if r["kind"] == "occupancy"]
    time = scaled("time_cycles", [r["end_cycles"] for r in power] + [r["start_cycles"] for r in frame])
    held = scaled("occupancy_bytes", [r["bytes"] for r in occupancy])
    components = ordered([r["component"] for r in power])
    states = ordered([r["state"] for r in power])
    styles = state_style(states)
    for lane, component in enumerate(components):
        for state in states:
            spans = [
                (r["start_cycles"], r["end_cycles"] - r["start_cycles"])
                for r in power
                if r["component"] == component and r["state"] == state
            ]
            if spans:
                # No outlines: thousands of tile-sized spans would merge into black (hatches stay).
                lanes_ax.broken_barh(
                    np.array(spans, dtype=float) * time.factor,
                    (lane - 0.4, 0.8),
                    edgecolor="k",
                    linewidth=0.0,
                    **styles[state],
                )
    lanes_ax.set_yticks(range(len(components)), [value_label("component", c) for c in components])
    lanes_ax.set_ylim(-0.6, len(components) - 0.4)
    lanes_ax.grid(axis="y", visible=False)
    state_legend(lanes_ax, styles)
    for i, buffer in enumerate(ordered([r["component"] for r in occupancy])):
        points = [r for r in occupancy if r["component"] == buffer]
        occupancy_ax.step(
            [r["start_cycles"] * time.factor for r in points],
            [r["bytes"] * held.factor for r in points],
            where="post",
            linestyle=linestyle(i),
            color=f"C{i}",
            label=value_label("component", buffer),
        )
    occupancy_ax.set_ylabel(held.label)
    occupancy_ax.set_xlabel(time.label)
    legend_outside(occupancy_ax, title="Buffer")
    ends = [r["start_cycles"] * time.factor for r in frame if r["kind"] == "layer_end"]
    if len(ends) <= MAX_LAYER_MARKS:
        for end in ends:
            for ax in (lanes_ax, occupancy_ax):
                ax.axvline(end, color="0.4", linewidth=0.6, linestyle=":")
    return plain_ticks(fig)
