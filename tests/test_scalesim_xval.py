"""Cross-validation of accelsim.timing.mapping against SCALE-Sim 3.0.0 (see docs/validation.md).

(a) live: small layers x 3 dataflows x small arrays, run through SCALE-Sim in the interpreter
    named by ACCELSIM_SCALESIM_PYTHON (or this one, if it imports scalesim); skipped otherwise.
(b) recorded: tests/data/scalesim_recorded.json (scripts/record_scalesim.py), always run.
(c) live round trip: `accelsim export scalesim` files for the live layers, run by SCALE-Sim's own
    command line unchanged, then read back with the topology and cfg readers.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from scalesim_peer import load_script, scalesim_python

from accelsim.arch.hardware import load_hardware
from accelsim.arch.scalesim_cfg import format_cfg, read_cfg, write_scalesim
from accelsim.timing.mapping import map_layer
from workloads.importers.scalesim_topology import format_layout, layer_rows, parse_topology, read_topology
from workloads.layers import Conv2d, Linear, MatMul
from workloads.network import Network

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "data" / "scalesim_recorded.json"


runner = load_script("scalesim_run")


def _hw(rows: int, cols: int, dataflow: str, sram_kb: int = 1024):
    """A duck-typed Hardware with SCALE-Sim's conventions: 1-byte words, sram_kb per buffer."""
    return SimpleNamespace(
        pe=SimpleNamespace(rows=rows, cols=cols, dataflow=dataflow, stream_cycles=lambda steps, *_: steps),
        buffers=SimpleNamespace(capacity_bytes=lambda operand: sram_kb * 1024),
        word_bytes=lambda operand: 1,
        bytes_of=lambda operand, words: words * 1,
        datatypes=SimpleNamespace(bits=lambda operand: 8 * 1),
        memory=SimpleNamespace(model="scalesim"),  # SCALE-Sim's fold order and refetches
    )


def check_against_scalesim(layer, hw, ss_layers: list[dict], *, dram: bool, bandwidth: int = 64) -> None:
    """Assert exact agreement of cycles, efficiencies and SRAM counts (and DRAM within 5%)."""
    m = map_layer(layer, hw)
    R, C, df = hw.pe.rows, hw.pe.cols, hw.pe.dataflow
    assert len(ss_layers) == layer.gemm.groups
    # SCALE-Sim's "Total Cycles" is the index of the last cycle: stall-free cycles = T - S + 1.
    ss_cycles = sum(int(s["total_cycles"] - s["stall_cycles"]) + 1 for s in ss_layers)
    assert m.compute_cycles == ss_cycles
    # Every group has the same folds, so the mean over folds is the mean over groups.
    ss_eff = sum(s["mapping_efficiency_pct"] for s in ss_layers) / len(ss_layers) / 100
    ss_util = sum(s["compute_util_pct"] for s in ss_layers) / len(ss_layers) / 100
    assert m.mapping_efficiency == pytest.approx(ss_eff, rel=1e-9)
    assert m.compute_utilisation == pytest.approx(ss_util, rel=1e-9)
    assert m.sram_reads["ifmap"] == sum(int(s["sram_ifmap_reads"]) for s in ss_layers)
    assert m.sram_reads["filter"] == sum(int(s["sram_filter_reads"]) for s in ss_layers)
    ss_writes = sum(int(s["sram_ofmap_writes"]) for s in ss_layers)
    if df == "os":  # SCALE-Sim adds R + C per fold (counting slip); we do not.
        ss_writes -= (R + C) * m.folds
    assert m.sram_writes["ofmap"] == ss_writes
    if dram:
        _check_dram(m, layer.gemm, R, C, df, ss_layers, bandwidth)


