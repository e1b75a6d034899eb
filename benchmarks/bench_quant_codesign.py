"""Joint bit-width + pruning co-design against pruning only, on the precision-scalable preset (issue 15).

Usage: PYTHONPATH=. python benchmarks/bench_quant_codesign.py [--networks lenet_digits,mlp_digits]
       [--bits 8,4,2] [--strategy greedy] [--seed 0] [--hardware bitfusion_16x32] [--confidence 0.95]

Per network, two `run_codesign` runs on the same hardware with the EDP objective and a 1-point
accuracy constraint: pruning only (``bits=None``) and the joint search (``bits``). Printed per
network: the EDP of each searched design, joint against pruning only, joint against the best
uniform (bits, sparsity) baseline (the uniform design of the joint run, chosen over every option
and level at every width, with and without pruning, on the validation split), test accuracies with
95% Wilson intervals, and whether the 1-point constraint holds on the test split. To explain a
miss it also prints what bounds the dense layers (`bottlenecks`) and how the uniform int<b>
plans fared on validation. Targets on lenet_digits: joint >= 1.5x below pruning only and
>= 1.3x below the best uniform baseline.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from accelsim.codesign.loop import CodesignConfig, CodesignResult, run_codesign
from accelsim.timing.bottleneck import bottlenecks

TARGET_VS_PRUNING = 1.5
TARGET_VS_UNIFORM = 1.3


def _interval(design) -> str:
    test = design.summary()["accuracy_intervals"]["test"]
    return f"{test['estimate']:.4f} [{test['low']:.4f}, {test['high']:.4f}]"


def _uniform_widths(result: CodesignResult) -> list[str]:
    """Best feasible validation accuracy and EDP of the uniform plans at each width."""
    lines = []
    for width in (None, *(result.config.bits or ())):
        records = [
            r
            for r in result.uniform_search.candidates
            if r.index > 0 and {g[2] if len(g) > 2 else None for g in r.plan} == {width}
        ]
        feasible = [r for r in records if r.feasible]
        best = min(feasible, key=lambda r: r.objective) if feasible else None
        name = "float" if width is None else f"int{width}"
        lines.append(
            f"    uniform {name:<5}: {len(feasible)}/{len(records)} feasible"
            + (f", best EDP {best.edp:.4g} (val {best.accuracy:.4f}, {best.plan[0][0]})" if best else "")
        )
    return lines


def _run(config: CodesignConfig) -> tuple[CodesignResult, float]:
    start = time.perf_counter()
    result = run_codesign(config)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="lenet_digits,mlp_digits")
    parser.add_argument("--bits", default="8,4,2")
    parser.add_argument("--strategy", default="greedy")
    parser.add_argument("--hardware", default="bitfusion_16x32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=None, help="judge the constraint on the bound")
    args = parser.parse_args()
    widths = tuple(int(w) for w in args.bits.split(","))

    for network in args.networks.split(","):
        base = CodesignConfig(
            model=network, hardware=args.hardware, objective="edp", max_accuracy_drop=1.0,
            strategy=args.strategy, seed=args.seed, confidence=args.confidence,
        )  # fmt: skip
        pruning, pruning_s = _run(base)
        joint, joint_s = _run(CodesignConfig(**{**base.__dict__, "bits": widths}))
        p, j, u = pruning.searched, joint.searched, joint.uniform
        on = "point estimate" if args.confidence is None else f"{args.confidence:g} bound"
        print(f"== {network} on {args.hardware}, EDP, 1 point ({on}), {args.strategy}, seed {args.seed}")
        print(f"  dense       EDP {joint.dense.edp:.4g}  test {_interval(joint.dense)}")
        for label, result, design in (
            ("pruning", pruning, p),
            ("uniform", joint, u),
            ("joint", joint, j),
        ):
            print(
                f"  {label:<11} EDP {design.edp:.4g}  test {_interval(design)}  "
                f"meets on test: {'yes' if result.meets_constraint(design) else 'NO'}"
                f"  ({result.search.evaluations if design is not u else result.uniform_search.evaluations}"
                " candidates)"
            )
        vs_pruning, vs_uniform = p.edp / j.edp, u.edp / j.edp
        print(
            f"  joint vs pruning-only: {vs_pruning:.2f}x (target {TARGET_VS_PRUNING}x), "
            f"joint vs best uniform (bits, sparsity): {vs_uniform:.2f}x (target {TARGET_VS_UNIFORM}x)"
        )
        plan = joint.summary()["designs"]["searched"]["layers"]
        print(
            "  joint plan (wf/af: unquantized, the hardware's int8): "
            + ", ".join(
                f"{r['layer']}={r['granularity']}@{r['sparsity']:g}"
                f"/w{r['weight_bits'] or 'f'}a{r['activation_bits'] or 'f'}"
                for r in plan
            )
        )
        for label, result in (("pruning", pruning), ("joint", joint)):
            best = result.search.best
            print(
                f"  {label} search best (validation): EDP {best.edp:.4g}, val {best.accuracy:.4f}; "
                f"final design: candidate #{result.searched.candidate}, {result.searched.attempts} fine-tuned"
            )
        bound = Counter(r.bound for r in bottlenecks(joint.dense.report))
        print(f"  dense layers bound by: {dict(bound)}")
        print("\n".join(_uniform_widths(joint)))
        print(f"  wall time: pruning {pruning_s:.0f} s, joint {joint_s:.0f} s")


if __name__ == "__main__":
    main()
