"""reports: tidy frames, figures checked by their data and labels, paper style, save, studies."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from report_stores import small_grid_store

from accelsim import load_hardware, simulate
from accelsim.dse import Store
from reports import figures, frames
from reports.labels import value_label
from reports.save import save
from reports.style import COLUMN, DOUBLE_COLUMN, paper_style

ROOT = Path(__file__).resolve().parents[1]
# Unit prefixes written out independently of reports.labels: value in the label's unit x factor = stored.
SECONDS = {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "ns": 1e-9}
JOULES_IN_PJ = {"J": 1e12, "mJ": 1e9, "µJ": 1e6, "nJ": 1e3, "pJ": 1.0}
CYCLES = {"cycles": 1.0, "kcycles": 1e3, "Mcycles": 1e6, "Gcycles": 1e9}


def unit_of(label: str) -> str:
    """The unit in a label's trailing parentheses: "Energy (mJ)" -> "mJ"."""
    assert label.endswith(")"), label
    return label.rsplit("(", 1)[1][:-1]


@pytest.fixture(scope="module")
def hardware():
    return load_hardware("scalesim_32x32")


@pytest.fixture(scope="module")
def report(hardware):
    return simulate("lenet5", hardware)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, hardware):
    return small_grid_store(tmp_path_factory.mktemp("store") / "s.sqlite", hardware)


# ---- frames -----------------------------------------------------------------------------
def test_report_frame_has_stable_columns_and_roofline_data(report, hardware):
    frame = frames.from_report(report, hardware)
    assert len(frame) == len(report.layers)
    assert list(frame[0])[:4] == ["network", "hardware", "mode", "layer"]
    assert all(list(row) == list(frame[0]) for row in frame)
    row = frame[0]
    assert row["peak_mac_per_cycle"] == 1024 and row["dram_bandwidth_bytes_per_cycle"] == 64.0
    assert row["operational_intensity_mac_per_byte"] == pytest.approx(row["macs"] / row["dram_bytes"])
    assert row["throughput_mac_per_cycle"] == pytest.approx(row["macs"] / row["cycles"])


def test_energy_frame_sums_to_the_report_energy(report):
    frame = frames.energy_frame(report)
    assert {"layer", "component", "action", "count", "energy_pj"} <= set(frame[0])
    assert sum(r["energy_pj"] for r in frame) == pytest.approx(report.energy_pj)


def test_store_frame_aggregate_and_where(store_path):
    frame = frames.from_store(store_path)
    assert len(frame) == 12 and list(frame[0])[:2] == ["point_key", "network"]
    ws = frames.where(frame, **{"pe.dataflow": "ws"})
    assert len(ws) == 6
    cells = frames.aggregate(frame, ["pe.rows", "network"], "cycles", how="min")
    assert [(c["pe.rows"], c["network"], c["n_points"]) for c in cells] == [
        (8, "lenet5", 2),
        (8, "mlp", 2),
        (16, "lenet5", 2),
        (16, "mlp", 2),
        (32, "lenet5", 2),
        (32, "mlp", 2),
    ]
    assert cells[0]["cycles"] == min(
        r["cycles"] for r in frame if r["pe.rows"] == 8 and r["network"] == "lenet5"
    )
    with pytest.raises(KeyError, match="no column 'nope'"):
        frames.where(frame, nope=1)
    assert frames.to_columns(cells)["pe.rows"] == [8, 8, 16, 16, 32, 32]


def test_trace_frame_accepts_tuples_and_mappings():
    frame = frames.from_trace(
        [("pe_array", "active", 0, 10), {"component": "dram", "state": "idle", "start": 10, "end": 25}]
    )
    assert frame[1] == {"component": "dram", "state": "idle", "start_cycles": 10, "end_cycles": 25}
    with pytest.raises(ValueError, match="row 0: end 1 is before start 5"):
        frames.from_trace([("pe_array", "active", 5, 1)])


# ---- figures ----------------------------------------------------------------------------
def test_pareto_front_is_the_non_dominated_set():
    rows = [
        {"t_s": 1, "e_pj": 5},
        {"t_s": 2, "e_pj": 3},
        {"t_s": 3, "e_pj": 4},
        {"t_s": 4, "e_pj": 1},
        {"t_s": 2, "e_pj": 6},
    ]
    front = figures.pareto_front(rows, "t_s", "e_pj", minimise=(True, True))
    assert [(r["t_s"], r["e_pj"]) for r in front] == [(1, 5), (2, 3), (4, 1)]
    assert [
        (r["t_s"], r["e_pj"]) for r in figures.pareto_front(rows, "t_s", "e_pj", minimise=(False, True))
    ] == [(4, 1)]


