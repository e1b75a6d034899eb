"""Run ZigZag 3.9 on a list of layers and a matched systolic hierarchy; print per-layer JSON.

This script runs *inside* a Python that has ``zigzag-dse`` installed (``make zigzag-venv``); it does
not import accelsim. ``scripts/zigzag_compare.py`` builds its input from an accelsim
``Hardware`` and network.

    .venv-zigzag/bin/python scripts/zigzag_run.py spec.json   # or the spec on stdin

Input (JSON):

    {"array": [rows, cols],
     "dataflow": "ws" | "os",           # ws: rows x cols = C x K; os: OX x K (see SPATIAL)
     "sram_bytes": {"ifmap": n, "filter": n, "ofmap": n},   # one SRAM per operand: the capacity
                                        # a tile may use (accelsim double-buffers: half its buffer)
     "sram_bytes_per_cycle": {"ifmap": r, "filter": r, "ofmap": r},
     "dram_bytes_per_cycle": 64,
     "bits": {"ifmap": 8, "filter": 8, "ofmap": 8, "accum": 32},   # accum: partial sums
     "pj_per_byte": {"ifmap_sram": {"read": e, "write": e}, "filter_sram": {...},
                     "ofmap_sram": {...}, "dram": {"read": e, "write": e}},
     "mac_pj": e,
     "opt": "energy",                   # ZigZag's criterion for its mapping search
     "lpf_limit": 6,                    # ZigZag's temporal-mapping search breadth
     "layers": [{"name": "conv1", "kind": "conv", "k": 64, "c": 3, "oy": 112, "ox": 112,
                 "fy": 7, "fx": 7, "stride": [2, 2], "padding": [3, 3], "iy": 224, "ix": 224},
                {"name": "fc", "kind": "gemm", "m": 1, "k": 512, "n": 1000}, ...]}

Output (stdout): ``{"zigzag_version", "seconds", "layers": [...]}`` with, per layer,
``dram_read_bytes`` / ``dram_write_bytes`` / ``sram_read_bytes`` / ``sram_write_bytes`` per operand
(``ifmap``, ``filter``, ``ofmap``; ZigZag's element moves x its precision per direction / 8: partial
sums at ``accum`` bits, final outputs at ``ofmap`` bits), ``energy_pj`` per level
(``dram``, ``<operand>_sram``, ``registers``, ``mac``), ``cycles`` (ZigZag's latency incl. on- and
off-loading) and ``temporal_mapping`` (ZigZag's chosen loop nest, for the record). ZigZag's own
logging goes to stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from typing import Any

# The SCALE-Sim driver beside this one owns the JSON-in/JSON-out plumbing both peers use; it imports
# SCALE-Sim only inside its run functions.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scalesim_run

OPERANDS = ("ifmap", "filter", "ofmap")
#: accelsim operand -> (ZigZag layer operand, ZigZag memory operand)
ZIGZAG_OPERAND = {"ifmap": ("I", "I1"), "filter": ("W", "I2"), "ofmap": ("O", "O")}
#: Which layer loops span the array's rows (D1) and columns (D2): ws holds a weight per PE with the
#: reduction down the rows and output channels across; os holds an output per PE, output pixels
#: down the rows and output channels across (accelsim/mapping.py's Dataflow table).
SPATIAL = {"ws": ("C", "K"), "os": ("OX", "K")}
#: Per-PE registers: ws keeps the weight and the partial sum, os the partial sum.
REGISTERS = {"ws": ("I2", "O"), "os": ("O",)}


def _port(name: str, kind: str, bits_per_cycle: int, allocation: list[str]) -> dict[str, Any]:
    # bandwidth_min of one byte: ZigZag rounds each transfer up to bandwidth_min bits.
    return {
        "name": name,
        "type": kind,
        "bandwidth_min": 8,
        "bandwidth_max": bits_per_cycle,
        "allocation": allocation,
    }


def _sram(mem_op: str, size_bytes: int, bytes_per_cycle: int, pj_per_byte: dict[str, float]) -> dict:
    bits = 8 * bytes_per_cycle
    # ZigZag prices one access of bandwidth_max bits; accelsim prices bytes.
    if mem_op == "O":
        ports = [
            _port("r_port_1", "read", bits, ["O, tl", "O, th"]),
            _port("w_port_1", "write", bits, ["O, fh", "O, fl"]),
        ]
    else:
        ports = [
            _port("r_port_1", "read", bits, [f"{mem_op}, tl"]),
            _port("w_port_1", "write", bits, [f"{mem_op}, fh"]),
        ]
    return {
        "size": 8 * size_bytes,
        "r_cost": pj_per_byte["read"] * bytes_per_cycle,
        "w_cost": pj_per_byte["write"] * bytes_per_cycle,
        "area": 0,
        "latency": 1,
        "operands": [mem_op],
        "ports": ports,
        "served_dimensions": ["D1", "D2"],
    }


def _register(mem_op: str, bits: int) -> dict:
    # Free, as in accelsim, where a MAC's energy covers its PE's registers.
    alloc = ["O, tl", "O, th", "O, fh", "O, fl"] if mem_op == "O" else [f"{mem_op}, tl", f"{mem_op}, fh"]
    ports = [_port("rw_port_1", "read_write", bits, alloc)]
    return {
        "size": bits,
        "r_cost": 0.0,
        "w_cost": 0.0,
        "area": 0,
        "latency": 1,
        "operands": [mem_op],
        "ports": ports,
        "served_dimensions": [],
    }


def accelerator(spec: dict) -> dict:
    """ZigZag accelerator YAML (as a dict): per-PE registers, one SRAM per operand, DRAM."""
    rows, cols = spec["array"]
    bits = spec["bits"]
    memories: dict[str, dict] = {}
    for mem_op in REGISTERS[spec["dataflow"]]:
        operand = next(a for a, (_, m) in ZIGZAG_OPERAND.items() if m == mem_op)
        memories[f"reg_{operand}"] = _register(mem_op, bits["accum" if mem_op == "O" else operand])
    for operand in OPERANDS:
        mem_op = ZIGZAG_OPERAND[operand][1]
        memories[f"{operand}_sram"] = _sram(
            mem_op,
            spec["sram_bytes"][operand],
            spec["sram_bytes_per_cycle"][operand],
            spec["pj_per_byte"][f"{operand}_sram"],
        )
    dram_bits = int(8 * spec["dram_bytes_per_cycle"])
    dram_alloc = [f"{m}, {d}" for m in ("I1", "I2") for d in ("fh", "tl")] + [
        f"O, {d}" for d in ("fh", "tl", "fl", "th")
    ]
    dram_pj = spec["pj_per_byte"]["dram"]
    memories["dram"] = {
        "size": 10**12,
        "r_cost": dram_pj["read"] * spec["dram_bytes_per_cycle"],
        "w_cost": dram_pj["write"] * spec["dram_bytes_per_cycle"],
        "area": 0,
        "latency": 1,
        "mem_type": "dram",
        "operands": ["I1", "I2", "O"],
        "ports": [_port("rw_port_1", "read_write", dram_bits, dram_alloc)],
        "served_dimensions": ["D1", "D2"],
    }
    return {
        "name": "accelsim_matched",
        "memories": memories,
        "operational_array": {
            "unit_energy": spec["mac_pj"],
            "unit_area": 1,
            "dimensions": ["D1", "D2"],
            "sizes": [rows, cols],
        },
    }


def mapping(spec: dict) -> list[dict]:
    rows, cols = spec["array"]
    d1, d2 = SPATIAL[spec["dataflow"]]
    return [
        {
            "name": "default",
            "spatial_mapping": {"D1": [f"{d1}, {rows}"], "D2": [f"{d2}, {cols}"]},
            "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"},
        }
    ]


def workload(spec: dict) -> list[dict]:
    """ZigZag's user-format layers: convs as its 7-loop nest, GEMMs as 1x1 convs over m pixels."""
    bits = spec["bits"]
    # Partial sums at accumulator width, as accelsim holds them between reduction tiles.
    precision = {"W": bits["filter"], "I": bits["ifmap"], "O": bits["accum"], "O_final": bits["ofmap"]}
    out = []
    for i, layer in enumerate(spec["layers"]):
        if layer["kind"] == "gemm":
            layer = {
                "k": layer["n"],
                "c": layer["k"],
                "oy": 1,
                "ox": layer["m"],
                "fy": 1,
                "fx": 1,
                "stride": [1, 1],
                "padding": [0, 0],
                "iy": 1,
                "ix": layer["m"],
                "name": layer["name"],
            }
        sy, sx = layer["stride"]
        py, px = layer["padding"]
        out.append(
            {
                "id": i,
                "name": layer["name"],
                "operator_type": "Conv",
                "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
                "dimension_relations": [f"ix={sx}*ox+1*fx", f"iy={sy}*oy+1*fy"],
                "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
                "loop_sizes": [1, layer["k"], layer["c"], layer["oy"], layer["ox"], layer["fy"], layer["fx"]],
                "operand_precision": precision,
                # Each layer its own source: its input comes from DRAM, as in accelsim.
                "operand_source": {"I": i},
                "pr_loop_dims": ["IX", "IY"],
                "pr_loop_sizes": [layer["ix"], layer["iy"]],
                "padding": [[px, px], [py, py]],
            }
        )
    return out


