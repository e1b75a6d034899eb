"""Importing ResNet-50 at 224x224 from PyTorch and from ONNX: target under 2 s each.

Run: PYTHONPATH=. python benchmarks/bench_import.py [--reps 3]

The ResNet-50 module is the test suite's definition (tests/torch_models.py); its ONNX file is
exported once into a temporary directory (not timed). ``from_torch`` is timed on its first trace
and warm (best of ``--reps``); torch.export's own modules are imported, and timed apart, before the
first trace: like ``import torch``, that is a once-per-process cost of the library, not of
importing a model. ``from_onnx`` reads the file each time (best of ``--reps``, the first call reported apart as it
imports onnx). Each imported network is checked against the zoo's ``resnet50`` (same layers and
MACs) so a fast but wrong import cannot pass. Wall and CPU seconds are both printed, with the
load average: on a shared machine the wall figures scale with the load, the CPU ones much less.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import torch
import torch_models

from workloads import get_network
from workloads.importers.imported import Imported
from workloads.importers.onnx_import import from_onnx
from workloads.importers.torch_import import from_torch

TARGET_SECONDS = 2.0


def _timed(call: Callable[[], Imported]) -> tuple[tuple[float, float], Imported]:
    """(wall seconds, CPU seconds of this process) and the result."""
    start, start_cpu = time.perf_counter(), time.process_time()
    result = call()
    return (time.perf_counter() - start, time.process_time() - start_cpu), result


def _check(imported: Imported) -> None:
    zoo = get_network("resnet50")
    shapes = [layer.output_shape for layer in imported.network.layers()]
    assert shapes == [layer.output_shape for layer in zoo.layers()], "layer shapes differ from the zoo"
    assert imported.network.total_macs == zoo.total_macs, "MACs differ from the zoo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    model = torch_models.resnet50().eval()
    example = torch.randn(1, 3, 224, 224)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; torch {torch.__version__}")
    rows = []
    # torch.export loads torch._dynamo and friends on first use (~1.5 s here), a one-off cost of the
    # library like `import torch` itself; it is timed apart so the first trace is measured alone.
    start, start_cpu = time.perf_counter(), time.process_time()
    importlib.import_module("torch.export._trace")
    library = (time.perf_counter() - start, time.process_time() - start_cpu)
    print(
        f"torch.export's modules, imported once per process: {library[0]:.2f} s wall / {library[1]:.2f} s CPU"
    )
    cold, imported = _timed(lambda: from_torch(model, example))
    _check(imported)
    warm = min((_timed(lambda: from_torch(model, example))[0] for _ in range(args.reps)), key=lambda t: t[0])
    rows.append(("from_torch(resnet50)", cold, warm))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17)
        first, imported = _timed(lambda: from_onnx(path))
        _check(imported)
        best = min((_timed(lambda: from_onnx(path))[0] for _ in range(args.reps)), key=lambda t: t[0])
        rows.append(("from_onnx(resnet50.onnx)", first, best))
    print(
        f"{'import':26s} {'first wall/cpu s':>17s} {'best wall/cpu s':>16s}  target < {TARGET_SECONDS:.0f} s wall"
    )
    for label, (first_wall, first_cpu), (best_wall, best_cpu) in rows:
        verdict = "ok" if max(first_wall, best_wall) < TARGET_SECONDS else "SLOW"
        print(f"{label:26s} {first_wall:8.2f} {first_cpu:8.2f} {best_wall:8.2f} {best_cpu:7.2f}  {verdict}")


if __name__ == "__main__":
    main()