def test_pareto_figure_plots_all_points_and_highlights_the_front(store_path):
    frame = frames.from_store(store_path)
    fig = figures.pareto(frame, "seconds", "energy_pj")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    x_unit, y_unit = unit_of(ax.get_xlabel()), unit_of(ax.get_ylabel())
    assert ax.get_xlabel() == f"Latency ({x_unit})" and ax.get_ylabel() == f"Energy ({y_unit})"
    (points,) = ax.collections
    offsets = points.get_offsets()
    assert len(offsets) == 12
    # The plotted numbers are the frame's, converted to the units the labels name.
    assert list(offsets[:, 0] * SECONDS[x_unit]) == pytest.approx([r["seconds"] for r in frame])
    assert list(offsets[:, 1] * JOULES_IN_PJ[y_unit]) == pytest.approx([r["energy_pj"] for r in frame])
    (front_line,) = [line for line in ax.get_lines() if line.get_label() == "Pareto front"]
    front = figures.pareto_front(frame, "seconds", "energy_pj", minimise=(True, True), skip_missing=True)
    front_seconds = list(np.array(front_line.get_xdata()) * SECONDS[x_unit])
    assert front_seconds == pytest.approx([r["seconds"] for r in front])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["design points", "Pareto front"]


def test_energy_breakdown_stacks_actions_per_component(report):
    frame = frames.energy_frame(report)
    fig = figures.energy_breakdown(frame)
    ax = fig.axes[0]
    actions = list(dict.fromkeys(r["action"] for r in frame))
    components = list(dict.fromkeys(r["component"] for r in frame))
    assert [c.get_label() for c in ax.containers] == [value_label("action", a) for a in actions]
    assert [t.get_text() for t in ax.get_xticklabels()] == [value_label("component", c) for c in components]
    assert "PE array" in [t.get_text() for t in ax.get_xticklabels()]
    scale = JOULES_IN_PJ[unit_of(ax.get_ylabel())]
    heights = sum(np.array([bar.get_height() for bar in c]) for c in ax.containers)
    assert heights.sum() * scale == pytest.approx(report.energy_pj)


def test_roofline_places_layers_under_both_roofs(report, hardware):
    frame = frames.from_report(report, hardware)
    fig = figures.roofline(frame)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Operational intensity (MAC/byte)"
    assert ax.get_ylabel() == "Throughput (MAC/cycle)"
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["compute roof (1024 MAC/cycle)", "bandwidth roof (64 bytes/cycle)"]
    placed = np.concatenate([c.get_offsets() for c in ax.collections])
    assert len(placed) == sum(1 for r in frame if r["operational_intensity_mac_per_byte"])
    for oi, tp in placed:  # the model must respect its own roofs
        assert tp <= min(1024, 64 * oi) * (1 + 1e-9)
    with pytest.raises(ValueError, match="dram_bandwidth_bytes_per_cycle"):
        figures.roofline(frames.from_report(report))


