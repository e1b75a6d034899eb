"""The importance criteria a co-design run can rank weights by (``CodesignConfig.importance``).

``l1`` and ``l2`` read the weights alone. The others are scored from the model on a seeded subset
of the *training* split (`workloads.importance_inputs`, at most `MAX_EXAMPLES` examples):
``gradient`` (|dL/dw|) and ``taylor`` (|w dL/dw|) from the mean loss gradient, ``apoz``,
``mean_activation`` and ``entropy`` from the recorded layer outputs; ``random`` draws uniform
scores from the run's seed (the control every criterion should beat).

`scorer` binds a criterion to one model: the inputs are computed once, the scores with them, and
the result is a `pruning.FixedScores`, so a search prunes every plan from the same ranking. The
weight-only criteria are returned as they are (scored on whatever weights ``prune`` is given), which
keeps the default ``l1`` path exactly what it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from accelsim.codesign.executed_model import ExecutedModel
from accelsim.codesign.sources import AnyModel
from pruning import Masks
from pruning.importance import IMPORTANCES as PRUNING_CRITERIA, FixedScores, Importance
from workloads.datasets import Dataset
from workloads.importance_inputs import importance_inputs

#: The registry of `pruning.importance`: the criteria the field compares, by their CLI names.
CRITERIA: Mapping[str, Importance] = PRUNING_CRITERIA
IMPORTANCES = tuple(CRITERIA)
NEEDS_GRADS = frozenset({"gradient", "taylor"})
NEEDS_ACTIVATIONS = frozenset({"apoz", "mean_activation", "entropy"})
#: Training examples the data-driven criteria are scored on (memory: this many layer outputs).
MAX_EXAMPLES = 256


def scorer(
    name: str,
    model: AnyModel,
    dataset: Dataset,
    *,
    seed: int,
    masks: Mapping[str, np.ndarray] | None = None,
) -> Importance:
    """Criterion ``name`` bound to ``model`` (under ``masks``): its scores computed now, from train."""
    if name not in CRITERIA:
        raise ValueError(f"codesign: importance must be one of {list(IMPORTANCES)}, got {name!r}")
    criterion = CRITERIA[name]
    if name in ("l1", "l2"):
        return criterion
    needs_grads, needs_activations = name in NEEDS_GRADS, name in NEEDS_ACTIVATIONS
    inputs = None
    if needs_grads or needs_activations:
        if isinstance(model, ExecutedModel):
            raise ValueError(
                f"codesign: importance {name!r} needs gradients or layer outputs of a trainable model; "
                f"{model.name!r} is only executed (ONNX): use l1, l2 or random"
            )
        inputs = importance_inputs(
            model,
            dataset,
            seed=seed,
            max_examples=MAX_EXAMPLES,
            grads=needs_grads,
            activations=needs_activations,
            masks=masks,
        )
    weights = model.weights
    scores = criterion(
        weights,
        grads=None if inputs is None else inputs.grads,
        activations=None if inputs is None else inputs.activations,
        rng=seed,
    )
    return FixedScores(scores, norm_power=criterion.norm_power)


def rescorer(name: str, dataset: Dataset, *, seed: int) -> Callable[[AnyModel, Masks], Importance]:
    """``(model, masks) -> scorer(name, model, dataset, seed=seed, masks=masks)``: re-scoring as weights change."""

    def rescore(model: AnyModel, masks: Masks) -> Importance:
        return scorer(name, model, dataset, seed=seed, masks=masks)

    return rescore


__all__ = [
    "CRITERIA",
    "IMPORTANCES",
    "MAX_EXAMPLES",
    "NEEDS_ACTIVATIONS",
    "NEEDS_GRADS",
    "rescorer",
    "scorer",
]
