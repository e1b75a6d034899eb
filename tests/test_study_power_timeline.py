"""The power-timeline study at toy size: files written, and the figure plots the trace's data."""

from reports.labels import scaled, value_label
from reports.power import power_timeline
from reports.studies.power_timeline import block_frame, main

# Written out independently of reports.labels: cycles per unit of the time axis.
CYCLES = {"cycles": 1.0, "kcycles": 1e3, "Mcycles": 1e6}
BYTES = {"B": 1, "KiB": 1024, "MiB": 1024**2}


def _unit(label: str) -> str:
    return label.rsplit("(", 1)[1].rstrip(")")


def test_study_writes_pdf_png_and_plots_the_trace(tmp_path):
    paths = main(["--out-dir", str(tmp_path), "--input-size", "16"])
    assert {p.suffix for p in paths} >= {".pdf", ".png", ".csv"} and all(p.stat().st_size for p in paths)

    frame = block_frame(16)
    fig = power_timeline(frame)
    lanes_ax, occupancy_ax = fig.axes[:2]
    names = ["pe_array", "ifmap_sram", "filter_sram", "ofmap_sram", "dram"]
    assert [t.get_text() for t in lanes_ax.get_yticklabels()] == [
        "PE array",
        "ifmap SRAM",
        "filter SRAM",
        "ofmap SRAM",
        "DRAM",
    ]
    states = {r["state"] for r in frame if r["kind"] == "power"}
    assert {"active", "idle", "sleep"} <= states  # gating is on: something sleeps
    assert {t.get_text() for t in lanes_ax.get_legend().get_texts()} == states
    per_cycle = CYCLES[_unit(occupancy_ax.get_xlabel())]
    # Each lane's bars are exactly that component's power intervals.
    for lane, component in enumerate(names):
        spans = sorted(
            (r["start_cycles"], r["end_cycles"] - r["start_cycles"])
            for r in frame
            if r["kind"] == "power" and r["component"] == component
        )
        plotted = sorted(
            (round(v[:, 0].min() * per_cycle, 6), round((v[:, 0].max() - v[:, 0].min()) * per_cycle, 6))
            for coll in lanes_ax.collections
            if abs(coll.get_paths()[0].vertices[:, 1].mean() - lane) < 0.5
            for v in (path.vertices for path in coll.get_paths())
        )
        assert plotted == [(float(a), float(b)) for a, b in spans], component
    lines = {
        line.get_label(): line for line in occupancy_ax.get_lines() if not line.get_label().startswith("_")
    }
    assert set(lines) == {value_label("component", b) for b in ("ifmap_sram", "filter_sram", "ofmap_sram")}
    per_byte = BYTES[_unit(occupancy_ax.get_ylabel())]
    held = [r["bytes"] for r in frame if r["kind"] == "occupancy" and r["component"] == "ifmap_sram"]
    assert [v * per_byte for v in lines["ifmap SRAM"].get_ydata()] == held
    assert occupancy_ax.get_ylabel().startswith("Occupancy (")
    assert occupancy_ax.get_xlabel() == scaled("time_cycles", [r["start_cycles"] for r in frame]).label
    # Told apart without colour: hatches per state, line styles per buffer.
    assert len({c.get_hatch() for c in lanes_ax.collections}) == len(states)
    assert len({line.get_linestyle() for line in lines.values()}) == len(lines)
