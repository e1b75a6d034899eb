"""Study: PE-array size x on-chip buffer size for ResNet-50 -> DSE heatmap and Pareto front.

    python -m reports.studies.array_buffer_sweep --out figures/array_buffer [--toy] [--workers N]

Square arrays (rows = cols) against per-operand SRAM sizes (ifmap = filter = ofmap), all three
dataflows; results go to `<out>/array_buffer_sweep.sqlite`, so an interrupted run resumes.
Writes `heatmap_edp` and `heatmap_edap` (energy-delay and energy-delay-area products, best
dataflow per cell), `pareto_latency_energy` and `pareto_area_efficiency` (throughput per mm^2
against energy) (PDF, PNG, CSV).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from accelsim.arch.hardware import load_hardware
from accelsim.dse import Point, explore, make_executor, zipped
from reports import figures, frames
from reports.save import save
from reports.style import COLUMN, paper_style

FULL = {"arrays": [8, 16, 32, 64, 128], "buffers_kib": [16, 32, 64, 128, 256], "input_hw": 224}
TOY = {"arrays": [16, 32], "buffers_kib": [32, 64], "input_hw": 32}
BUFFER_PATHS = ("buffers.ifmap.size_bytes", "buffers.filter.size_bytes", "buffers.ofmap.size_bytes")


def build_points(arrays, buffers_kib, input_hw) -> list[Point]:
    base = load_hardware("scalesim_32x32")
    points = []
    for size, kib, dataflow in itertools.product(arrays, buffers_kib, ("ws", "os", "is")):
        settings = {
            "pe.rows": [size],
            "pe.cols": [size],
            "pe.dataflow": [dataflow],
            **{path: [kib * 1024] for path in BUFFER_PATHS},
        }
        (hardware,) = zipped(base, settings)
        params = {} if input_hw == 224 else {"input_hw": [input_hw, input_hw]}
        points.append(Point("resnet50", hardware, network_params=params))
    return points


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--toy", action="store_true", help="2x2 grid on a 32x32-input ResNet-50 (seconds)")
    parser.add_argument("--workers", type=int, default=None, help="process-pool workers (default: all cores)")
    args = parser.parse_args(argv)
    size = TOY if args.toy else FULL
    args.out.mkdir(parents=True, exist_ok=True)
    executor = make_executor("serial") if args.toy else make_executor("process", workers=args.workers)
    explore(
        build_points(size["arrays"], size["buffers_kib"], size["input_hw"]),
        executor=executor,
        store=args.out / "array_buffer_sweep.sqlite",
    )
    frame = frames.from_store(args.out / "array_buffer_sweep.sqlite")
    written = []
    with paper_style(COLUMN):
        cells = frames.aggregate(frame, ["pe.rows", "buffers.ifmap.size_bytes"], "edp_j_s", how="min")
        written += save(
            figures.heatmap(cells, "pe.rows", "buffers.ifmap.size_bytes", "edp_j_s"),
            cells,
            args.out / "heatmap_edp",
        )
        plotted = frames.select(
            frame, ["seconds", "energy_pj", "pe.dataflow", "pe.rows", "buffers.ifmap.size_bytes", "point_key"]
        )
        written += save(
            figures.pareto(plotted, "seconds", "energy_pj", group="pe.dataflow"),
            plotted,
            args.out / "pareto_latency_energy",
        )
        cells = frames.aggregate(frame, ["pe.rows", "buffers.ifmap.size_bytes"], "edap_j_s_mm2", how="min")
        written += save(
            figures.heatmap(cells, "pe.rows", "buffers.ifmap.size_bytes", "edap_j_s_mm2"),
            cells,
            args.out / "heatmap_edap",
        )
        plotted = frames.select(
            frame,
            [
                "runs_per_s_per_mm2",
                "energy_pj",
                "area_mm2",
                "pe.dataflow",
                "pe.rows",
                "buffers.ifmap.size_bytes",
                "point_key",
            ],
        )
        written += save(
            figures.pareto(
                plotted, "runs_per_s_per_mm2", "energy_pj", minimise=(False, True), group="pe.dataflow"
            ),
            plotted,
            args.out / "pareto_area_efficiency",
        )
    return written


if __name__ == "__main__":
    main()
