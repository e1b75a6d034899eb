"""Accuracy of a pruned model measured on what the sparse kernels compute.

`workloads.Model.accuracy` runs the dense numpy training graph with masked weights; this one runs
`execute`, so the figure a search constrains is the accuracy of the kernels that really execute
the pruned layers (CSR, BSR, N:M, ... chosen per layer).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from accelsim.sparse.execute import execute
from workloads.datasets import Dataset
from workloads.models import Model
from workloads.quantization import Bits

#: Inputs per `execute` call: large enough to amortise weight encoding, small enough for memory.
BATCH = 512


def accuracy(
    model: Model,
    masks: Mapping[str, np.ndarray] | None,
    dataset: Dataset,
    split: str = "test",
    *,
    formats: Mapping[str, object] | None = None,
    bits: Bits | None = None,
) -> float:
    """Top-1 accuracy (a fraction in [0, 1]) of `model` pruned by `masks` on `dataset`'s `split`.

    With `bits` the quantized layers run on integers, input ranges calibrated on the train split.
    """
    x, y = dataset.split(split)
    if len(y) == 0:
        raise ValueError(f"dataset {dataset.name!r}: split {split!r} is empty")
    ranges = model.ranges(dataset, masks=masks, bits=bits)
    inputs = model.prepare_inputs(x)
    correct = 0
    for start in range(0, len(y), BATCH):
        batch = inputs[start : start + BATCH]
        logits = execute(
            model.network, model.weights, masks, batch, formats=formats, bits=bits, ranges=ranges
        )
        # Linear layers keep a token axis of length 1: (N, 1, classes) -> (N, classes).
        logits = np.asarray(logits).reshape(len(batch), -1)
        correct += int(np.sum(logits.argmax(axis=1) == y[start : start + BATCH]))
    return correct / len(y)
