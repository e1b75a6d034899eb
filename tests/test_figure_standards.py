"""What a reviewer checks on every figure: readable labels with units (no internal field names),
no offset or exponent text on linear axes, series that differ in marker, line style or hatch and
not only in colour, and legends that sit outside the data area."""

import re

import numpy as np
import pytest
from hypothesis import given, strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from report_stores import small_grid_store

from accelsim import load_hardware, simulate
from reports import codesign, figures, frames
from reports.labels import axis_label, scaled, value_label
from reports.power import power_timeline, trace_frame
from reports.style import COLUMN, paper_style

FIELD_NAME = re.compile(r"_|[a-z]\.[a-z]")  # snake_case or dotted paths: internal names


@pytest.fixture(scope="module")
def hardware():
    return load_hardware("scalesim_32x32")


@pytest.fixture(scope="module")
def store_frame(tmp_path_factory, hardware):
    return frames.from_store(small_grid_store(tmp_path_factory.mktemp("standards") / "s.sqlite", hardware))


def _speedup_rows():
    return [
        {
            "hardware": h,
            "granularity": g,
            "sparsity": s,
            "ideal_speedup": 1 / (1 - s),
            "speedup": 1 + s / (2 if g == "block" else 1),
        }
        for h in ("edge", "cloud")
        for g in ("unstructured", "block", "nm")
        for s in (0.0, 0.5, 0.9)
        if g != "nm" or s == 0.5
    ]


def _builders(store_frame, hardware):
    report = simulate("lenet5", hardware, mode="event", trace=True)
    one_size = frames.where(store_frame, **{"pe.rows": 16})
    return {
        "pareto": lambda: figures.pareto(store_frame, "seconds", "energy_pj", group="pe.dataflow"),
        "scatter": lambda: figures.scatter(store_frame, "pe_count", "cycles", group="network"),
        "heatmap": lambda: figures.heatmap(
            frames.aggregate(store_frame, ["pe.rows", "network"], "edp_j_s"), "pe.rows", "network", "edp_j_s"
        ),
        "energy": lambda: figures.energy_breakdown(frames.energy_frame(report)),
        "bars": lambda: figures.grouped_bars(one_size, "network", "pe.dataflow", "energy_pj"),
        "relative bars": lambda: figures.grouped_bars(
            one_size, "network", "pe.dataflow", "cycles", normalise_to="ws"
        ),
        "speedup": lambda: figures.speedup_curves(
            [r for r in _speedup_rows() if r["hardware"] == "edge"], group="granularity"
        ),
        "speedup panels": lambda: figures.speedup_panels(
            _speedup_rows(), panel="hardware", group="granularity"
        ),
        "roofline": lambda: figures.roofline(frames.from_report(report, hardware)),
        "timeline": lambda: figures.timeline(
            frames.from_trace(
                [(p.component, p.state, p.start_cycle, p.end_cycle) for p in report.trace.power]
            )
        ),
        "power timeline": lambda: power_timeline(trace_frame(report.trace)),
    }


FIGURES = [
    "pareto",
    "scatter",
    "heatmap",
    "energy",
    "bars",
    "relative bars",
    "speedup",
    "speedup panels",
    "roofline",
    "timeline",
    "power timeline",
]


@pytest.fixture(scope="module")
def drawn(store_frame, hardware):
    out = {}
    with paper_style(COLUMN):
        for name, build in _builders(store_frame, hardware).items():
            fig = build()
            FigureCanvasAgg(fig).draw()
            out[name] = fig
    return out


def _legends(fig: Figure):
    return [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)


@pytest.mark.parametrize("name", FIGURES)
def test_labels_are_readable_and_state_units(drawn, name):
    fig = drawn[name]
    labels = [text for ax in fig.axes for text in (ax.get_xlabel(), ax.get_ylabel()) if text]
    labels += [legend.get_title().get_text() for legend in _legends(fig)]
    assert labels, "a figure without axis labels"
    for text in labels:
        assert not FIELD_NAME.search(text), f"{name}: internal field name in label {text!r}"


@pytest.mark.parametrize("name", FIGURES)
def test_no_offset_or_exponent_text(drawn, name):
    for ax in drawn[name].axes:
        for axis in (ax.xaxis, ax.yaxis):
            offset = axis.get_offset_text().get_text()
            assert offset == "", f"{name}: offset {offset!r}"


