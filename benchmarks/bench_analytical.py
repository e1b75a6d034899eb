"""Analytical-mode speed: full ResNet-50 on scalesim_32x32 (target: under 0.5 s after import).

Run: .venv/bin/python benchmarks/bench_analytical.py [--repeat 7] [--memory-model reuse|scalesim]
Prints the best and median wall time of `simulate(...)` alone (network and preset loading
included, interpreter start-up and imports excluded), and the per-layer average. The default
`reuse` memory model's tiling search is cached per (layer, hardware); every timed run starts
with an empty cache, so the search is always part of the time (`--warm` keeps the cache).
"""

import argparse
import statistics
import time

from accelsim import load_hardware, simulate
from accelsim.timing.tiling import clear_cache
from workloads import get_network

TARGET_SECONDS = 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default="resnet50")
    parser.add_argument("--hardware", default="scalesim_32x32")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--memory-model", default="reuse", choices=["reuse", "scalesim"])
    parser.add_argument("--warm", action="store_true", help="keep the tiling search's cache between runs")
    args = parser.parse_args()
    hardware = load_hardware(args.hardware).replace("memory.model", args.memory_model)

    times = []
    for _ in range(args.repeat):
        if not args.warm:
            clear_cache()
        start = time.perf_counter()
        report = simulate(get_network(args.network), hardware, mode="analytical")
        times.append(time.perf_counter() - start)
    best, median = min(times), statistics.median(times)
    warm = ", warm" if args.warm else ""
    print(
        f"{args.network} on {args.hardware} ({args.memory_model}{warm}), analytical: "
        f"{len(report.layers)} layers, "
        f"{report.cycles:,} cycles"
    )
    print(
        f"best {best * 1e3:.1f} ms, median {median * 1e3:.1f} ms over {args.repeat} runs "
        f"({median / len(report.layers) * 1e6:.0f} us/layer); target < {TARGET_SECONDS * 1e3:.0f} ms: "
        f"{'met' if median < TARGET_SECONDS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
