"""Power-state timeline and buffer occupancy of one ResNet-18 block, from an event-mode trace.

    PYTHONPATH=. python -m reports.studies.power_timeline [--out-dir out/studies] [--input-size 224]

Writes power_timeline.pdf/.png/.csv. The block (layer1.0: conv1, conv2, add) runs on
scalesim_32x32 with gating policies switched on, so sleep and wake-ups are visible.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelsim.arch.hardware import PowerPolicy, load_hardware
from accelsim.timing.simulate import simulate
from reports.power import power_timeline, trace_frame
from reports.save import save
from reports.style import DOUBLE_COLUMN, paper_style
from workloads.network import Network
from workloads.zoo import get_network

BLOCK = ("layer1.0.conv1", "layer1.0.conv2", "layer1.0.add")
GATING = {
    "power.pe_array": PowerPolicy("gate_after", idle_cycles_to_gate=32, wake_latency_cycles=10),
    "power.buffers": PowerPolicy("gate_after", idle_cycles_to_gate=64, wake_latency_cycles=4),
    "power.dram": PowerPolicy("gate_after", idle_cycles_to_gate=256, wake_latency_cycles=40),
}


def block_frame(input_size: int = 224, hardware: str = "scalesim_32x32") -> list[dict[str, Any]]:
    """Tidy rows of the block's trace (`reports.power.trace_frame`)."""
    net = get_network("resnet18", input_hw=(input_size, input_size))
    block = Network.sequential("resnet18.layer1.0", [net[name] for name in BLOCK])
    hw = load_hardware(hardware)
    for path, policy in GATING.items():
        hw = hw.replace(path, policy)
    return trace_frame(simulate(block, hw, mode="event", trace=True).trace)


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="out/studies")
    parser.add_argument("--input-size", type=int, default=224)
    args = parser.parse_args(argv)
    frame = block_frame(args.input_size)
    with paper_style(DOUBLE_COLUMN, aspect=0.5):
        return save(power_timeline(frame), frame, Path(args.out_dir) / "power_timeline")


if __name__ == "__main__":
    main()
