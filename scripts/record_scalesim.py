"""Re-record tests/data/scalesim_recorded.json (SCALE-Sim 3.0.0 figures for larger layers).

Exact command (from the repo root; ~2-4 minutes on the 2-core dev machine):

    ACCELSIM_SCALESIM_PYTHON=/tmp/ssvenv/bin/python PYTHONPATH=. \
        /tmp/devvenv/bin/python scripts/record_scalesim.py

It builds the layers with ``workloads.layers``, converts them with
``scripts/scalesim_run.layer_to_specs`` and runs SCALE-Sim once per (array, dataflow) case in
the interpreter named by ACCELSIM_SCALESIM_PYTHON.  SRAMs are 4096 kB each so that every
operand fits in half its buffer (the only regime where SCALE-Sim's DRAM counts are compared).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "scalesim_recorded.json"
COMMAND = (
    "ACCELSIM_SCALESIM_PYTHON=/tmp/ssvenv/bin/python PYTHONPATH=. "
    "/tmp/devvenv/bin/python scripts/record_scalesim.py"
)
SRAM_KB = (4096, 4096, 4096)
BANDWIDTH = 64

# (case name, dataflow, layer constructor kwargs)
CASES = [
    (
        "r50_l3_1x1",
        ("ws", "os", "is"),
        (
            "Conv2d",
            dict(
                name="r50_l3_1x1", in_channels=1024, out_channels=256, kernel_size=(1, 1), input_hw=(14, 14)
            ),
        ),
    ),
    (
        "r50_conv1",
        ("ws",),
        (
            "Conv2d",
            dict(
                name="r50_conv1",
                in_channels=3,
                out_channels=64,
                kernel_size=(7, 7),
                input_hw=(224, 224),
                stride=(2, 2),
                padding=(3, 3),
            ),
        ),
    ),
    ("r50_fc", ("os", "is"), ("Linear", dict(name="r50_fc", in_features=2048, out_features=1000, tokens=1))),
    (
        "alexnet_conv1",
        ("ws",),
        (
            "Conv2d",
            dict(
                name="alexnet_conv1",
                in_channels=3,
                out_channels=64,
                kernel_size=(11, 11),
                input_hw=(227, 227),
                stride=(4, 4),
            ),
        ),
    ),
]
ARRAY = (32, 32)


def _load_runner():
    spec = importlib.util.spec_from_file_location("scalesim_run", ROOT / "scripts" / "scalesim_run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_layer(kind: str, kwargs: dict):
    from workloads import layers

    return getattr(layers, kind)(**kwargs)


def main() -> int:
    python = os.environ.get("ACCELSIM_SCALESIM_PYTHON")
    if not python:
        raise SystemExit("set ACCELSIM_SCALESIM_PYTHON to a python with scalesim installed")
    runner = _load_runner()
    records = []
    for case, dataflows, (kind, kwargs) in CASES:
        layer = build_layer(kind, kwargs)
        specs = runner.layer_to_specs(layer)
        for df in dataflows:
            spec = {
                "array": list(ARRAY),
                "dataflow": df,
                "sram_kb": list(SRAM_KB),
                "bandwidth": BANDWIDTH,
                "layers": specs,
            }
            t0 = time.perf_counter()
            out = runner.run_via(python, spec)
            secs = time.perf_counter() - t0
            records.append(
                {
                    "case": case,
                    "kind": kind,
                    "layer": kwargs,
                    "dataflow": df,
                    "array": list(ARRAY),
                    "sram_kb": list(SRAM_KB),
                    "bandwidth": BANDWIDTH,
                    "seconds": round(secs, 1),
                    "scalesim": out["layers"],
                }
            )
            print(f"{case} {df}: {secs:.1f} s", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {"scalesim_version": out["scalesim_version"], "command": COMMAND, "records": records}, indent=1
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