def scalesim_null_padded_reads(df: str, m: int, k: int, n: int, R: int, C: int, bw: int) -> dict:
    """SCALE-Sim's DRAM read words for one group when the operand fits in half its SRAM.

    It fetches its prefetch matrix once: the operand matrix with the array dimension padded to
    whole folds by null (-1) slots, rounded up to whole lines of ``bw`` words (docs D3).
    """

    def up(x, q):
        return -(-x // q) * q

    ifmap, filt = {
        "ws": (m * up(k, R), k * up(n, C)),
        "is": (k * up(m, C), n * up(k, R)),
        "os": (k * up(m, R), k * up(n, C)),
    }[df]
    return {"ifmap": up(ifmap, bw), "filter": up(filt, bw)}


def _check_dram(m, g, R, C, df, ss_layers, bandwidth) -> None:
    """Operands fit: SCALE-Sim = our once-only traffic + its null padding and line rounding."""
    padded = scalesim_null_padded_reads(df, g.m, g.k, g.n, R, C, bandwidth)
    ours_words = {"ifmap": g.m * g.k, "filter": g.k * g.n}
    for op in ("ifmap", "filter"):
        ss = sum(s[f"dram_{op}_reads"] for s in ss_layers)
        assert ss == g.groups * padded[op], op  # we understand SCALE-Sim exactly
        assert m.dram_read_bytes[op] == g.groups * ours_words[op], op  # 1-byte words
        if padded[op] <= 1.05 * ours_words[op]:  # little padding: within 5%
            assert m.dram_read_bytes[op] == pytest.approx(ss, rel=0.05), op
    if df == "os" or math.ceil(g.k / R) == 1:  # no partial-sum folds (docs D2)
        ss = sum(s["dram_ofmap_writes"] for s in ss_layers)
        assert m.dram_write_bytes["ofmap"] == pytest.approx(ss, rel=0.05)


LIVE_LAYERS = [
    Conv2d("conv3x3_s1_p1", 3, 5, (3, 3), (6, 6), padding=(1, 1)),
    Conv2d("conv3x3_s2_p1", 4, 6, (3, 3), (7, 6), stride=(2, 2), padding=(1, 1)),
    Conv2d("conv1x1", 9, 7, (1, 1), (5, 5)),
    Conv2d("conv_rect_k", 2, 5, (1, 3), (5, 7), padding=(0, 1)),
    Conv2d("conv5x5_s3", 2, 3, (5, 5), (11, 9), stride=(3, 3)),
    Conv2d("grouped_g2", 4, 6, (3, 3), (5, 5), groups=2),
    Conv2d("depthwise_g3", 3, 3, (3, 3), (6, 6), padding=(1, 1), groups=3),
    Linear("fc_as_1x1", in_features=13, out_features=10, tokens=3),
    Linear("fc_1token", in_features=20, out_features=9, tokens=1),
    MatMul("matmul_2heads", m=6, k=5, n=7, heads=2),
]
LIVE_ARRAYS = [(4, 4), (8, 8), (8, 4)]


@pytest.fixture(scope="module")
def live_results():
    python = scalesim_python()
    if python is None:
        pytest.skip("SCALE-Sim not available (set ACCELSIM_SCALESIM_PYTHON)")
    results = {}
    specs, owners = [], []
    for layer in LIVE_LAYERS:
        for s in runner.layer_to_specs(layer):
            specs.append(s)
            owners.append(layer.name)
    for rows, cols in LIVE_ARRAYS:
        for df in ("ws", "os", "is"):
            out = runner.run_via(
                python,
                {
                    "array": [rows, cols],
                    "dataflow": df,
                    "sram_kb": [1024, 1024, 1024],
                    "bandwidth": 64,
                    "layers": specs,
                },
                timeout=120,
            )
            for owner, rec in zip(owners, out["layers"]):
                results.setdefault((rows, cols, df, owner), []).append(rec)
    return results


@pytest.mark.parametrize("rows,cols", LIVE_ARRAYS)
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("layer", LIVE_LAYERS, ids=lambda l: l.name)
def test_live_agreement(live_results, layer, rows, cols, dataflow):
    check_against_scalesim(
        layer, _hw(rows, cols, dataflow), live_results[(rows, cols, dataflow, layer.name)], dram=True
    )


def _recorded():
    data = json.loads(RECORDED.read_text())
    return data["records"]


@pytest.mark.parametrize(
    "record", _recorded() if RECORDED.exists() else [], ids=lambda r: f"{r['case']}-{r['dataflow']}"
)
def test_recorded_agreement(record):
    import workloads.layers as layers

    layer = getattr(layers, record["kind"])(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in record["layer"].items()}
    )
    rows, cols = record["array"]
    hw = _hw(rows, cols, record["dataflow"], sram_kb=record["sram_kb"][0])
    check_against_scalesim(layer, hw, record["scalesim"], dram=True, bandwidth=record["bandwidth"])


