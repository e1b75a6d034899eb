"""Power-state timeline and buffer occupancy of one ResNet-18 block, from an event-mode trace.

    PYTHONPATH=. python -m reports.studies.power_timeline [--out-dir out/studies] [--input-size 224]

Writes power_timeline.pdf/.png/.csv. The block (layer1.0: conv1, conv2, add) runs on
scalesim_32x32 with gating policies switched on, so sleep and wake-ups are visible.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Sequence

from matplotlib.figure import Figure

from accelsim.arch.hardware import PowerPolicy, load_hardware
from accelsim.timing.simulate import simulate
from reports.save import save
from workloads.network import Network
from workloads.zoo import get_network

BLOCK = ("layer1.0.conv1", "layer1.0.conv2", "layer1.0.add")
STATE_COLOURS = {"active": "tab:red", "idle": "tab:orange", "sleep": "tab:blue"}
GATING = {
    "power.pe_array": PowerPolicy("gate_after", idle_cycles_to_gate=32, wake_latency_cycles=10),
    "power.buffers": PowerPolicy("gate_after", idle_cycles_to_gate=64, wake_latency_cycles=4),
    "power.dram": PowerPolicy("gate_after", idle_cycles_to_gate=256, wake_latency_cycles=40),
}


def block_frame(input_size: int = 224, hardware: str = "scalesim_32x32") -> list[dict[str, Any]]:
    """Tidy rows of the block's trace: `kind` "power" (component, state, start, end) or
    "occupancy" (component = buffer, start = change point, bytes held from then on)."""
    net = get_network("resnet18", input_hw=(input_size, input_size))
    block = Network.sequential("resnet18.layer1.0", [net[name] for name in BLOCK])
    hw = load_hardware(hardware)
    for path, policy in GATING.items():
        hw = hw.replace(path, policy)
    trace = simulate(block, hw, mode="event", trace=True).trace
    rows = [{"kind": "power", "component": p.component, "state": p.state, "start_cycles": p.start_cycle,
             "end_cycles": p.end_cycle, "bytes": None} for p in trace.power]
    for buffer, changes in trace.occupancy.items():
        rows += [{"kind": "occupancy", "component": buffer, "state": None, "start_cycles": cycle,
                  "end_cycles": None, "bytes": held} for cycle, held in changes]
    rows += [{"kind": "layer_end", "component": name, "state": None, "start_cycles": end,
              "end_cycles": None, "bytes": None} for name, end in zip(trace.layers, trace.layer_end_cycles)]
    return rows


def power_timeline_figure(frame: Sequence[Mapping[str, Any]]) -> Figure:
    """Top: one lane per component, spans coloured by power state. Bottom: bytes held per buffer."""
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    lanes_ax, occupancy_ax = fig.subplots(2, 1, sharex=True, height_ratios=(1.2, 1.0))
    power = [r for r in frame if r["kind"] == "power"]
    components = list(dict.fromkeys(r["component"] for r in power))
    for lane, component in enumerate(components):
        for state, colour in STATE_COLOURS.items():
            spans = [(r["start_cycles"], r["end_cycles"] - r["start_cycles"]) for r in power
                     if r["component"] == component and r["state"] == state]
            if spans:
                lanes_ax.broken_barh(spans, (lane - 0.4, 0.8), facecolors=colour,
                                     label=state if lane == 0 or state not in lanes_ax.get_legend_handles_labels()[1] else None)
    lanes_ax.set_yticks(range(len(components)), components)
    lanes_ax.set_ylabel("component")
    lanes_ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, fontsize="small", frameon=False)
    for buffer in dict.fromkeys(r["component"] for r in frame if r["kind"] == "occupancy"):
        points = [r for r in frame if r["kind"] == "occupancy" and r["component"] == buffer]
        occupancy_ax.step([r["start_cycles"] for r in points], [r["bytes"] / 1024 for r in points],
                          where="post", label=buffer)
    occupancy_ax.set_ylabel("occupancy [KiB]")
    occupancy_ax.set_xlabel("time [cycles]")
    occupancy_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small", frameon=False)
    for r in frame:
        if r["kind"] == "layer_end":
            for ax in (lanes_ax, occupancy_ax):
                ax.axvline(r["start_cycles"], color="grey", linewidth=0.6, linestyle=":")
    return fig


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="out/studies")
    parser.add_argument("--input-size", type=int, default=224)
    args = parser.parse_args(argv)
    frame = block_frame(args.input_size)
    return save(power_timeline_figure(frame), frame, Path(args.out_dir) / "power_timeline")


if __name__ == "__main__":
    main()
