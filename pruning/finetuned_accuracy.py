"""An accuracy oracle for mask search: a short masked fine-tune, warm-started along the search path.

Measured accuracy right after pruning badly underrates a mask set (a short retraining recovers
most of the loss), and a long fine-tune of every candidate is too slow. NetAdapt (Yang et al.,
ECCV 2018) takes a middle road: a short-term fine-tune per candidate, starting from the model
the search already adapted. `FinetunedAccuracy` does the same for any strategy: a mask set is
fine-tuned for `epochs` starting from the *closest tuned ancestor* -- among the mask sets tuned
so far, the one with fewest weights whose masks contain the new ones (pruning never revives a
weight) -- or from the dense model when there is none. Along a greedy path this is gradual
pruning with retraining at every step. Results depend only on the order of calls, which a
seeded search fixes, so the same search gives the same numbers.

With ``bits`` (``workloads.quantization``) the fine-tune is quantization-aware and the accuracy is
that of the fake-quantized model (activation ranges calibrated on the training split); a tuned model
is cached per (masks, bits).

The model is a numpy ``workloads.Model`` or a ``workloads.torch_model.TorchModel``: both evaluate
under masks, and a model with its own ``finetune`` method (the torch adapter) tunes itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from functools import partial

import numpy as np

from pruning._checks import check_int
from pruning.masks import Masks
from workloads.datasets import Dataset
from workloads.models import Model
from workloads.quantization import Bits, bits_key
from workloads.torch_model import TorchModel
from workloads.training import Adam, Optimizer, finetune

AnyModel = Model | TorchModel


def masked_finetune(
    model: AnyModel,
    dataset: Dataset,
    masks: Mapping[str, np.ndarray],
    *,
    epochs: int,
    optimizer: Optimizer,
    seed: int,
    batch_size: int = 64,
    bits: Bits | None = None,
) -> AnyModel:
    """``epochs`` of masked (with ``bits`` quantization-aware) fine-tuning of either model kind: the two
    fine-tune through the same signature, only the entry point differs."""
    train = model.finetune if isinstance(model, TorchModel) else partial(finetune, model)
    result = train(
        dataset, dict(masks), epochs=epochs, optimizer=optimizer, seed=seed, batch_size=batch_size, bits=bits
    )
    return result.model


class FinetunedAccuracy:
    """``accuracy(masks)``: top-1 on ``split`` after a short warm-started masked fine-tune."""

    def __init__(
        self,
        model: AnyModel,
        dataset: Dataset,
        *,
        split: str = "val",
        epochs: int = 3,
        optimizer: Optimizer | None = None,
        seed: int = 0,
        batch_size: int = 64,
        max_models: int = 512,
    ) -> None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"FinetunedAccuracy: split must be 'train', 'val' or 'test', got {split!r}")
        check_int("FinetunedAccuracy", "epochs", epochs, minimum=0)
        check_int("FinetunedAccuracy", "seed", seed, minimum=0)
        check_int("FinetunedAccuracy", "max_models", max_models, minimum=1)
        self.model, self.dataset, self.split = model, dataset, split
        self.epochs, self.seed, self.batch_size = epochs, seed, batch_size
        self.optimizer = Adam(lr=2e-3) if optimizer is None else optimizer
        self.max_models = max_models
        self._tuned: OrderedDict[tuple[str, str], tuple[Masks, AnyModel, int]] = OrderedDict()
        self.finetunes = 0

    def _ancestor(self, masks: Masks) -> AnyModel:
        best, best_nnz = self.model, None
        for old, model, nnz in self._tuned.values():
            if best_nnz is not None and nnz >= best_nnz:
                continue
            if all(not np.any(masks[name] & ~old[name]) for name in masks if name in old):
                best, best_nnz = model, nnz
        return best

    def tuned_model(self, masks: Mapping[str, np.ndarray], bits: Bits | None = None) -> AnyModel:
        """The fine-tuned model for ``masks`` and ``bits`` (tuning it now if it was never asked for)."""
        masks = masks if isinstance(masks, Masks) else Masks(masks)
        quantized = bits_key(bits)
        if all(m.all() for m in masks.values()) and not quantized:
            return self.model
        key = (masks.content_hash(), quantized)
        entry = self._tuned.get(key)
        if entry is not None:
            return entry[1]
        start = self._ancestor(masks)
        model = start if self.epochs == 0 else self._finetune(start, masks, bits)
        self.finetunes += 1
        self._tuned[key] = (masks, model, masks.nnz)
        if len(self._tuned) > self.max_models:
            self._tuned.popitem(last=False)
        return model

    def _finetune(self, start: AnyModel, masks: Masks, bits: Bits | None) -> AnyModel:
        return masked_finetune(
            start, self.dataset, masks, epochs=self.epochs, optimizer=self.optimizer, seed=self.seed,
            batch_size=self.batch_size, bits=bits,
        )  # fmt: skip

    def __call__(self, masks: Mapping[str, np.ndarray], bits: Bits | None = None) -> float:
        masks = masks if isinstance(masks, Masks) else Masks(masks)
        return self.tuned_model(masks, bits).accuracy(self.dataset, self.split, masks=dict(masks), bits=bits)
