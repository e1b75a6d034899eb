"""Study: ideal vs achieved speedup and energy of pruned ResNet-18 on dense and sparse accelerators.

    PYTHONPATH=. python -m reports.studies.sparsity_speedup --out figures/sparsity [--toy] [--mode event]

Masks are real: magnitude pruning (`pruning.prune`) of He-initialised weights at each sparsity,
unstructured, in 4x4 and 16x16 blocks of the GEMM view, 2:4 (50% only) and whole channels
(coupled through the residual adds). Layers a block does not tile stay dense and count in the
ideal speedup as such. Each preset runs every mask set: `scalesim_32x32` has no sparse support,
so only channel pruning, whose layers run compacted (`accelsim.sparse.compaction`), speeds it up;
`sparse_edge_16x16` skips zeros from a bitmap; `nm_tensor_32x32` only 2:4 patterns (others fall
back to dense, which the figure shows as a flat line). The x axis is the pruning amount: the
fraction of weights, blocks or channels removed per layer. Removing a fraction ``s`` of channels
removes about ``1 - (1 - s)^2`` of the weights, since readers lose the same input channels; each
row also carries the resulting ``weight_sparsity`` over the whole network. Writes
`sparsity_speedup` (achieved solid, ideal dashed, per pattern and preset) and `sparsity_energy`
(energy relative to dense), each as PDF, PNG and CSV.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelsim.arch.hardware import load_hardware
from accelsim.dse.plans import prunable_layers
from accelsim.timing.simulate import simulate
from pruning import Granularity, prune
from reports import figures
from reports.save import save
from reports.style import DOUBLE_COLUMN, paper_style
from workloads.models import init_weights
from workloads.sparsity import NM, Block, Channel, Unstructured
from workloads.zoo import get_network

PRESETS = ("scalesim_32x32", "sparse_edge_16x16", "nm_tensor_32x32")
SPARSITIES = (0.25, 0.5, 0.7, 0.8, 0.9, 0.95)
TOY_SPARSITIES = (0.5, 0.9)
PATTERNS: dict[str, Granularity] = {
    "unstructured": Unstructured(),
    "block 4x4": Block((4, 4)),
    "block 16x16": Block((16, 16)),
    "2:4": NM(2, 4),
    "channel": Channel(),
}


def _masks(network, weights, pattern: Granularity, sparsity: float):
    amount = None if isinstance(pattern, NM) else sparsity
    layers = prunable_layers(network, pattern)
    return prune(network, weights, amount=amount, granularity=pattern, layers=layers)


def sweep(
    network_name: str = "resnet18",
    *,
    input_size: int = 224,
    presets=PRESETS,
    sparsities=SPARSITIES,
    mode: str = "event",
    seed: int = 0,
    progress: Callable[[str], Any] | None = None,
) -> list[dict]:
    """Tidy rows: one per (preset, pattern, sparsity), dense included as sparsity 0."""
    network = get_network(network_name, input_hw=(input_size, input_size))
    weights = init_weights(network, seed=seed)
    cases = [
        (name, pattern, s)
        for name, pattern in PATTERNS.items()
        for s in ((0.5,) if name == "2:4" else sparsities)
    ]
    masks = {(name, s): _masks(network, weights, pattern, s) for name, pattern, s in cases}
    rows = []
    for preset in presets:
        hardware = load_hardware(preset)
        dense = simulate(network, hardware, mode=mode)
        for name in PATTERNS:
            rows.append(_row(preset, name, 0.0, 0.0, dense, dense))
        for name, _pattern, s in cases:
            if progress:
                progress(f"{preset} {name} {s:.2f}")
            report = simulate(network, hardware, mode=mode, masks=masks[(name, s)], baseline=dense)
            rows.append(_row(preset, name, s, 1.0 - masks[(name, s)].density, report, dense))
    return rows


def _row(preset: str, pattern: str, sparsity: float, weight_sparsity: float, report, dense) -> dict:
    losses = report.speedup_losses_cycles() if report is not dense else {}
    row = {
        "hardware": preset,
        "pattern": pattern,
        "sparsity": sparsity,
        "weight_sparsity": weight_sparsity,
        "ideal_speedup": report.ideal_speedup,
        "speedup": report.achieved_speedup,
        "cycles": report.cycles,
        "energy_pj": report.energy_pj,
        "relative_energy": report.energy_pj / dense.energy_pj,
    }
    row.update({f"loss_{cause}_cycles": value for cause, value in losses.items()})
    return row


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--toy", action="store_true", help="64x64 input, two sparsities (seconds)")
    parser.add_argument("--mode", default="event", choices=("event", "analytical"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = sweep(
        input_size=64 if args.toy else 224,
        sparsities=TOY_SPARSITIES if args.toy else SPARSITIES,
        mode=args.mode,
        seed=args.seed,
    )
    written = []
    with paper_style(DOUBLE_COLUMN, aspect=0.3):
        fig = figures.speedup_panels(rows, panel="hardware", group="pattern")
        written += save(fig, rows, args.out / "sparsity_speedup")
        fig = figures.speedup_panels(
            rows, panel="hardware", group="pattern", achieved="relative_energy", ideal=None
        )
        written += save(fig, rows, args.out / "sparsity_energy")
    return written


if __name__ == "__main__":
    main()
