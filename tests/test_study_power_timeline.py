"""The power-timeline study at toy size: files written, and the figure plots the trace's data."""

from reports.studies.power_timeline import block_frame, main, power_timeline_figure


def test_study_writes_pdf_png_and_plots_the_trace(tmp_path):
    paths = main(["--out-dir", str(tmp_path), "--input-size", "16"])
    assert {p.suffix for p in paths} >= {".pdf", ".png", ".csv"} and all(p.stat().st_size for p in paths)

    frame = block_frame(16)
    fig = power_timeline_figure(frame)
    lanes_ax, occupancy_ax = fig.axes[:2]
    components = [t.get_text() for t in lanes_ax.get_yticklabels()]
    assert components == ["pe_array", "ifmap_sram", "filter_sram", "ofmap_sram", "dram"]
    states = {r["state"] for r in frame if r["kind"] == "power"}
    assert {"active", "idle", "sleep"} <= states          # gating is on: something sleeps
    assert set(lanes_ax.get_legend_handles_labels()[1]) == states
    # Each lane's bars are exactly that component's power intervals.
    for lane, component in enumerate(components):
        spans = sorted((r["start_cycles"], r["end_cycles"] - r["start_cycles"]) for r in frame
                       if r["kind"] == "power" and r["component"] == component)
        plotted = sorted(
            (float(p.get_x()), float(p.get_width()))
            for coll in lanes_ax.collections
            if abs(coll.get_paths()[0].vertices[:, 1].mean() - lane) < 0.5
            for p in [type("R", (), {"get_x": lambda s, v=path.vertices: v[:, 0].min(),
                                     "get_width": lambda s, v=path.vertices: v[:, 0].max() - v[:, 0].min()})()
                      for path in coll.get_paths()]
        )
        assert plotted == [(float(a), float(b)) for a, b in spans], component
    lines = {line.get_label(): line for line in occupancy_ax.get_lines() if not line.get_label().startswith("_")}
    assert set(lines) == {"ifmap_sram", "filter_sram", "ofmap_sram"}
    held = [r["bytes"] / 1024 for r in frame if r["kind"] == "occupancy" and r["component"] == "ifmap_sram"]
    assert list(lines["ifmap_sram"].get_ydata()) == held
    assert occupancy_ax.get_ylabel() == "occupancy [KiB]" and occupancy_ax.get_xlabel() == "time [cycles]"
