"""Issue 14's acceptance run: prepare the CIFAR-style ResNet-8 on 32x32 digits, then co-design it.

Run: PYTHONPATH=. python benchmarks/bench_codesign_resnet.py [--out results/bench_resnet]

Both phases are the documented commands, each timed as a subprocess::

    python examples/cifar_resnet.py prepare --out OUT/prepared
    python -m accelsim codesign --model examples/cifar_resnet.py:resnet \
        --data OUT/prepared/digits32.npz --hardware sparse_edge_16x16 \
        --granularities channel --strategy uniform --out OUT/codesign

(``ACCELSIM_RESNET_DIR=OUT/prepared`` tells ``resnet()`` where the weights are.) It prints the wall
time of each phase and of the loop's own phases (``summary.json``), the EDP ratios, the test
accuracies with their 95 % Wilson intervals, the paired difference to dense, and whether the
1-point constraint held on the test split. The targets: both phases together under 15 minutes,
searched EDP at least 3x below dense, constraint met on test. Wall times scale with the load of
the shared machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cifar_resnet.py"
TARGET_SECONDS = 15 * 60.0
TARGET_EDP_RATIO = 3.0
# Why these: docs/user_models.md, "Example: a CIFAR-style ResNet on 32x32 digits".
CODESIGN_FLAGS = ("--hardware", "sparse_edge_16x16", "--granularities", "channel", "--strategy", "uniform")


def _timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def _interval(design: dict[str, Any]) -> str:
    test = design["accuracy_intervals"]["test"]
    return f"{design['test_accuracy']:.4f} [{test['low']:.4f}, {test['high']:.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench_resnet")
    args = parser.parse_args()
    prepared, run = args.out.resolve() / "prepared", args.out.resolve() / "codesign"
    env = {**os.environ, "ACCELSIM_RESNET_DIR": str(prepared), "PYTHONPATH": str(ROOT)}
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)

    prepare_s = _timed([sys.executable, str(EXAMPLE), "prepare", "--out", str(prepared)], env)
    codesign = [sys.executable, "-m", "accelsim", "codesign", "--model", f"{EXAMPLE}:resnet"]
    codesign += ["--data", str(prepared / "digits32.npz"), *CODESIGN_FLAGS, "--out", str(run)]
    codesign_s = _timed([*codesign, "--no-progress"], env)
    summary = json.loads((run / "summary.json").read_text())

    total_s = prepare_s + codesign_s
    phases = ", ".join(f"{k} {v:.1f}" for k, v in summary["seconds"].items())
    print(f"prepare   {prepare_s:8.1f} s")
    print(f"codesign  {codesign_s:8.1f} s  ({phases})")
    print(f"total     {total_s:8.1f} s  (target < {TARGET_SECONDS:.0f} s)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    designs, ratios, constraint = summary["designs"], summary["ratios"], summary["constraint"]
    for label in ("dense", "uniform", "searched"):
        d = designs[label]
        print(
            f"{label:<9} test {_interval(d)}  val {d['val_accuracy']:.4f}  density {d['density']:.3f}  "
            f"EDP {designs['dense']['edp'] / d['edp']:.2f}x below dense"
        )
    diff = summary["against_dense_on_test"]["searched"]
    print(
        f"searched - dense on test: {diff['difference']['estimate']:+.4f} "
        f"[{diff['difference']['low']:+.4f}, {diff['difference']['high']:+.4f}], McNemar p {diff['mcnemar_p']:.3g}"
    )
    met, edp = constraint["searched_meets_on_test"], ratios["edp_dense_over_searched"]
    print(
        f"constraint (test >= {constraint['test_threshold']:.4f}): {'met' if met else 'NOT met'}; "
        f"EDP {edp:.2f}x below dense ({'>=' if edp >= TARGET_EDP_RATIO else '<'} {TARGET_EDP_RATIO}x); "
        f"time {'within' if total_s < TARGET_SECONDS else 'OVER'} budget; results in {run}"
    )


if __name__ == "__main__":
    main()
