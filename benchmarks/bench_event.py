"""Event-mode speed: full ResNet-50 on scalesim_32x32 (targets: <= 2 s; <= 1 s with the default
reuse memory model's tiling search, run with an empty cache every time), and per layer against
SCALE-Sim 3.0.0 on the same layer and configuration (target >= 1000x faster).

ResNet-50 is also timed on edge_16x16 (44k folds), and on both fold by fold (`_coalesce=False`,
every fold simulated) to show what coalescing identical folds saves; the reports are identical.

Run: ACCELSIM_SCALESIM_PYTHON=/tmp/ssvenv/bin/python PYTHONPATH=. python benchmarks/bench_event.py
[--memory-model reuse|scalesim]. Without ACCELSIM_SCALESIM_PYTHON the SCALE-Sim half is skipped
(it compares SCALE-Sim's own schedule, so it always maps with the `scalesim` model).

`--sparse` times sparse-masked ResNet-50 instead (target: within 2x of the dense event-mode time):
random masks keeping 30% of each layer's weights on sparse_edge_16x16 and nm_tensor_32x32, dense
`simulate(net, hw)` against `simulate(net, hw, masks=masks, baseline=dense, explain=False)`, best
of `--repeat` (3). It also splits each time into mapping and engine (`run_engine` alone) and,
with `--check`, confirms the sparse report equals the fold-by-fold one.
Run: PYTHONPATH=. python benchmarks/bench_event.py --sparse [--check] Times are best-of-N wall times of
`simulate(...)` (imports and interpreter start excluded); SCALE-Sim's time is its own in-process
run time as reported by scripts/scalesim_run.py (interpreter start and imports excluded too).
"""

import argparse
import importlib.util
import os
import statistics
import time
from pathlib import Path

import numpy as np

from accelsim import load_hardware, map_layer, simulate
from accelsim.timing.engine import run_engine
from accelsim.timing.sparse_model import sparse_layer_model
from accelsim.timing.tiling import clear_cache
from workloads import get_network
from workloads.network import Network

TARGET_SECONDS = 2.0
TARGET_REUSE_SECONDS = 1.0
TARGET_SPEEDUP = 1000.0
# ResNet-50 layers SCALE-Sim 3.0.0 runs in well under a minute at 32x32 OS on this machine.
DEFAULT_LAYERS = ("layer1.0.conv1", "layer2.1.conv1", "layer3.1.conv1", "layer4.1.conv1")


