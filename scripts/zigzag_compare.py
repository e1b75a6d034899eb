"""accelsim against ZigZag 3.9 on ResNet-18's layers: DRAM/SRAM bytes and energy per level.

Exact command for the table in docs/validation.md (from the repo root; ZigZag's mapping search takes
~1-2 s of CPU per layer per lpf step, a few minutes for the 21 layers on the 2-core dev machine):

    ACCELSIM_ZIGZAG_PYTHON=.venv-zigzag/bin/python PYTHONPATH=. \
        .venv/bin/python scripts/zigzag_compare.py --out results/zigzag_resnet18

It writes ``<out>/zigzag_resnet18.csv`` (one row per layer) and ``<out>/zigzag_resnet18.md`` (the
markdown table pasted into docs/validation.md), and keeps ZigZag's figures in
``<out>/zigzag_figures.json``, reused while the ZigZag spec is unchanged (delete it to re-run ZigZag).
``--layers a,b`` restricts the run.

The matched hierarchy (``zigzag_spec``): accelsim's array and dataflow become ZigZag's spatial
unrolling (ws: C down the rows, K across; os: OX down, K across), per-PE registers that cost nothing
(accelsim's MAC energy covers them), one SRAM per operand whose capacity is what accelsim lets a
tile use (half the buffer: the other half is being refilled), and DRAM; every unit cost is
accelsim's energy table's, converted from pJ per byte to ZigZag's pJ per port-width access. Only
GEMM layers (Conv2d without groups, Linear) are compared; pooling and adds run on accelsim's vector
unit, which ZigZag does not model the same way.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accelsim.arch.energy import load_energy_table
from accelsim.arch.hardware import Hardware, load_hardware
from accelsim.timing.report import LayerReport
from accelsim.timing.simulate import simulate
from workloads.layers import Conv2d, Layer, Linear
from workloads.network import Network
from workloads.zoo import get_network

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zigzag_run  # the driver beside this script; it runs in ZigZag's interpreter

OPERANDS = ("ifmap", "filter", "ofmap")
#: The hardware of the comparison: SCALE-Sim's default 32x32 array and 64 KiB buffers, weight
#: stationary like ZigZag's TPU-like example, int8 throughout.
BASE_PRESET = "scalesim_32x32"
DATAFLOW = "ws"
#: Agreement asked of DRAM bytes where both models move the same data (docs/validation.md).
TOLERANCE = 0.15


class ZigZagCompareError(ValueError):
    """A layer or hardware the matched ZigZag set-up cannot express; names it and the reason."""


def comparison_hardware(memory_model: str | None = None) -> Hardware:
    hardware = load_hardware(BASE_PRESET).replace("pe.dataflow", DATAFLOW)
    if memory_model is not None:
        hardware = hardware.replace("memory.model", memory_model)
    return hardware


def memory_model(hardware: Hardware) -> str:
    """The hardware's memory model; ``scalesim`` before accelsim had a choice."""
    memory = getattr(hardware, "memory", None)
    return str(getattr(memory, "model", "scalesim"))


def zigzag_layer(layer: Layer) -> dict[str, Any]:
    """One ZigZag layer from an accelsim Conv2d (groups 1, no dilation) or Linear."""
    if isinstance(layer, Linear):
        return {
            "name": layer.name,
            "kind": "gemm",
            "m": layer.tokens,
            "k": layer.in_features,
            "n": layer.out_features,
        }
    if isinstance(layer, Conv2d):
        if layer.groups != 1 or tuple(layer.dilation) != (1, 1):
            raise ZigZagCompareError(
                f"layer {layer.name!r}: groups={layer.groups}, "
                f"dilation={layer.dilation}: the matched ZigZag workload has neither"
            )
        (oy, ox), (iy, ix) = layer.output_hw, layer.input_hw
        return {
            "name": layer.name,
            "kind": "conv",
            "k": layer.out_channels,
            "c": layer.in_channels,
            "oy": oy,
            "ox": ox,
            "fy": layer.kernel_size[0],
            "fx": layer.kernel_size[1],
            "stride": list(layer.stride),
            "padding": list(layer.padding),
            "iy": iy,
            "ix": ix,
        }
    raise ZigZagCompareError(f"layer {layer.name!r}: {type(layer).__name__} has no matched ZigZag layer")


def compared_layers(network: Network, names: Sequence[str] | None = None) -> list[Layer]:
    """The network's Conv2d and Linear layers (in order), or exactly ``names``."""
    if names is not None:
        unknown = [n for n in names if n not in network]
        if unknown:
            raise ZigZagCompareError(f"network {network.name!r} has no layer(s) {unknown}")
        return [network[n] for n in names]
    return [layer for layer in network if isinstance(layer, (Conv2d, Linear))]