def layer_figures(cme, spec: dict) -> dict:
    """Bytes per operand at SRAM and DRAM, energy per level, cycles, from one CostModelEvaluation."""
    # ZigZag lives only in its own interpreter (this script's); mypy runs in accelsim's.
    from zigzag.datatypes import LayerOperand  # type: ignore[import-not-found]
    from zigzag.hardware.architecture.memory_port import DataDirection as D  # type: ignore[import-not-found]
    from zigzag.mapping.data_movement import DataMoveAttr  # type: ignore[import-not-found]

    fig: dict[str, Any] = {
        k: {} for k in ("dram_read_bytes", "dram_write_bytes", "sram_read_bytes", "sram_write_bytes")
    }
    energy = {"dram": 0.0, "registers": 0.0, "mac": float(cme.mac_energy)}
    for operand in OPERANDS:
        layer_op = LayerOperand(ZIGZAG_OPERAND[operand][0])
        names = [
            lv.name
            for lv in cme.accelerator.memory_hierarchy.get_memory_levels(
                mem_op=cme.memory_operand_links.layer_to_mem_op(layer_op)
            )
        ]
        moves = cme.mapping.unit_mem_data_movement[layer_op]
        for name, move, level_pj in zip(names, moves, cme.mem_energy_breakdown[layer_op]):
            count = move.get_attribute(DataMoveAttr.DATA_ELEM_MOVE_COUNT)
            bits = move.get_attribute(DataMoveAttr.DATA_PRECISION)
            moved = {d: int(count.get(d) * bits.get(d) // 8) for d in (D.RD_OUT_TO_LOW, D.WR_IN_BY_LOW)}
            if name == "dram":
                # Reads leave towards the SRAM; writes arrive from it.
                fig["dram_read_bytes"][operand] = moved[D.RD_OUT_TO_LOW]
                fig["dram_write_bytes"][operand] = moved[D.WR_IN_BY_LOW]
                energy["dram"] += float(level_pj)
            elif name.endswith("_sram"):
                # Array side only, as accelsim's sram_*_bytes: fills and write-backs are DRAM's.
                fig["sram_read_bytes"][operand] = moved[D.RD_OUT_TO_LOW]
                fig["sram_write_bytes"][operand] = moved[D.WR_IN_BY_LOW]
                energy[name] = float(level_pj)
            else:
                energy["registers"] += float(level_pj)
    fig["energy_pj"] = energy
    fig["cycles"] = float(cme.latency_total2)
    fig["ideal_cycles"] = float(cme.ideal_cycle)
    fig["temporal_mapping"] = str(cme.temporal_mapping)
    return fig


def run_via(python: str, spec: dict, timeout: float | None = None) -> dict:
    """Run this script under ``python`` (a ZigZag interpreter) with ``spec`` on stdin; its JSON."""
    return scalesim_run.run_script(python, __file__, spec, "ZigZag run", timeout)


def zigzag_version() -> str:
    try:
        from importlib.metadata import version

        return version("zigzag-dse")
    except Exception:
        return "unknown"


def run(spec: dict) -> dict:
    import yaml  # type: ignore[import-untyped]
    from zigzag.api import get_hardware_performance_zigzag  # type: ignore[import-not-found]

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accelsim_zigzag_") as tmp:
        paths = {}
        for what, doc in (("accelerator", accelerator(spec)), ("mapping", mapping(spec))):
            paths[what] = os.path.join(tmp, f"{what}.yaml")
            with open(paths[what], "w") as fh:
                yaml.safe_dump(doc, fh, sort_keys=False)
        with contextlib.redirect_stdout(sys.stderr):
            _, _, cmes = get_hardware_performance_zigzag(
                workload(spec),
                paths["accelerator"],
                paths["mapping"],
                opt=spec.get("opt", "energy"),
                dump_folder=os.path.join(tmp, "out"),
                lpf_limit=spec.get("lpf_limit", 6),
                loma_show_progress_bar=False,
            )
    per_layer = [cme for cme, _ in cmes[0][1]]
    layers = [
        dict(name=layer["name"], **layer_figures(cme, spec)) for layer, cme in zip(spec["layers"], per_layer)
    ]
    return {"zigzag_version": zigzag_version(), "seconds": time.perf_counter() - t0, "layers": layers}


def main(argv: list[str]) -> int:
    return scalesim_run.serve(run, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
