"""Study: weight-, output- and input-stationary dataflows across the zoo networks.

    python -m reports.studies.dataflow_comparison --out figures/dataflows [--toy] [--hardware PRESET]

Writes `dataflow_latency` and `dataflow_energy` (grouped bars, relative to weight-stationary),
each as PDF, PNG and CSV; results are kept in `<out>/dataflow_comparison.sqlite`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from accelsim.arch.dataflow import DATAFLOWS
from accelsim.arch.hardware import load_hardware
from accelsim.dse import Point, explore, make_executor
from reports import figures, frames
from reports.save import save
from reports.style import DOUBLE_COLUMN, paper_style

FULL_NETWORKS = ("alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "bert_base_encoder")
TOY_NETWORKS = ("lenet5", "mlp")


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--toy", action="store_true", help="two small networks (seconds)")
    parser.add_argument("--hardware", default="scalesim_32x32", help="base preset (its dataflow is varied)")
    parser.add_argument("--workers", type=int, default=None, help="process-pool workers (default: all cores)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    base = load_hardware(args.hardware)
    networks = TOY_NETWORKS if args.toy else FULL_NETWORKS
    points = [Point(net, base.replace("pe.dataflow", df)) for net in networks for df in DATAFLOWS]
    executor = make_executor("serial") if args.toy else make_executor("process", workers=args.workers)
    store = args.out / "dataflow_comparison.sqlite"
    explore(points, executor=executor, store=store)
    order = {(p.network, p.hardware.pe.dataflow): i for i, p in enumerate(points)}
    frame = sorted(
        frames.from_store(store), key=lambda r: order.get((r["network"], r["pe.dataflow"]), len(order))
    )
    frame = [r for r in frame if r["network"] in networks and r["hardware"] == base.name]
    written = []
    with paper_style(DOUBLE_COLUMN, aspect=0.3):
        for value, stem in (("cycles", "dataflow_latency"), ("energy_pj", "dataflow_energy")):
            plotted = frames.select(frame, ["network", "pe.dataflow", value])
            fig = figures.grouped_bars(plotted, "network", "pe.dataflow", value, normalise_to="ws")
            written += save(fig, plotted, args.out / stem)
    return written


if __name__ == "__main__":
    main()
