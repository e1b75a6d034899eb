"""Statistical honesty for a co-design run: intervals on every accuracy, and constraints on a bound.

Accuracies are measured on a few hundred examples, so every one is reported with its Wilson
interval and every design is compared with the dense one *paired* (same examples): Newcombe's
interval of the difference and the exact McNemar p (`pruning.statistics`). With a ``confidence``
level the accuracy constraint holds on the upper limit of the paired drop interval on the
validation split instead of on the point estimate; the test split is only ever reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from pruning.statistics import (
    DEFAULT_CONFIDENCE,
    PairedCounts,
    compare,
    newcombe_paired_interval,
    wilson_interval,
)

#: Level of the intervals the report states (the constraint's level is the run's own ``confidence``).
REPORT_CONFIDENCE = DEFAULT_CONFIDENCE


class _Tunes(Protocol):
    def tuned_model(self, masks: Mapping[str, np.ndarray]) -> Any: ...


class BoundedAccuracy:
    """The search's accuracy oracle read at a confidence bound: ``dense - upper limit of the drop``.

    ``MaxDrop(points)`` then accepts a candidate exactly when the upper limit of the paired
    (Newcombe) drop interval on the validation split is at most ``points`` -- the same test as
    ``constraint_holds(..., confidence=)``. The dense model itself scores its point estimate, which
    is the reference the threshold is drawn from.
    """

    def __init__(self, oracle: _Tunes, dense_correct: np.ndarray, dataset: Any, confidence: float) -> None:
        self.oracle, self.dense_correct = oracle, dense_correct
        self.dataset, self.confidence = dataset, confidence

    def __call__(self, masks: Mapping[str, np.ndarray]) -> float:
        dense_accuracy = float(np.mean(self.dense_correct))
        if all(np.all(m) for m in masks.values()):
            return dense_accuracy
        x, y = self.dataset.split("val")
        pruned = np.asarray(self.oracle.tuned_model(masks).predict(x, masks=dict(masks)) == y)
        counts = PairedCounts.from_correct(self.dense_correct, pruned)
        return dense_accuracy - newcombe_paired_interval(counts, confidence=self.confidence).high


def accuracy_intervals(val_correct: np.ndarray, test_correct: np.ndarray) -> dict[str, Any]:
    """Wilson intervals of the validation and test accuracies."""
    return {
        split: wilson_interval(int(np.sum(c)), len(c), confidence=REPORT_CONFIDENCE).to_dict()
        for split, c in (("val", val_correct), ("test", test_correct))
    }


def before_finetune(val_correct: np.ndarray, test_correct: np.ndarray) -> dict[str, Any]:
    """A design's masks on the dense weights, before fine-tuning: accuracies and Wilson intervals."""
    return {
        "val_accuracy_before_finetune": float(np.mean(val_correct)),
        "test_accuracy_before_finetune": float(np.mean(test_correct)),
        "accuracy_intervals_before_finetune": accuracy_intervals(val_correct, test_correct),
    }


def against_dense(dense_test_correct: np.ndarray, test_correct: np.ndarray) -> dict[str, object]:
    """A design against dense on the test split: both intervals, the paired difference, McNemar's p."""
    return compare(dense_test_correct, test_correct, confidence=REPORT_CONFIDENCE).to_dict()


__all__ = ["BoundedAccuracy", "REPORT_CONFIDENCE", "accuracy_intervals", "against_dense", "before_finetune"]
