"""Run SCALE-Sim 3.0.0 on a list of conv layers and print its figures as JSON.

This script runs *inside* a Python that has ``scalesim`` installed (it does not import accelsim).

    echo '{"array": [8, 8], "dataflow": "ws", "layers": [...]}' | \
        /tmp/ssvenv/bin/python scripts/scalesim_run.py

Input (JSON on stdin, or a path given as the only argument):

    {"array": [rows, cols],            # ArrayHeight, ArrayWidth
     "dataflow": "ws" | "os" | "is",
     "sram_kb": [ifmap, filter, ofmap],  # optional, default [1024, 1024, 1024]
     "bandwidth": 64,                    # optional, words/cycle (USER interface bandwidth)
     "layers": [{"name": "c1",
                 "ifmap_h": 10, "ifmap_w": 10,   # ALREADY PADDED, as SCALE-Sim expects
                 "filter_h": 3, "filter_w": 3,
                 "channels": 4, "num_filter": 8, "stride": 1}, ...]}

Output (stdout, JSON): ``{"scalesim_version": ..., "seconds": ..., "layers": [{...}, ...]}``
with, per layer, every column of COMPUTE_REPORT.csv and DETAILED_ACCESS_REPORT.csv under
snake_case keys (``total_cycles``, ``stall_cycles``, ``mapping_efficiency_pct``,
``compute_util_pct``, ``sram_ifmap_reads``, ``dram_filter_reads``, ...).  SCALE-Sim's own
stdout chatter is sent to stderr.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import tempfile
import time

COMPUTE_KEYS = ("total_cycles_incl_prefetch", "total_cycles", "stall_cycles",
                "overall_util_pct", "mapping_efficiency_pct", "compute_util_pct")
DETAIL_KEYS = tuple(
    f"{level}_{operand}_{what}"
    for level in ("sram", "dram")
    for operand, verb in (("ifmap", "reads"), ("filter", "reads"), ("ofmap", "writes"))
    for what in ("start_cycle", "stop_cycle", verb)
)
BANDWIDTH_KEYS = ("avg_ifmap_sram_bw", "avg_filter_sram_bw", "avg_ofmap_sram_bw",
                  "avg_ifmap_dram_bw", "avg_filter_dram_bw", "avg_ofmap_dram_bw")

CFG_TEMPLATE = """[general]
run_name = accelsim_xval

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap_kb}
FilterSramSzkB : {filter_kb}
OfmapSramSzkB : {ofmap_kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {bandwidth}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {bandwidth}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : USER
UseRamulatorTrace : False
"""


def layer_to_specs(layer) -> list[dict]:
    """SCALE-Sim topology rows for one accelsim layer (duck-typed; no accelsim import).

    Conv2d -> one row per group (SCALE-Sim has no groups): IFMAP given PADDED and cropped to
    the rows/cols the windows read (see below), Channels =
    in_channels/groups, Num Filter = out_channels/groups.  Linear -> a 1x1 conv over a
    ``tokens x 1`` image.  MatMul -> one 1x1 conv per head (m x 1 image, k channels, n filters).
    SCALE-Sim has a single stride and no dilation: both are refused here.
    """
    kind = type(layer).__name__
    if kind == "Conv2d":
        (kh, kw), (h, w) = layer.kernel_size, layer.input_hw
        (sh, sw), (ph, pw) = layer.stride, layer.padding
        if sh != sw or tuple(layer.dilation) != (1, 1):
            raise ValueError(f"{layer.name}: SCALE-Sim needs equal strides and no dilation")
        ho, wo = layer.output_hw
        # SCALE-Sim sizes the output as ceil((H - kh) / s) + 1 (a partial last window), PyTorch
        # as floor(...) + 1: feed the padded extent that is actually read, (Ho - 1) * s + kh,
        # on which both agree.
        row = {"ifmap_h": (ho - 1) * sh + kh, "ifmap_w": (wo - 1) * sw + kw,
               "filter_h": kh, "filter_w": kw,
               "channels": layer.in_channels // layer.groups,
               "num_filter": layer.out_channels // layer.groups, "stride": sh}
        groups = layer.groups
    elif kind in ("Linear", "MatMul"):
        g = layer.gemm
        row = {"ifmap_h": g.m, "ifmap_w": 1, "filter_h": 1, "filter_w": 1,
               "channels": g.k, "num_filter": g.n, "stride": 1}
        groups = g.groups
    else:
        raise ValueError(f"{layer.name}: no SCALE-Sim equivalent for {kind}")
    return [dict(row, name=f"{layer.name}/g{i}") for i in range(groups)]


def run_script(python: str, script: str, spec: dict, what: str, timeout: float | None = None) -> dict:
    """Run ``script`` under ``python`` (a scalesim interpreter) with ``spec`` on stdin; its JSON."""
    import subprocess
    proc = subprocess.run([python, os.path.abspath(script)], input=json.dumps(spec),
                          capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def run_via(python: str, spec: dict, timeout: float | None = None) -> dict:
    """Run this script under ``python`` (a scalesim interpreter) and return its JSON."""
    return run_script(python, __file__, spec, "SCALE-Sim run", timeout)


def scalesim_version() -> str:
    try:
        from importlib.metadata import version
        return version("scalesim")
    except Exception:  # noqa: BLE001 - version is informative only
        return "unknown"


def _write_inputs(spec: dict, tmp: str) -> tuple[str, str, str]:
    rows, cols = spec["array"]
    ifmap_kb, filter_kb, ofmap_kb = spec.get("sram_kb", (1024, 1024, 1024))
    cfg = os.path.join(tmp, "scale.cfg")
    with open(cfg, "w") as fh:
        fh.write(CFG_TEMPLATE.format(rows=rows, cols=cols, ifmap_kb=ifmap_kb,
                                     filter_kb=filter_kb, ofmap_kb=ofmap_kb,
                                     bandwidth=spec.get("bandwidth", 64),
                                     dataflow=spec["dataflow"]))
    topo = os.path.join(tmp, "topo.csv")
    layout = os.path.join(tmp, "layout.csv")
    with open(topo, "w") as ft, open(layout, "w") as fl:
        ft.write("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                 "Channels, Num Filter, Strides,\n")
        fl.write("Layer name, layout,\n")
        for i, layer in enumerate(spec["layers"]):
            name = f"L{i}"  # positional names: "DP" in a name would trigger SCALE-Sim's depthwise split
            ft.write(f"{name}, {layer['ifmap_h']}, {layer['ifmap_w']}, {layer['filter_h']}, "
                     f"{layer['filter_w']}, {layer['channels']}, {layer['num_filter']}, "
                     f"{layer['stride']},\n")
            # Custom layouts are disabled; SCALE-Sim still parses one integer row per layer.
            fl.write(name + ", " + ", ".join(["1"] * 20) + ",\n")
    return cfg, topo, layout


def _read_report(path: str, keys: tuple[str, ...]) -> list[dict]:
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh)][1:]
    out = []
    for row in rows:
        vals = [v.strip() for v in row[1:] if v.strip() != ""]
        out.append({k: float(v) for k, v in zip(keys, vals)})
    return out


def run_scalesim(cfg: str, topo: str, layout: str, tmp: str) -> str:
    """Run SCALE-Sim on written inputs (its chatter to stderr); returns its report directory."""
    from scalesim.scale_sim import scalesim

    with contextlib.redirect_stdout(sys.stderr):
        sim = scalesim(save_disk_space=True, verbose=False, config=cfg,
                       topology=topo, layout=layout, input_type_gemm=False)
        sim.run_scale(top_path=os.path.join(tmp, "out"))
    return os.path.join(tmp, "out", "accelsim_xval")


def run(spec: dict) -> dict:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accelsim_scalesim_") as tmp:
        cfg, topo, layout = _write_inputs(spec, tmp)
        rep = run_scalesim(cfg, topo, layout, tmp)
        compute = _read_report(os.path.join(rep, "COMPUTE_REPORT.csv"), COMPUTE_KEYS)
        detail = _read_report(os.path.join(rep, "DETAILED_ACCESS_REPORT.csv"), DETAIL_KEYS)
        bandwidth = _read_report(os.path.join(rep, "BANDWIDTH_REPORT.csv"), BANDWIDTH_KEYS)
    layers = []
    for layer, c, d, b in zip(spec["layers"], compute, detail, bandwidth):
        layers.append({"name": layer.get("name", ""), **c, **d, **b})
    return {"scalesim_version": scalesim_version(), "seconds": time.perf_counter() - t0, "layers": layers}


def serve(run_spec, argv: list[str]) -> int:
    """Read a spec (file argument or stdin), write `run_spec(spec)` as JSON to stdout."""
    if len(argv) > 1:
        with open(argv[1]) as fh:
            spec = json.load(fh)
    else:
        spec = json.load(sys.stdin)
    json.dump(run_spec(spec), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def main(argv: list[str]) -> int:
    return serve(run, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
