"""What a co-design run returns: the three compared designs and the run's JSON-ready summary.

Every design keeps its per-example correctness, so the summary states Wilson intervals and the
paired comparison with dense (`honesty`) next to the simulated cycles, energy and EDP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from accelsim.codesign.bits import bits_columns
from accelsim.codesign.budget import layer_priorities
from accelsim.codesign.honesty import accuracy_intervals, against_dense, before_finetune
from accelsim.timing.bottleneck import bottlenecks
from accelsim.timing.report import Report
from pruning import Masks, SearchResult
from pruning.candidates import gene_fields
from workloads.quantization import Bits

if TYPE_CHECKING:
    from accelsim.codesign.loop import CodesignConfig


@dataclass(frozen=True)
class Design:
    """One of the three compared designs: its masks, accuracy and simulated report."""

    label: str
    masks: Masks
    val_accuracy: float
    test_accuracy: float
    report: Report
    plan: tuple | None = None
    layers: tuple[str, ...] = ()
    candidate: int | None = None  # the search record this design is
    attempts: int = 0  # candidates fine-tuned before one held up on validation
    # Per-example top-1 correctness (dataset order): the paired statistics are computed from them.
    val_correct: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), compare=False, repr=False)
    test_correct: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), compare=False, repr=False)
    # The same masks on the dense model, before any fine-tuning; None: the design was not fine-tuned.
    val_correct_before: np.ndarray | None = field(default=None, compare=False, repr=False)
    test_correct_before: np.ndarray | None = field(default=None, compare=False, repr=False)
    bits: Bits | None = None  # per-layer widths; None: a run without bit widths

    @property
    def edp(self) -> float:
        return self.report.cycles * self.report.energy_pj

    def layer_rows(self) -> list[dict[str, Any]]:
        """Per searched layer: granularity, planned sparsity, the mask's kept fraction (and widths)."""
        genes = dict(zip(self.layers, self.plan)) if self.plan else {}
        rows = []
        for name in self.masks:
            label, sparsity, _, _ = gene_fields(genes.get(name, ("dense", 0.0)))
            rows.append(
                {
                    "design": self.label,
                    "layer": name,
                    "granularity": label,
                    "sparsity": sparsity,
                    "density": self.masks.density_of(name),
                    **bits_columns(self.bits, name),
                }
            )
        return rows

    def summary(self) -> dict[str, Any]:
        r = self.report
        return {
            "test_accuracy": self.test_accuracy,
            "val_accuracy": self.val_accuracy,
            "density": self.masks.density,
            "cycles": r.cycles,
            "seconds": r.seconds,
            "energy_pj": r.energy_pj,
            "edp": self.edp,
            "ideal_speedup": r.ideal_speedup,
            "achieved_speedup": r.achieved_speedup,
            "speedup_losses_cycles": r.speedup_losses_cycles(),
            "energy_by_component_pj": r.energy_by_component_pj(),
            "layers": self.layer_rows(),
            "candidate": self.candidate,
            "final_attempts": self.attempts,
            "accuracy_intervals": accuracy_intervals(self.val_correct, self.test_correct),
            **self._before_finetune(),
        }

    def _before_finetune(self) -> dict[str, Any]:
        val, test = self.val_correct_before, self.test_correct_before
        return before_finetune(
            self.val_correct if val is None else val, self.test_correct if test is None else test
        )


@dataclass(frozen=True)
class CodesignResult:
    config: CodesignConfig
    hardware: str
    dense: Design
    uniform: Design
    searched: Design
    uniform_search: SearchResult
    search: SearchResult
    seconds: Mapping[str, float] = field(compare=False, default_factory=dict)
    # What the accuracies are: top-1, or a task's own measure (which has no per-example scores).
    accuracy_measure: str = "top-1"

    @property
    def designs(self) -> tuple[Design, Design, Design]:
        return (self.dense, self.uniform, self.searched)

    @property
    def test_threshold(self) -> float:
        return self.dense.test_accuracy - self.config.max_accuracy_drop / 100.0

    def meets_constraint(self, design: Design) -> bool:
        return design.test_accuracy >= self.test_threshold - 1e-12

    def summary(self) -> dict[str, Any]:
        """JSON-ready: config, the three designs, ratios, search statistics and timings."""
        d, u, s = self.designs
        return {
            "config": asdict(self.config),
            "model": self.config.user_model or self.config.model,
            "fine_tuning": self.config.fine_tuning,
            "accuracy_measure": self.accuracy_measure,
            "hardware": self.hardware,
            "objective": self.config.objective,
            "constraint": {
                "max_accuracy_drop_points": self.config.max_accuracy_drop,
                "confidence": self.config.confidence,
                "val_threshold": self.search.threshold,
                "test_threshold": self.test_threshold,
                "searched_meets_on_test": self.meets_constraint(s),
                "uniform_meets_on_test": self.meets_constraint(u),
            },
            "designs": {design.label: design.summary() for design in self.designs},
            "against_dense_on_test": {
                design.label: against_dense(d.test_correct, design.test_correct) for design in (u, s)
            },
            "ratios": {
                "edp_dense_over_searched": d.edp / s.edp,
                "edp_dense_over_uniform": d.edp / u.edp,
                "edp_uniform_over_searched": u.edp / s.edp,
                "cycles_dense_over_searched": d.report.cycles / s.report.cycles,
                "energy_dense_over_searched": d.report.energy_pj / s.report.energy_pj,
            },
            "search": {
                "strategy": self.search.strategy,
                "evaluations": self.search.evaluations,
                "uniform_evaluations": self.uniform_search.evaluations,
                "stopped": self.search.stopped,
                # Each searched layer's share of the dense cost: where the budget went (`budget`).
                "layer_priorities": layer_priorities(
                    d.report, objective=self.config.objective, layers=self.search.layers
                )
                if self.config.cost_priorities and self.config.strategy != "uniform"
                else None,
            },
            "dense_bottlenecks": [r.to_record() for r in bottlenecks(d.report)],
            "seconds": dict(self.seconds),
        }


__all__ = ["CodesignResult", "Design"]