def zigzag_spec(hardware: Hardware, layers: Sequence[Layer], *, lpf_limit: int = 6) -> dict[str, Any]:
    """The JSON ``scripts/zigzag_run.py`` reads: accelsim's hierarchy, costs and dataflow."""
    if hardware.pe.dataflow not in zigzag_run.SPATIAL:
        raise ZigZagCompareError(
            f"pe.dataflow={hardware.pe.dataflow!r}: the matched ZigZag set-up has "
            f"{', '.join(zigzag_run.SPATIAL)}"
        )
    table = load_energy_table(hardware.energy_table, hardware)
    buffers = hardware.buffers
    pj_per_byte = {"dram": {a: table.energy_pj("dram", a) for a in ("read", "write")}}
    for operand in OPERANDS:
        name = buffers.buffer_name(operand)
        pj_per_byte[f"{operand}_sram"] = {a: table.energy_pj(name, a) for a in ("read", "write")}
    ports = {op: buffers.for_operand(op) for op in OPERANDS}
    port = {op: int(max(b.read_bytes_per_cycle, b.write_bytes_per_cycle)) for op, b in ports.items()}
    return {
        "array": [hardware.pe.rows, hardware.pe.cols],
        "dataflow": hardware.pe.dataflow,
        # accelsim double-buffers: a tile may use half its buffer.
        "sram_bytes": {op: buffers.capacity_bytes(op) // 2 for op in OPERANDS},
        "sram_bytes_per_cycle": port,
        "dram_bytes_per_cycle": int(hardware.dram.bandwidth_bytes_per_cycle),
        "bits": {
            **{op: 8 * hardware.word_bytes(op) for op in OPERANDS},
            "accum": 8 * hardware.datatypes.bytes("accum"),
        },
        "pj_per_byte": pj_per_byte,
        "mac_pj": table.energy_pj("pe_array", "mac"),
        "opt": "energy",
        "lpf_limit": lpf_limit,
        "layers": [zigzag_layer(layer) for layer in layers],
    }


def _energy_by_level(report: LayerReport) -> dict[str, float]:
    """Dynamic pJ at ZigZag's levels: ``dram``, ``sram`` (every buffer), ``mac``, and ``array`` (the
    array's clocking, forwarding and accumulation, which ZigZag's matched set-up has no cost for)."""
    levels = dict.fromkeys(("dram", "sram", "mac", "array"), 0.0)
    for (component, action), pj in report.dynamic_energy_pj.items():
        if component == "pe_array":
            level = "mac" if action == "mac" else "array"
        else:
            level = "dram" if component == "dram" else "sram"
        levels[level] += pj
    return levels


def _rel(ours: float, theirs: float) -> float:
    """(ours - theirs) / theirs; 0 when both are 0."""
    if theirs == 0:
        return 0.0 if ours == 0 else float("inf")
    return (ours - theirs) / theirs


def _total(figures: dict, level: str) -> int:
    return sum(figures[f"{level}_read_bytes"].values()) + sum(figures[f"{level}_write_bytes"].values())


def compare_rows(report_layers: Sequence[LayerReport], zigzag_layers: Sequence[dict]) -> list[dict]:
    """One row per layer: DRAM bytes per operand and in total, SRAM bytes, energy per level, both sides."""
    rows = []
    for ours, theirs in zip(report_layers, zigzag_layers, strict=True):
        if ours.name != theirs["name"]:
            raise ZigZagCompareError(
                f"layer order differs: accelsim {ours.name!r}, ZigZag {theirs['name']!r}"
            )
        row: dict[str, Any] = {"layer": ours.name}
        for operand in OPERANDS:
            direction = "write" if operand == "ofmap" else "read"
            a = getattr(ours, f"dram_{direction}_bytes").get(operand, 0)
            z = theirs[f"dram_{direction}_bytes"][operand]
            row[f"dram_{operand}_bytes_accelsim"], row[f"dram_{operand}_bytes_zigzag"] = a, z
        row["dram_bytes_accelsim"] = ours.dram_bytes
        row["dram_bytes_zigzag"] = _total(theirs, "dram")
        row["dram_rel_diff"] = _rel(row["dram_bytes_accelsim"], row["dram_bytes_zigzag"])
        row["sram_bytes_accelsim"] = ours.sram_bytes
        row["sram_bytes_zigzag"] = _total(theirs, "sram")
        ours_pj = _energy_by_level(ours)
        row["dram_energy_pj_accelsim"] = ours_pj["dram"]
        row["dram_energy_pj_zigzag"] = theirs["energy_pj"]["dram"]
        row["sram_energy_pj_accelsim"] = ours_pj["sram"]
        row["sram_energy_pj_zigzag"] = sum(v for k, v in theirs["energy_pj"].items() if k.endswith("_sram"))
        row["mac_energy_pj_accelsim"] = ours_pj["mac"]
        row["mac_energy_pj_zigzag"] = theirs["energy_pj"]["mac"]
        row["array_energy_pj_accelsim"] = ours_pj["array"]
        row["cycles_accelsim"], row["cycles_zigzag"] = ours.cycles, theirs["cycles"]
        row["zigzag_temporal_mapping"] = theirs["temporal_mapping"]
        rows.append(row)
    return rows


def run_zigzag(
    spec: dict[str, Any], python: str, *, cache: Path | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """ZigZag's figures for ``spec``; with ``cache``, reused while the spec is unchanged (ZigZag's side
    does not depend on accelsim's memory model, and its mapping search is the slow part)."""
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored.get("spec") == spec:
            return stored["result"]
    result = zigzag_run.run_via(python, spec, timeout=timeout)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"spec": spec, "result": result}, indent=1))
    return result