def _signature(handle) -> tuple:
    """What tells a legend entry apart when printed in grey: marker shape, line style, fill, hatch."""
    if isinstance(handle, Line2D):
        hollow = handle.get_markerfacecolor() == "none"
        return ("line", handle.get_marker(), str(handle.get_linestyle()), hollow)
    if isinstance(handle, PathCollection):
        return ("points", tuple(np.round(handle.get_paths()[0].vertices, 3).ravel()))
    if isinstance(handle, Patch):
        return ("patch", handle.get_hatch() or "")
    raise AssertionError(f"unexpected legend handle {handle!r}")


@pytest.mark.parametrize("name", [n for n in FIGURES if n != "heatmap"])
def test_series_differ_without_colour(drawn, name):
    legends = _legends(drawn[name])
    assert legends, f"{name}: no legend"
    for legend in legends:
        signatures = [_signature(h) for h in legend.legend_handles]
        assert len(set(signatures)) == len(signatures), f"{name}: entries differ only in colour: {signatures}"


def _overlap(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


@pytest.mark.parametrize("name", [n for n in FIGURES if n != "heatmap"])
def test_legends_lie_outside_the_data_area(drawn, name):
    fig = drawn[name]
    renderer = fig.canvas.get_renderer()
    data_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    for legend in _legends(fig):
        box = legend.get_window_extent(renderer)
        for ax in data_axes:
            assert _overlap(box, ax.get_window_extent(renderer)) < 1.0, f"{name}: legend over the data"


def test_speedup_panels_draw_every_ideal_the_legend_promises(drawn):
    fig = drawn["speedup panels"]
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "ideal" in texts
    rows = _speedup_rows()
    for ax, hardware in zip(fig.axes, ("edge", "cloud")):
        hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "none"]
        plotted = sorted((x, y) for line in hollow for x, y in zip(line.get_xdata(), line.get_ydata()))
        # Every row's ideal is drawn, including the lone N:M point, which has no line to dash.
        ideal = sorted((r["sparsity"], r["ideal_speedup"]) for r in rows if r["hardware"] == hardware)
        assert plotted == ideal


def test_layer_plan_marks_dense_layers_without_an_empty_legend_entry():
    rows = [
        {"design": d, "layer": layer, "granularity": g, "density": density}
        for d, plan in (
            ("uniform", [("dense", 1.0), ("nm2:4", 0.5)]),
            ("searched", [("dense", 1.0), ("block4x4", 0.1)]),
        )
        for layer, (g, density) in zip(("conv1", "fc1"), plan)
    ]
    fig = codesign._layer_plan_figure(rows)
    ax = fig.axes[0]
    entries = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "dense" not in entries and entries == ["2:4", "block 4×4", "uniform", "searched"]
    assert all(bar.get_height() > 0 for bar in ax.patches if bar.get_width() < 1)
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(["dense", "dense", "2:4", "block 4×4"])  # each bar says its granularity
    assert ax.get_xlim()[0] <= -0.5  # the dense marks of the first layer stay inside the axes


# ---- the label map ------------------------------------------------------------------------
@given(st.floats(min_value=1.0, max_value=1e18))
def test_energy_scales_into_one_to_a_thousand(energy_pj):
    unit = scaled("energy_pj", [energy_pj, energy_pj / 7])
    assert 1.0 - 1e-9 <= energy_pj * unit.factor < 1000.0 * (1 + 1e-9), unit  # pJ .. MJ cover the range


@given(
    st.lists(st.sampled_from(["energy", "pe", "dram", "rows", "size", "glb", "x"]), min_size=1, max_size=4),
    st.sampled_from(["_", "."]),
    st.sampled_from(["", "_pj", "_bytes", "_cycles", "_s", "_mhz"]),
)
def test_no_field_names_reach_a_label(words, joiner, suffix):
    name = joiner.join(words) + suffix
    assert not FIELD_NAME.search(axis_label(name, [123.0])), name


def test_value_labels_spell_out_identifiers_and_keep_names():
    assert value_label("pe.dataflow", "ws") == "WS"
    assert value_label("component", "filter_sram") == "filter SRAM"
    assert value_label("pruning.granularity", "nm") == "N:M"
    assert value_label("buffers.ifmap.size_bytes", 65536) == "64 KiB"
    assert value_label("hardware", "scalesim_32x32") == "scalesim_32x32"  # a preset's name is a name
    assert axis_label("seconds", [0.002]) == "Latency (ms)"
    assert axis_label("cycles", [3e7]) == "Latency (Mcycles)"