def test_heatmap_cells_hold_the_values(store_path):
    cells = frames.aggregate(frames.from_store(store_path), ["pe.rows", "network"], "cycles")
    fig = figures.heatmap(cells, "pe.rows", "network", "cycles")
    ax, colorbar_ax = fig.axes
    data = ax.get_images()[0].get_array()
    assert data.shape == (2, 3)
    scale = CYCLES[unit_of(colorbar_ax.get_ylabel())]
    assert data[0, 0] * scale == pytest.approx(cells[0]["cycles"]) and data[1, 2] * scale == pytest.approx(
        cells[-1]["cycles"]
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["8", "16", "32"]
    assert ax.get_xlabel() == "PE rows" and colorbar_ax.get_ylabel().startswith("Latency (")
    with pytest.raises(ValueError, match="aggregate the frame first"):
        figures.heatmap(frames.from_store(store_path), "pe.rows", "network", "cycles")


def test_grouped_bars_normalise_to_a_group():
    frame = [
        {"network": n, "pe.dataflow": d, "cycles": c}
        for n, d, c in [("a", "ws", 10), ("a", "os", 5), ("b", "ws", 4), ("b", "os", 8)]
    ]
    ax = figures.grouped_bars(frame, "network", "pe.dataflow", "cycles", normalise_to="ws").axes[0]
    assert [[bar.get_height() for bar in c] for c in ax.containers] == [[1.0, 1.0], [0.5, 2.0]]
    assert ax.get_ylabel() == "Latency relative to WS dataflow"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["WS", "OS"]


def test_speedup_curves_show_ideal_and_achieved():
    frame = [
        {"sparsity": s, "ideal_speedup": 1 / (1 - s), "speedup": 1 + s, "granularity": g}
        for g in ("element", "block")
        for s in (0.0, 0.5, 0.75)
    ]
    ax = figures.speedup_curves(frame, group="granularity").axes[0]
    lines = ax.get_lines()
    achieved = {line.get_label(): line for line in lines if not line.get_label().startswith("_")}
    assert set(achieved) == {"element", "block"}
    assert list(achieved["block"].get_ydata()) == [1.0, 1.5, 1.75]
    ideal = [line for line in lines if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in ideal] == [[1.0, 2.0, 4.0]] * 2
    # Each group's ideal has that group's marker, hollow, so even a lone point shows its ideal.
    assert {line.get_marker() for line in ideal} == {line.get_marker() for line in achieved.values()}
    assert all(line.get_markerfacecolor() == "none" for line in ideal)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["element", "block", "achieved", "ideal"]
    assert ax.get_xlabel() == "Sparsity (fraction pruned)" and ax.get_ylabel() == "Speedup over dense (×)"


def test_timeline_lanes_and_states():
    frame = frames.from_trace(
        [
            ("pe_array", "active", 0, 10),
            ("pe_array", "idle", 10, 12),
            ("dram", "active", 0, 4),
            ("dram", "sleep", 4, 12),
        ]
    )
    ax = figures.timeline(frame).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["PE array", "DRAM"]
    assert ax.get_xlabel() == "Time (cycles)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["active", "idle", "sleep"]
    spans = sorted(tuple(map(tuple, c.get_paths()[0].vertices[:1])) for c in ax.collections)
    assert len(ax.collections) == 4 and spans


def test_axis_labels_carry_scaled_units():
    assert figures.axis_label("energy_pj", [3.0e9]) == "Energy (mJ)"
    assert figures.axis_label("buffers.glb.size_bytes", [256 * 1024]) == "Global buffer buffer (KiB)"
    assert figures.axis_label("edp_j_s", [2e-5]) == "Energy-delay product (µJ·s)"
    assert figures.axis_label("stall_dram_bandwidth_cycles", [5e6]) == "Stall: DRAM bandwidth (Mcycles)"


# ---- style and save ---------------------------------------------------------------------
def test_paper_style_is_scoped_and_sets_width():
    import matplotlib

    before = dict(matplotlib.rcParams)
    with paper_style(DOUBLE_COLUMN):
        fig = figures.scatter([{"a": 1, "b": 2}], "a", "b")
        assert matplotlib.rcParams["font.size"] == 8
    assert tuple(fig.get_size_inches()) == pytest.approx((DOUBLE_COLUMN, DOUBLE_COLUMN * 0.618))
    assert dict(matplotlib.rcParams) == before
    assert COLUMN == 3.5


def test_importing_reports_leaves_rcparams_and_pyplot_alone():
    code = (
        "import matplotlib; before = dict(matplotlib.rcParams); import reports, reports.studies.array_buffer_sweep, "
        "reports.studies.dataflow_comparison, sys; assert dict(matplotlib.rcParams) == before; "
        "assert 'matplotlib.pyplot' not in sys.modules; print('ok')"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "MPLBACKEND": "qtagg"},
    )
    assert out.stdout.strip() == "ok", out.stderr


def test_save_writes_pdf_png_and_the_plotted_csv(tmp_path):
    frame = [{"x_s": 1.0, "y_pj": 2.0}, {"x_s": 2.0, "y_pj": 1.0}]
    with paper_style():
        fig = figures.pareto(frame, "x_s", "y_pj")
    paths = save(fig, frame, tmp_path / "sub" / "fig")
    assert [p.name for p in paths] == ["fig.pdf", "fig.png", "fig.csv"]
    assert paths[0].read_bytes().startswith(b"%PDF") and paths[1].read_bytes()[:4] == b"\x89PNG"
    assert paths[2].read_text() == "x_s,y_pj\n1.0,2.0\n2.0,1.0\n"
    first = paths[0].read_bytes()
    save(fig, frame, tmp_path / "sub" / "fig")
    assert paths[0].read_bytes() == first  # no timestamps: reruns are byte-identical


# ---- studies ----------------------------------------------------------------------------
def test_array_buffer_study_runs_at_toy_size(tmp_path):
    from reports.studies import array_buffer_sweep

    written = array_buffer_sweep.main(["--out", str(tmp_path), "--toy"])
    assert {p.name for p in written} >= {"heatmap_edp.png", "heatmap_edp.csv", "pareto_latency_energy.pdf"}
    header, *rows = (tmp_path / "heatmap_edp.csv").read_text().splitlines()
    assert header == "pe.rows,buffers.ifmap.size_bytes,edp_j_s,n_points" and len(rows) == 4
    assert {"heatmap_edap.csv", "pareto_area_efficiency.csv"} <= {p.name for p in written}
    header, *rows = (tmp_path / "pareto_area_efficiency.csv").read_text().splitlines()
    # Larger arrays cost area: the points do not all share one area, and each has a positive one.
    areas = {float(row.split(",")[header.split(",").index("area_mm2")]) for row in rows}
    assert len(areas) > 1 and min(areas) > 0
    with Store(tmp_path / "array_buffer_sweep.sqlite") as store:
        assert len(store) == 12  # 2 arrays x 2 buffers x 3 dataflows


def test_dataflow_study_runs_at_toy_size(tmp_path):
    from reports.studies import dataflow_comparison

    dataflow_comparison.main(["--out", str(tmp_path), "--toy"])
    lines = (tmp_path / "dataflow_latency.csv").read_text().splitlines()
    assert lines[0] == "network,pe.dataflow,cycles" and len(lines) == 1 + 2 * 3
    assert (tmp_path / "dataflow_energy.png").stat().st_size > 0
