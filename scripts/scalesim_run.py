"""Run SCALE-Sim 3.0.0 on a list of conv layers and print its figures as JSON.

Two sides. ``run_via(python, spec)`` runs in accelsim's interpreter: it writes the cfg, topology
and layout texts with the product's SCALE-Sim writers (``with_files``; one writer, the one
``accelsim export scalesim`` uses) and runs this script *inside* a Python that has ``scalesim``
installed (that side imports nothing of accelsim) with the texts in the spec's ``"files"``:

    PYTHONPATH=. python -c 'import json, sys; sys.path.insert(0, "scripts"); import scalesim_run; \
        print(json.dumps(scalesim_run.with_files(json.load(open("spec.json")))))' > files.json
    .venv-scalesim/bin/python scripts/scalesim_run.py files.json

Input spec (JSON on stdin, or a path given as the only argument):

    {"array": [rows, cols],            # ArrayHeight, ArrayWidth
     "dataflow": "ws" | "os" | "is",
     "sram_kb": [ifmap, filter, ofmap],  # optional, default [1024, 1024, 1024]
     "bandwidth": 64,                    # optional, words/cycle (USER interface bandwidth)
     "layers": [{"name": "c1",
                 "ifmap_h": 10, "ifmap_w": 10,   # ALREADY PADDED, as SCALE-Sim expects
                 "filter_h": 3, "filter_w": 3,
                 "channels": 4, "num_filter": 8, "stride": 1}, ...],
     "files": {"cfg": ..., "topology": ..., "layout": ...}}   # added by with_files

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

COMPUTE_KEYS = (
    "total_cycles_incl_prefetch",
    "total_cycles",
    "stall_cycles",
    "overall_util_pct",
    "mapping_efficiency_pct",
    "compute_util_pct",
)
DETAIL_KEYS = tuple(
    f"{level}_{operand}_{what}"
    for level in ("sram", "dram")
    for operand, verb in (("ifmap", "reads"), ("filter", "reads"), ("ofmap", "writes"))
    for what in ("start_cycle", "stop_cycle", verb)
)
RUN_NAME = "accelsim_xval"
BANDWIDTH_KEYS = (
    "avg_ifmap_sram_bw",
    "avg_filter_sram_bw",
    "avg_ofmap_sram_bw",
    "avg_ifmap_dram_bw",
    "avg_filter_dram_bw",
    "avg_ofmap_dram_bw",
)


def layer_to_specs(layer) -> list[dict]:
    """SCALE-Sim topology rows for one accelsim layer, as dicts (accelsim side).

    The conversion is the product's (``workloads.importers.scalesim_topology.layer_rows``: IFMAP
    given padded and cropped to the extent the windows read, Linear as a 1x1 conv over a
    ``tokens x 1`` image, MatMul one row per head, grouped conv one row per group); a depthwise
    ``DP`` row is expanded here into the per-channel layers SCALE-Sim itself makes of it, so that
    every dict is one line of SCALE-Sim's reports. Names are ``<layer>/g<i>``.
    """
    from workloads.importers.scalesim_topology import ExportFormatError, layer_rows

    try:
        rows = layer_rows(layer)
    except ExportFormatError as exc:
        raise ValueError(f"{layer.name}: {exc}") from None
    if not rows:
        raise ValueError(f"{layer.name}: no SCALE-Sim equivalent for {type(layer).__name__}")
    specs = []
    for row in rows:
        channels, copies = (1, row.channels) if row.depthwise else (row.channels, 1)
        specs += [
            {
                "ifmap_h": row.ifmap_h,
                "ifmap_w": row.ifmap_w,
                "filter_h": row.filter_h,
                "filter_w": row.filter_w,
                "channels": channels,
                "num_filter": row.num_filter,
                "stride": row.stride,
            }
        ] * copies
    return [dict(spec, name=f"{layer.name}/g{i}") for i, spec in enumerate(specs)]


def with_files(spec: dict) -> dict:
    """``spec`` plus the cfg, topology and layout texts, written by accelsim's SCALE-Sim writers
    (accelsim side: ``accelsim.arch.scalesim_cfg.format_cfg`` and ``workloads.importers.scalesim_topology``).

    Rows get positional names: a "DP" in a name would trigger SCALE-Sim's depthwise split. A
    per-layer ``"sparsity": "N:M"`` becomes the topology's N:M column.
    """
    from accelsim.arch.scalesim_cfg import format_cfg, scalesim_hardware
    from workloads.importers.scalesim_topology import TopologyRow, format_layout, format_topology

    rows = []
    for i, layer in enumerate(spec["layers"]):
        nm = tuple(int(x) for x in layer["sparsity"].split(":")) if "sparsity" in layer else None
        rows.append(
            TopologyRow(
                f"L{i}",
                layer["ifmap_h"],
                layer["ifmap_w"],
                layer["filter_h"],
                layer["filter_w"],
                layer["channels"],
                layer["num_filter"],
                layer["stride"],
                nm=nm,
            )
        )
    hardware = scalesim_hardware(
        RUN_NAME,
        *spec["array"],
        spec["dataflow"],
        tuple(spec.get("sram_kb", (1024, 1024, 1024))),
        spec.get("bandwidth", 64),
    )
    cfg, _ = format_cfg(hardware, run_name=RUN_NAME)
    return dict(spec, files={"cfg": cfg, "topology": format_topology(rows), "layout": format_layout(rows)})


def run_script(python: str, script: str, spec: dict, what: str, timeout: float | None = None) -> dict:
    """Run ``script`` under ``python`` (a scalesim interpreter) with ``spec`` on stdin; its JSON."""
    import subprocess

    proc = subprocess.run(
        [python, os.path.abspath(script)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout)


def run_via(python: str, spec: dict, timeout: float | None = None) -> dict:
    """Write ``spec``'s files (accelsim side), run this script under ``python`` (a scalesim
    interpreter) on them and return its JSON."""
    return run_script(python, __file__, with_files(spec), "SCALE-Sim run", timeout)


def scalesim_version() -> str:
    try:
        from importlib.metadata import version

        return version("scalesim")
    except Exception:
        return "unknown"


def write_files(spec: dict, tmp: str) -> tuple[str, str, str]:
    """Write the texts ``with_files`` put in ``spec`` (scalesim side); their paths."""
    paths = []
    for key, filename in (("cfg", "scale.cfg"), ("topology", "topo.csv"), ("layout", "layout.csv")):
        paths.append(os.path.join(tmp, filename))
        with open(paths[-1], "w") as fh:
            fh.write(spec["files"][key])
    return paths[0], paths[1], paths[2]


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
        sim = scalesim(
            save_disk_space=True,
            verbose=False,
            config=cfg,
            topology=topo,
            layout=layout,
            input_type_gemm=False,
        )
        sim.run_scale(top_path=os.path.join(tmp, "out"))
    return os.path.join(tmp, "out", RUN_NAME)


def run(spec: dict) -> dict:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accelsim_scalesim_") as tmp:
        cfg, topo, layout = write_files(spec, tmp)
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