def test_recorded_file_present():
    assert RECORDED.exists(), "run scripts/record_scalesim.py"
    data = json.loads(RECORDED.read_text())
    assert data["scalesim_version"] == "3.0.0"
    assert "record_scalesim.py" in data["command"]
    assert {r["dataflow"] for r in data["records"]} == {"ws", "os", "is"}


# ------------------------------------------------------------------ round trip through exported files

ROUND_TRIP_ARRAY = (8, 8)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory):
    """`accelsim export scalesim`'s files for LIVE_LAYERS, run by SCALE-Sim's own command line."""
    python = scalesim_python()
    if python is None:
        pytest.skip("SCALE-Sim not available (set ACCELSIM_SCALESIM_PYTHON)")
    network = Network.sequential("round_trip", LIVE_LAYERS)
    runs = {}
    for df in ("ws", "os", "is"):
        folder = tmp_path_factory.mktemp(f"export_{df}")
        hw = load_hardware("scalesim_32x32").replace(
            "pe", {"rows": ROUND_TRIP_ARRAY[0], "cols": ROUND_TRIP_ARRAY[1], "dataflow": df}
        )
        files = write_scalesim(network, hw, folder)
        results = folder / "results"
        proc = subprocess.run(
            files.command(python, str(results)),
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[df] = (
            files,
            runner._read_report(str(results / network.name / "COMPUTE_REPORT.csv"), runner.COMPUTE_KEYS),
        )
    return network, runs


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_live_round_trip_through_exported_files(round_trip, dataflow):
    """Export, run SCALE-Sim on the files unchanged, import them back: stall-free cycles all equal."""
    network, runs = round_trip
    files, report = runs[dataflow]
    hw = read_cfg(files.cfg).hardware
    assert (hw.pe.rows, hw.pe.cols, hw.pe.dataflow) == (*ROUND_TRIP_ARRAY, dataflow)
    rows, kind = parse_topology(Path(files.topology).read_text())
    imported = read_topology(files.topology).network
    assert len(imported) == len(rows) and kind == "conv"
    # SCALE-Sim reports one line per row, a DP row one per channel; stall-free cycles = T - S + 1.
    stall_free = iter(int(r["total_cycles"] - r["stall_cycles"]) + 1 for r in report)
    per_row = [sum(next(stall_free) for _ in range(row.channels if row.depthwise else 1)) for row in rows]
    assert next(stall_free, None) is None
    assert [map_layer(layer, hw).compute_cycles for layer in imported] == per_row
    rows_left = iter(per_row)
    for layer in network:
        theirs = sum(next(rows_left) for _ in layer_rows(layer))
        assert map_layer(layer, hw).compute_cycles == theirs, layer.name


def test_live_gemm_topology_reads_as_scalesim_runs_it(tmp_path):
    """A GEMM-format topology (`-i gemm`) run by SCALE-Sim and read by read_topology: same cycles."""
    python = scalesim_python()
    if python is None:
        pytest.skip("SCALE-Sim not available (set ACCELSIM_SCALESIM_PYTHON)")
    topology = tmp_path / "gemm.csv"
    topology.write_text("Layer, M, N, K,\nqk, 6, 9, 5,\nproj, 3, 4, 17,\nwide, 10, 13, 2,\n")
    rows, kind = parse_topology(topology.read_text())
    (tmp_path / "layout.csv").write_text(format_layout(rows))
    cfg = tmp_path / "gemm.cfg"
    cfg.write_text(
        format_cfg(load_hardware("scalesim_32x32").replace("pe", {"rows": 4, "cols": 8, "dataflow": "ws"}))[0]
    )
    command = [
        python,
        "-m",
        "scalesim.scale",
        "-c",
        str(cfg),
        "-t",
        str(topology),
        "-l",
        str(tmp_path / "layout.csv"),
        "-p",
        str(tmp_path / "results"),
        "-i",
        "gemm",
    ]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = runner._read_report(
        str(tmp_path / "results" / "scalesim_32x32" / "COMPUTE_REPORT.csv"), runner.COMPUTE_KEYS
    )
    hw = read_cfg(cfg).hardware
    imported = read_topology(topology).network
    assert kind == "gemm" and [type(layer).__name__ for layer in imported] == ["Linear"] * 3
    assert [map_layer(layer, hw).compute_cycles for layer in imported] == [
        int(r["total_cycles"] - r["stall_cycles"]) + 1 for r in report
    ]