def run_comparison(
    network: Network,
    hardware: Hardware,
    python: str,
    *,
    names: Sequence[str] | None = None,
    lpf_limit: int = 6,
    cache: Path | None = None,
    timeout: float | None = None,
) -> list[dict]:
    """Simulate ``network`` (analytical) and run ZigZag on the same layers; `compare_rows`."""
    layers = compared_layers(network, names)
    zz = run_zigzag(zigzag_spec(hardware, layers, lpf_limit=lpf_limit), python, cache=cache, timeout=timeout)
    report = simulate(network, hardware, mode="analytical")
    by_name = {layer.name: layer for layer in report.layers}
    return compare_rows([by_name[layer.name] for layer in layers], zz["layers"])


def _kib(n: float) -> str:
    return f"{n / 1024:,.1f}"


def markdown_table(rows: Sequence[dict]) -> str:
    """DRAM KiB per operand (accelsim / ZigZag), total difference, energy per level in uJ."""
    head = (
        "| layer | ifmap DRAM KiB | filter DRAM KiB | ofmap DRAM KiB | DRAM diff | SRAM KiB (array side) "
        "| DRAM uJ | SRAM uJ | MAC uJ |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        cells = [
            f"{_kib(r[f'dram_{op}_bytes_accelsim'])} / {_kib(r[f'dram_{op}_bytes_zigzag'])}"
            for op in OPERANDS
        ]
        diff = r["dram_rel_diff"]
        flag = "**" if abs(diff) > TOLERANCE else ""
        lines.append(
            f"| {r['layer']} | {' | '.join(cells)} | {flag}{diff:+.1%}{flag} | "
            f"{_kib(r['sram_bytes_accelsim'])} / {_kib(r['sram_bytes_zigzag'])} | "
            f"{r['dram_energy_pj_accelsim'] / 1e6:.2f} / {r['dram_energy_pj_zigzag'] / 1e6:.2f} | "
            f"{r['sram_energy_pj_accelsim'] / 1e6:.2f} / {r['sram_energy_pj_zigzag'] / 1e6:.2f} | "
            f"{r['mac_energy_pj_accelsim'] / 1e6:.2f} / {r['mac_energy_pj_zigzag'] / 1e6:.2f} |"
        )
    return head + "\n".join(lines) + "\n"


def write(rows: Sequence[dict], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "zigzag_resnet18.csv", out / "zigzag_resnet18.md"
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    md_path.write_text(markdown_table(rows))
    return [csv_path, md_path]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--layers", default=None, help="comma-separated layer names (default: all GEMM layers)"
    )
    parser.add_argument("--memory-model", default=None, help="accelsim memory.model (default: the preset's)")
    parser.add_argument("--lpf-limit", type=int, default=6, help="ZigZag's temporal-mapping search breadth")
    args = parser.parse_args(argv)
    python = os.environ.get("ACCELSIM_ZIGZAG_PYTHON")
    if not python:
        parser.error("set ACCELSIM_ZIGZAG_PYTHON to the interpreter of `make zigzag-venv`")
    hardware = comparison_hardware(args.memory_model)
    names = args.layers.split(",") if args.layers else None
    rows = run_comparison(
        get_network("resnet18"),
        hardware,
        python,
        names=names,
        lpf_limit=args.lpf_limit,
        cache=args.out / "zigzag_figures.json",
    )
    for path in write(rows, args.out):
        print(path)
    print(f"memory model: {memory_model(hardware)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
