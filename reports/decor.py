"""What every figure does the same way: series told apart without colour, legends beside the data,
tick labels without offsets. Shared by `reports.figures`, `reports.power` and `reports.codesign`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, ScalarFormatter

from reports.frames import column

__all__ = [
    "MARKERS",
    "LINESTYLES",
    "HATCHES",
    "marker",
    "linestyle",
    "hatch",
    "legend_outside",
    "plain_ticks",
    "style_series",
    "category_ticks",
    "numbers",
    "log_if_wide",
    "new_figure",
    "ordered",
    "category_key",
    "Frame",
]

Frame = Sequence[Mapping[str, Any]]

#: Filled shapes first: they stay distinct in greyscale print and at 4 pt.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 2)))
HATCHES = ("", "////", "....", "xxxx", "\\\\\\\\", "++++", "oooo", "----", "||||", "OO")


def marker(i: int) -> str:
    return MARKERS[i % len(MARKERS)]


def linestyle(i: int) -> Any:
    return LINESTYLES[i % len(LINESTYLES)]


def hatch(i: int) -> str:
    return HATCHES[i % len(HATCHES)]


def style_series(i: int) -> dict[str, Any]:
    """Colour and marker of the i-th series: both change, so print in grey still separates them."""
    return {"color": f"C{i % 10}", "marker": marker(i)}


def legend_outside(
    ax: Axes,
    *,
    title: str | None = None,
    handles: Sequence[Any] | None = None,
    labels: Sequence[str] | None = None,
    below: bool = False,
) -> Legend | None:
    """The axes' legend to the right of the data area, top-aligned, or (`below`) under the whole
    figure in columns, for long entries in a narrow figure; constrained layout makes room."""
    if handles is None or labels is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    if below:
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        return figure.legend(handles, labels, title=title, loc="outside lower center", ncols=2)
    # Anchored at the axes' edge with the gap in font units (not axes fractions), so the layout
    # reaches its fixed point in one pass and re-saving a figure gives the same bytes.
    return ax.legend(
        handles,
        labels,
        title=title,
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        borderaxespad=0.8,
        alignment="left",
    )


def category_ticks(ax: Axes, texts: Sequence[str], *, room_chars: int = 30) -> None:
    """Category names under the x axis, slanted only when together they are too wide to sit
    level (about `room_chars` characters across a column-wide axis)."""
    crowded = sum(len(t) for t in texts) > room_chars
    ax.set_xticks(
        range(len(texts)), list(texts), rotation=30 if crowded else 0, ha="right" if crowded else "center"
    )


def plain_ticks(fig: Figure) -> Figure:
    """No ``1e10`` offset or scientific notation on linear axes: values are scaled to their unit
    first (`reports.labels.scaled`), so plain numbers read right."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, ScalarFormatter):
                formatter.set_useOffset(False)
                formatter.set_scientific(False)
    return fig


def numbers(frame: Frame, name: str) -> np.ndarray:
    """A column as floats (None -> NaN); a clear error names a non-numeric column."""
    values = column(frame, name)
    try:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"column {name!r} must be numeric, got {values[:3]!r}...") from None


def log_if_wide(ax: Axes, axis: str, values: np.ndarray, ratio: float = 100.0) -> bool:
    """Log scale when positive values span more than `ratio`: design spaces span orders of
    magnitude, and a linear axis would crush most points into a corner."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > ratio:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        return True
    return False


def log_y_if_wide(ax: Axes, values: np.ndarray) -> bool:
    """A log y axis when the values span a decade or more, ticked at 1-2-5 in plain numbers (no
    exponents, no minor labels): ratios and figures across array sizes read directly."""
    if not log_if_wide(ax, "y", values, ratio=10.0):
        return False
    ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    return True


def new_figure() -> tuple[Figure, Axes]:
    fig = Figure(layout="constrained")
    return fig, fig.add_subplot()


def ordered(values: Sequence[Any]) -> list[Any]:
    """Distinct values in order of first appearance."""
    return list(dict.fromkeys(values))


def category_key(value: Any) -> tuple:
    """Numbers (in numeric order) before strings: 8 < 16 < 128, not "128" < "16"."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
