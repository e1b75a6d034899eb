"""Top-1 evaluation under masks and bit widths, shared by the numpy ``Model`` and the torch adapter.

Both models give ``logits`` (with ``ranges`` when ``bits`` quantize layer inputs), ``calibrate`` and
``check_bits``; everything measured on a dataset split is built on those here, once. With ``bits`` the
input ranges are calibrated on the dataset's *training* split, never on the split being measured.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from workloads import nn
from workloads.datasets import Dataset
from workloads.quantization import ActivationRanges, Bits, LayerBits, needs_ranges

__all__ = ["EvaluatedModel", "Evaluation"]


@dataclass(frozen=True)
class Evaluation:
    """Top-1 accuracy (a fraction) and mean cross-entropy of a model on ``count`` examples."""

    accuracy: float
    loss: float
    count: int


class EvaluatedModel(ABC):
    """``predict``, ``correct``, ``evaluate`` and ``accuracy`` from a model's ``logits`` and ``calibrate``."""

    __slots__ = ()

    @abstractmethod
    def logits(
        self,
        x: np.ndarray,
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
        ranges: ActivationRanges | None = None,
    ) -> np.ndarray: ...

    @abstractmethod
    def calibrate(
        self, x_train: np.ndarray, *, masks: Mapping[str, np.ndarray] | None = None, bits: Bits | None = None
    ) -> ActivationRanges: ...

    @abstractmethod
    def check_bits(self, bits: Bits | None) -> dict[str, LayerBits]: ...

    def ranges(
        self, dataset: Dataset, *, masks: Mapping[str, np.ndarray] | None = None, bits: Bits | None = None
    ) -> ActivationRanges | None:
        """The input ranges ``bits`` need, calibrated on ``dataset``'s train split (None if none needed)."""
        checked = self.check_bits(bits)
        if not needs_ranges(checked):
            return None
        return self.calibrate(dataset.split("train")[0], masks=masks, bits=checked)

    def predict(
        self,
        x: np.ndarray,
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
        ranges: ActivationRanges | None = None,
    ) -> np.ndarray:
        return self.logits(x, masks=masks, bits=bits, ranges=ranges).argmax(axis=1)

    def correct(
        self,
        dataset: Dataset,
        split: str = "test",
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
    ) -> np.ndarray:
        """Per-example top-1 correctness (bool, dataset order): what paired statistics need."""
        x, y = dataset.split(split)
        ranges = self.ranges(dataset, masks=masks, bits=bits)
        return np.asarray(self.predict(x, masks=masks, bits=bits, ranges=ranges) == y, dtype=bool)

    def evaluate(
        self,
        dataset: Dataset,
        split: str = "test",
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
    ) -> Evaluation:
        """Accuracy and mean cross-entropy on ``split`` (NaN for an empty split)."""
        x, y = dataset.split(split)
        if not len(y):
            return Evaluation(accuracy=float("nan"), loss=float("nan"), count=0)
        logits = self.logits(x, masks=masks, bits=bits, ranges=self.ranges(dataset, masks=masks, bits=bits))
        loss, _ = nn.softmax_cross_entropy(logits, y)
        return Evaluation(accuracy=float(np.mean(logits.argmax(axis=1) == y)), loss=loss, count=len(y))

    def accuracy(
        self,
        dataset: Dataset,
        split: str = "test",
        *,
        masks: Mapping[str, np.ndarray] | None = None,
        bits: Bits | None = None,
    ) -> float:
        """Top-1 accuracy (fraction in [0, 1]) on ``split`` with ``masks`` and ``bits`` applied."""
        return self.evaluate(dataset, split, masks=masks, bits=bits).accuracy
