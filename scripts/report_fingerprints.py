"""Fingerprints of simulator output, to prove a refactor leaves every report byte-identical.

    PYTHONPATH=. python scripts/report_fingerprints.py > before.txt   # on the old commit
    PYTHONPATH=. python scripts/report_fingerprints.py > after.txt    # on the new one
    diff before.txt after.txt                                         # empty: nothing changed

One line per (network, preset, mode, masks): the SHA-256 of the report's JSON. Dense runs cover
every zoo network on every shipped preset in both modes; sparse runs prune ResNet-18 with each
granularity (seeded) and simulate it on the sparse presets. `--quick` keeps only the small networks.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

from accelsim import list_presets, simulate
from accelsim.dse.plans import plan_masks
from workloads import get_network, list_networks
from workloads.models import init_weights

SMALL = ("lenet5", "mlp", "resnet18", "mobilenet_v2")
# Design-point plans: layers a block or N:M group cannot tile stay dense (`plan_masks`).
SPARSE_PLANS = (
    ("unstructured", {"granularity": "unstructured", "amount": 0.6}),
    ("block4x4", {"granularity": "block", "amount": 0.6, "block_shape": [4, 4]}),
    ("nm2:4", {"granularity": "nm", "n": 2, "m": 4}),
    ("channel", {"granularity": "channel", "amount": 0.6}),
)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small networks only")
    args = parser.parse_args(argv)
    networks = [n for n in list_networks() if not args.quick or n in SMALL]
    for name in networks:
        network = get_network(name)
        for preset in list_presets():
            for mode in ("analytical", "event"):
                report = simulate(network, preset, mode=mode)
                print(f"{name} {preset} {mode} dense {_digest(report.to_json())}")
    network = get_network("resnet18", input_hw=64)
    weights = init_weights(network, seed=0)
    for label, plan in SPARSE_PLANS:
        masks = plan_masks(network, weights, plan)
        for preset in ("sparse_edge_16x16", "nm_tensor_32x32", "scalesim_32x32"):
            for mode in ("analytical", "event"):
                report = simulate(network, preset, mode=mode, masks=masks)
                print(f"resnet18@64 {preset} {mode} {label} {_digest(report.to_json())}")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