def _scalesim_run():
    """scripts/scalesim_run.py, loaded by path (it is a script, not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "scalesim_run.py"
    spec = importlib.util.spec_from_file_location("scalesim_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _best(fn, repeat):
    """Best and median wall time of `fn` and its last result; the tiling search's cache is
    emptied before every run, so the search is always timed."""
    times = []
    for _ in range(repeat):
        clear_cache()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


SPARSE_PRESETS = ("sparse_edge_16x16", "nm_tensor_32x32")
SPARSE_TARGET_RATIO = 2.0


def sparse(repeat: int = 3, check: bool = False, presets=SPARSE_PRESETS) -> list[tuple[str, float, float]]:
    """Dense vs sparse-masked event-mode ResNet-50 per preset: prints and returns (preset, dense s,
    sparse s), best of `repeat`."""
    network = get_network("resnet50")
    rng = np.random.default_rng(0)
    layers = network.layers()
    names = [layer.name for layer in layers]
    rows = []
    for preset in presets:
        hw = load_hardware(preset)
        masks = {
            l.name: rng.random(l.weight_shape) < 0.3
            for l in layers
            if l.gemm is not None and getattr(l, "weight_shape", None) is not None
        }
        baseline = simulate(network, hw)
        dense_s, _, _ = _best(lambda: simulate(network, hw), repeat)
        sparse_s, _, report = _best(
            lambda: simulate(network, hw, masks=masks, baseline=baseline, explain=False), repeat
        )
        ratio = sparse_s / dense_s
        verdict = "met" if ratio <= SPARSE_TARGET_RATIO else "MISSED"
        print(
            f"resnet50 on {preset}, event, 30% random masks: {sum(l.folds for l in report.layers):,} folds, "
            f"{baseline.cycles:,} dense / {report.cycles:,} sparse cycles"
        )
        print(
            f"  dense {dense_s:.3f} s, sparse {sparse_s:.3f} s, ratio {ratio:.2f} "
            f"(target <= {SPARSE_TARGET_RATIO:.0f}x: {verdict}; best of {repeat})"
        )
        # Where the time goes: the mappings, and the engine alone on them.
        dense_map_s, _, dense_maps = _best(lambda: [map_layer(l, hw) for l in layers], repeat)
        sparse_map_s, _, sparse_maps = _best(
            lambda: [
                sparse_layer_model(l, hw, masks[l.name]).map() if l.name in masks else map_layer(l, hw)
                for l in layers
            ],
            repeat,
        )
        dense_engine_s, _, _ = _best(lambda: run_engine(dense_maps, names, hw), repeat)
        sparse_engine_s, _, result = _best(lambda: run_engine(sparse_maps, names, hw), repeat)
        total = sum(m.folds for m in sparse_maps)
        print(
            f"  mapping: dense {dense_map_s:.3f} s, sparse {sparse_map_s:.3f} s; engine: dense "
            f"{dense_engine_s:.3f} s, sparse {sparse_engine_s:.3f} s ({total - result.coalesced_folds:,} of "
            f"{total:,} folds simulated with events)"
        )
        if check:
            stepped = simulate(network, hw, masks=masks, baseline=baseline, explain=False, _coalesce=False)
            same = "identical report" if stepped.to_json() == report.to_json() else "REPORTS DIFFER"
            print(f"  fold by fold: {same}")
        rows.append((preset, dense_s, sparse_s))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sparse", action="store_true", help="time sparse-masked against dense ResNet-50 (only that)"
    )
    parser.add_argument("--check", action="store_true", help="with --sparse: compare with fold by fold")
    parser.add_argument("--hardware", default="scalesim_32x32")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per timing, best kept (5; 3 with --sparse)"
    )
    parser.add_argument("--layers", nargs="*", default=list(DEFAULT_LAYERS))
    parser.add_argument(
        "--also", nargs="*", default=["edge_16x16"], help="more presets to time full ResNet-50 on (no target)"
    )
    parser.add_argument(
        "--stepped-repeat",
        type=int,
        default=2,
        help="runs of the fold-by-fold (uncoalesced) engine, 0 to skip",
    )
    parser.add_argument("--memory-model", default="reuse", choices=["reuse", "scalesim"])
    args = parser.parse_args()
    if args.sparse:
        sparse(args.repeat or 3, args.check)
        return
    args.repeat = args.repeat or 5
    hardware = load_hardware(args.hardware).replace("memory.model", "scalesim")
    network = get_network("resnet50")
    target_s = TARGET_REUSE_SECONDS if args.memory_model == "reuse" else TARGET_SECONDS

    for preset in [args.hardware, *args.also]:
        hw = load_hardware(preset).replace("memory.model", args.memory_model)
        best, median, report = _best(lambda: simulate(network, hw, mode="event"), args.repeat)
        folds = sum(l.folds for l in report.layers)
        print(
            f"resnet50 on {hw.name} ({args.memory_model}), event: {len(report.layers)} layers, "
            f"{folds:,} folds, "
            f"{report.cycles:,} cycles"
        )
        target = (
            f"; target <= {target_s:.1f} s: {'met' if best <= target_s else 'MISSED'}"
            if preset == args.hardware
            else ""
        )
        print(f"  coalesced:    best {best:.3f} s, median {median:.3f} s over {args.repeat} runs{target}")
        if args.stepped_repeat:
            s_best, s_median, stepped = _best(
                lambda: simulate(network, hw, mode="event", _coalesce=False), args.stepped_repeat
            )
            same = "identical report" if stepped.to_json() == report.to_json() else "REPORTS DIFFER"
            print(
                f"  fold by fold: best {s_best:.3f} s, median {s_median:.3f} s over {args.stepped_repeat} "
                f"runs ({s_best / best:.1f}x slower; {same})"
            )

    python = os.environ.get("ACCELSIM_SCALESIM_PYTHON")
    if not python:
        print("ACCELSIM_SCALESIM_PYTHON unset: SCALE-Sim comparison skipped")
        return
    runner = _scalesim_run()
    sram_kb = [hardware.buffers.capacity_bytes(op) // 1024 for op in ("ifmap", "filter", "ofmap")]
    print(
        f"per layer vs SCALE-Sim ({python}), array {hardware.pe.rows}x{hardware.pe.cols} "
        f"{hardware.pe.dataflow}, SRAM {sram_kb} KiB, {hardware.dram.bandwidth_bytes_per_cycle:g} B/cycle"
    )
    print(
        "  simulate_ms: simulate() of the one-layer network (energy table and mapping included);"
        " engine_ms: the event engine on the mapped layer"
    )
    print(
        f"  {'layer':18s} {'folds':>6s} {'cycles':>9s} {'scalesim_cycles':>15s} {'scalesim_s':>10s} "
        f"{'simulate_ms':>11s} {'speedup':>9s} {'engine_ms':>9s} {'speedup':>9s}"
    )
    for name in args.layers:
        layer = network[name]
        single = Network.sequential(name, [layer])
        best, _, ours = _best(lambda: simulate(single, hardware, mode="event"), max(args.repeat, 20))
        spec = {
            "array": [hardware.pe.rows, hardware.pe.cols],
            "dataflow": hardware.pe.dataflow,
            "sram_kb": sram_kb,
            "bandwidth": int(hardware.dram.bandwidth_bytes_per_cycle),
            "layers": runner.layer_to_specs(layer),
        }
        mapping = [map_layer(layer, hardware)]
        engine_best, _, _ = _best(lambda: run_engine(mapping, [name], hardware), max(args.repeat, 20))
        theirs = runner.run_via(python, spec, timeout=600)
        ratio, engine_ratio = theirs["seconds"] / best, theirs["seconds"] / engine_best
        cycles = sum(row["total_cycles"] for row in theirs["layers"])
        print(
            f"  {name:18s} {ours.layers[0].folds:6d} {ours.cycles:9,d} {cycles:15,.0f} "
            f"{theirs['seconds']:10.2f} {best * 1e3:11.2f} {ratio:8,.0f}x {engine_best * 1e3:9.2f} "
            f"{engine_ratio:8,.0f}x {'met' if ratio >= TARGET_SPEEDUP else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
