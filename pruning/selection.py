"""Unit selection on score arrays: ``compute_mask`` for one layer, ``compute_global_masks`` across layers.

These functions see only arrays (scores, current masks) and a granularity, never a ``Network``:
they rank units, honour "never revive" and count already-pruned units toward ``amount``. They are
kept apart from ``pruning.methods``, which resolves a network's defaults and overrides into per-layer
plans, couples channels through the graph and calls these functions, so that the ranking rules can
be read and tested on their own.

Semantics of ``amount`` (a float is a fraction, an int a count, as in PyTorch):

- It is the *total* number of units the layer (or the global pool) should have pruned, and units
  that are already pruned count toward it. Pruning to 0.5 and then to 0.7 gives 0.7, not 0.85.
  This is ``torch.ao.pruning``'s ``sparsity_level`` and what a schedule's ``sparsity_at(step)``
  means; note ``torch.nn.utils.prune``'s PruningContainer instead applies a new amount to the
  weights still unpruned.
- Never revive: the new mask is ``current & selection``, and already-pruned units are selected
  first, so asking for less than is already pruned changes nothing.
- A unit (block, channel) counts as already pruned only when all its weights are pruned; a
  partially pruned unit is scored on its surviving weights.
- Units are ranked by score, ties broken by position (lower index pruned first): deterministic.

Global selection ranks all units of the pooled layers against one threshold after dividing each
layer's unit scores by the mean score of its surviving units (``normalize="mean"``), so a layer's
scale (fan-in, initialisation, activation magnitude) does not decide how much of it is pruned;
``"max"``, ``"l2"`` and ``None`` (raw scores, like ``torch.nn.utils.prune.global_unstructured``) are
also offered. A global amount counts units over the pool (weights, for unstructured).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike

from pruning._checks import amount_to_count
from pruning.granularity import NM, Granularity, as_granularity, expand, pattern_mask, unit_scores
from pruning.layer_option import Amount

#: What ``prune`` and ``compute_mask`` take as a granularity: a structure or its label (``"block4x4"``).
GranularitySpec = Granularity | str

NORMALIZATIONS = ("mean", "max", "l2", None)


def check_scores(name: str, scores: ArrayLike, current: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` as float64 and ``current`` (default all-kept) as a bool mask of their shape;
    a ``ValueError`` naming the layer otherwise."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 0:
        raise ValueError(f"layer {name!r}: scores must be an array of the weight shape, got a scalar")
    if not np.isfinite(s).all():
        raise ValueError(f"layer {name!r}: scores contain NaN or inf")
    if current is None:
        mask = np.ones(s.shape, dtype=bool)
    else:
        mask = np.asarray(current)
        if mask.dtype != np.bool_:
            raise ValueError(f"layer {name!r}: current mask must have dtype bool, got {mask.dtype}")
        if mask.shape != s.shape:
            raise ValueError(f"layer {name!r}: current mask shape {mask.shape} != scores shape {s.shape}")
    return s, mask


def select_units(unit_scores: np.ndarray, alive: np.ndarray, count: int) -> np.ndarray:
    """Keep-flags after pruning ``count`` units: dead units first, then lowest score, then lowest index."""
    order = np.lexsort((np.arange(unit_scores.size), unit_scores, alive))
    keep = alive.copy()
    keep[order[:count]] = False
    return keep


def compute_mask(
    scores: ArrayLike,
    current_mask: ArrayLike | None = None,
    *,
    amount: Amount | None,
    granularity: GranularitySpec = "unstructured",
    norm_power: int = 1,
    name: str = "<layer>",
) -> np.ndarray:
    """The new bool mask of one layer: ``current_mask`` (default all-kept) with ``amount`` units pruned.

    Pure: inputs are not modified. Never revives (the result is a subset of ``current_mask``).
    ``amount`` must be ``None`` for ``NM``, whose pattern fixes the density. ``Channel`` prunes rows
    of this layer only; graph-coupled channel pruning is ``prune``'s job. ``name`` appears in errors.
    """
    gran = as_granularity(granularity)
    s, mask = check_scores(name, scores, current_mask)
    gran.check_shape(name, s.shape)
    if isinstance(gran, NM):
        if amount is not None:
            raise ValueError(
                f"layer {name!r}: amount does not apply to N:M (its density is n/m), got {amount!r}"
            )
        return pattern_mask(gran, s, mask)
    units, alive = unit_scores(gran, s, mask, norm_power)
    count = amount_to_count(f"layer {name!r}", amount, units.size)
    return mask & expand(gran, select_units(units, alive, count), s.shape)


def normalize_units(units: np.ndarray, alive: np.ndarray, how: str | None) -> np.ndarray:
    """Unit scores divided by the ``how`` (one of ``NORMALIZATIONS``) of the surviving units' scores."""
    if how is None:
        return units
    live = units[alive]
    if how == "mean":
        scale = live.mean() if live.size else 0.0
    elif how == "max":
        scale = live.max() if live.size else 0.0
    else:
        scale = np.sqrt(np.square(live).sum())
    # An all-zero layer stays all zero rather than dividing by zero; it is pruned first either way.
    return units / scale if scale > 0 else units


def check_normalize(normalize: object) -> None:
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")


def compute_global_masks(
    scores: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike] | None = None,
    *,
    amount: Amount,
    granularity: GranularitySpec = "unstructured",
    normalize: str | None = "mean",
    norm_power: int = 1,
) -> dict[str, np.ndarray]:
    """New masks for all layers of ``scores`` chosen against one threshold over normalised unit scores.

    ``amount`` counts units over the whole pool; already-pruned units count toward it (see module doc).
    """
    gran = as_granularity(granularity)
    if isinstance(gran, NM):
        raise ValueError("N:M fixes each group's density; it has no global selection (use scope='local')")
    check_normalize(normalize)
    current = {} if current is None else current
    names = list(scores)
    per_layer = []
    for name in names:
        s, mask = check_scores(name, scores[name], current.get(name))
        gran.check_shape(name, s.shape)
        units, alive = unit_scores(gran, s, mask, norm_power)
        per_layer.append((s.shape, mask, normalize_units(units, alive, normalize), alive))
    if not per_layer:
        return {}
    all_units = np.concatenate([p[2] for p in per_layer])
    all_alive = np.concatenate([p[3] for p in per_layer])
    count = amount_to_count("global selection", amount, all_units.size)
    keep = select_units(all_units, all_alive, count)
    out, start = {}, 0
    for name, (shape, mask, units, _) in zip(names, per_layer):
        out[name] = mask & expand(gran, keep[start : start + units.size], shape)
        start += units.size
    return out


__all__ = [
    "NORMALIZATIONS",
    "GranularitySpec",
    "check_normalize",
    "check_scores",
    "compute_global_masks",
    "compute_mask",
    "normalize_units",
    "select_units",
]
