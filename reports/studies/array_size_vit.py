"""Study: ViT-B/16 on square arrays 8x8 .. 256x256 with fixed buffers -> latency, energy, EDP (, area).

    PYTHONPATH=. python -m reports.studies.array_size_vit --out figures/array_size_vit [--toy]

The SCALE-Sim v3 paper (Raj et al., ISPASS 2025, arXiv:2504.15377, abstract) reports on ViT-base that
128x128 is 6.53x faster than 32x32, 32x32 is 2.86x more energy-efficient, and 64x64 has the best EDP.
This study runs the same sweep on accelsim as it is, tuning nothing: the base is the
``scalesim_32x32`` preset (SCALE-Sim's default configuration: 64 KiB ifmap, filter and ofmap SRAMs,
64 B/cycle DRAM, int8, 1 GHz, Horowitz 45 nm energies), only ``pe.rows = pe.cols`` change, for the
weight- and output-stationary dataflows, in the analytical mode.

Writes ``array_size_vit`` (PDF, PNG and the plotted CSV: one row per (dataflow, array size)) and
``array_size_vit_verdict.md`` (the three claims, measured). ``--toy`` runs a 1-block ViT at 32x32
input on 8..32 arrays in seconds.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from accelsim.arch.hardware import Hardware, load_hardware
from accelsim.timing.simulate import simulate
from reports.decor import legend_outside, linestyle, log_y_if_wide, plain_ticks, style_series
from reports.labels import scaled, value_label
from reports.save import save
from reports.style import DOUBLE_COLUMN, paper_style
from workloads.zoo import get_network

SIZES = (8, 16, 32, 64, 128, 256)
TOY_SIZES = (8, 16, 32)
TOY_NETWORK: dict[str, Any] = {"input_hw": 32, "layers": 1}
DATAFLOWS = ("ws", "os")
BASE_PRESET = "scalesim_32x32"
#: The paper's reference points: speed of LARGE over SMALL, energy efficiency of SMALL over LARGE.
SMALL, LARGE = 32, 128
PANELS = ("cycles", "energy_pj", "edp_j_s", "area_mm2")


def sweep_hardware(base: Hardware, size: int, dataflow: str) -> Hardware:
    return base.replace("pe.rows", size).replace("pe.cols", size).replace("pe.dataflow", dataflow)


def sweep(sizes: Sequence[int], network_params: Mapping[str, Any], *, base: str = BASE_PRESET) -> list[dict]:
    """One row per (dataflow, size): cycles, seconds, energy (dynamic and leakage), EDP, DRAM bytes,
    utilisation, and ``area_mm2`` where the model reports area."""
    network = get_network("vit_b16", **network_params)
    base_hw = load_hardware(base)
    rows = []
    for dataflow in DATAFLOWS:
        for size in sizes:
            report = simulate(network, sweep_hardware(base_hw, size, dataflow), mode="analytical")
            row = {
                "pe.dataflow": dataflow,
                "pe.rows": size,
                "cycles": report.cycles,
                "seconds": report.seconds,
                "energy_pj": report.energy_pj,
                "leakage_energy_pj": sum(report.leakage_energy_pj.values()),
                **_dynamic_by_part(report.dynamic_energy_pj),
                "edp_j_s": report.edp_j_s,
                "dram_bytes": sum(layer.dram_bytes for layer in report.layers),
                "utilisation": report.utilisation,
            }
            area = getattr(report, "area_mm2", None)
            if area is not None:
                row["area_mm2"] = float(area)
            rows.append(row)
    return rows


def _dynamic_by_part(energy_pj: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """Dynamic energy of DRAM, the buffers, the MACs and the rest of the array (clock, forwarding,
    accumulation) and the vector unit: where the energy of a size goes."""
    parts = dict.fromkeys(
        ("dram_energy_pj", "sram_energy_pj", "mac_energy_pj", "array_energy_pj", "vector_energy_pj"), 0.0
    )
    for (component, action), pj in energy_pj.items():
        if component == "dram":
            part = "dram_energy_pj"
        elif component == "pe_array":
            part = "mac_energy_pj" if action.startswith("mac") else "array_energy_pj"
        elif component == "vector_unit":
            part = "vector_energy_pj"
        else:
            part = "sram_energy_pj"
        parts[part] += pj
    return parts


def verdict(frame: Sequence[Mapping[str, Any]], dataflow: str) -> dict[str, Any]:
    """The paper's three claims on one dataflow's rows (which must include SMALL and LARGE)."""
    by_size = {r["pe.rows"]: r for r in frame if r["pe.dataflow"] == dataflow}
    small, large = by_size[SMALL], by_size[LARGE]
    best_edp = min(by_size.values(), key=lambda r: r["edp_j_s"])["pe.rows"]
    speedup = small["cycles"] / large["cycles"]
    efficiency = large["energy_pj"] / small["energy_pj"]
    return {
        "dataflow": dataflow,
        "speedup_large_over_small": speedup,
        "efficiency_small_over_large": efficiency,
        "best_edp_size": best_edp,
        "faster_at_large": speedup > 1.0,
        "more_efficient_at_small": efficiency > 1.0,
        "best_edp_between": SMALL < best_edp < LARGE,
    }


def verdict_markdown(verdicts: Sequence[Mapping[str, Any]]) -> str:
    yes = {True: "reproduces", False: "does not reproduce"}
    head = (
        f"| dataflow | {LARGE}x{LARGE} speedup over {SMALL}x{SMALL} (paper 6.53x) "
        f"| {SMALL}x{SMALL} energy efficiency over {LARGE}x{LARGE} (paper 2.86x) "
        "| best EDP (paper 64x64) |"
    )
    lines = [head, "|---|---|---|---|"]
    for v in verdicts:
        lines.append(
            f"| {v['dataflow']} "
            f"| {v['speedup_large_over_small']:.2f}x ({yes[v['faster_at_large']]}) "
            f"| {v['efficiency_small_over_large']:.2f}x ({yes[v['more_efficient_at_small']]}) "
            f"| {v['best_edp_size']}x{v['best_edp_size']} ({yes[v['best_edp_between']]}) |"
        )
    return "\n".join(lines) + "\n"


def array_size_figure(frame: Sequence[Mapping[str, Any]]) -> Figure:
    """One panel per metric (cycles, energy, EDP, and area when present) against array side, a line per
    dataflow; log-log, since both axes span orders of magnitude."""
    panels = [p for p in PANELS if all(p in r for r in frame)]
    fig = Figure(layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    dataflows = list(dict.fromkeys(r["pe.dataflow"] for r in frame))
    sizes = sorted({r["pe.rows"] for r in frame})
    for ax, metric in zip(axes, panels):
        unit = scaled(metric, [r[metric] for r in frame])
        for i, dataflow in enumerate(dataflows):
            rows = sorted((r for r in frame if r["pe.dataflow"] == dataflow), key=lambda r: r["pe.rows"])
            ax.plot(
                [r["pe.rows"] for r in rows],
                [r[metric] * unit.factor for r in rows],
                linestyle=linestyle(i),
                label=value_label("pe.dataflow", dataflow),
                **style_series(i),
            )
        ax.set_xscale("log", base=2)
        values = np.array([r[metric] * unit.factor for r in frame], dtype=float)
        log_y_if_wide(ax, values)
        ax.set_xticks(sizes, [str(s) for s in sizes], rotation=45)
        ax.set_xlabel("Array side (PEs)")
        ax.set_ylabel(unit.label)
    legend_outside(axes[-1], title="Dataflow")
    return plain_ticks(fig)


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--toy", action="store_true", help="1-block ViT at 32x32 input, arrays 8..32 (seconds)"
    )
    args = parser.parse_args(argv)
    frame = sweep(TOY_SIZES, TOY_NETWORK) if args.toy else sweep(SIZES, {})
    args.out.mkdir(parents=True, exist_ok=True)
    with paper_style(DOUBLE_COLUMN, aspect=0.3):
        written = save(array_size_figure(frame), frame, args.out / "array_size_vit")
    if not args.toy:
        path = args.out / "array_size_vit_verdict.md"
        path.write_text(verdict_markdown([verdict(frame, df) for df in DATAFLOWS]))
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in main():
        print(written_path)
