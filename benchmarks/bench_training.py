"""Train mlp_digits and lenet_digits from scratch on the digits split; print wall time and accuracy.

Usage: PYTHONPATH=. python benchmarks/bench_training.py [--repeat N] [--seed S]

Bypasses the weight cache (always trains). Reports the best of N wall times, since the machine is
shared; the accuracy is the same every repeat (training is deterministic).
"""

from __future__ import annotations

import argparse
import time

from workloads.datasets import load_digits
from workloads.models import build_model
from workloads.training import recipe, train_with_config

TARGET_ACCURACY = 0.97
TIME_BUDGET_S = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per model; best wall time is reported")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    dataset = load_digits()
    sizes = dataset.sizes()
    print(f"digits: train {sizes['train']}, val {sizes['val']}, test {sizes['test']}; seed {args.seed}")
    print(f"{'model':<14}{'params':>9}{'epochs':>8}{'best s':>9}  {'all s':<30}{'val %':>8}{'test %':>8}  ok")
    for name in ("mlp_digits", "lenet_digits"):
        config = recipe(name, seed=args.seed)
        times_s, result = [], None
        for _ in range(args.repeat):
            model = build_model(name, seed=args.seed)
            start = time.perf_counter()
            result = train_with_config(model, dataset, config)
            times_s.append(time.perf_counter() - start)
        test = result.model.accuracy(dataset, "test")
        val = result.model.accuracy(dataset, "val")
        ok = test >= TARGET_ACCURACY and min(times_s) < TIME_BUDGET_S
        all_s = " ".join(f"{t:.2f}" for t in times_s)
        print(
            f"{name:<14}{result.model.parameter_count:>9,}{config.epochs:>8}{min(times_s):>9.2f}  {all_s:<30}"
            f"{100 * val:>8.2f}{100 * test:>8.2f}  {'yes' if ok else 'NO'}"
        )


if __name__ == "__main__":
    main()
