"""Granularities: what a pruning decision removes at once.

A granularity is a sparsity structure of `workloads.sparsity` other than ``Dense``. All of them
work on the GEMM view of a weight (`workloads.sparsity.gemm_view`). A granularity splits the view
into *units* (a weight, a block, a row) that are kept or pruned whole; ``NM`` instead keeps the best
``n`` of every ``m`` consecutive reduction elements. This module holds what pruning does with each:
score its units, expand unit decisions back to a mask, pick an N:M pattern.
"""

from __future__ import annotations

import numpy as np

from workloads.sparsity import (
    KINDS,
    NM,
    PRUNED_KINDS,
    Block,
    Channel,
    Unstructured,
    from_fields,
    gemm_view,
    parse,
)

Granularity = Unstructured | Block | Channel | NM
GRANULARITY_TYPES = (Unstructured, Block, Channel, NM)


def as_granularity(spec: object) -> Granularity:
    """``spec`` as a granularity: one already, or a label (``"unstructured"``, ``"block4x4"``, ``"nm2:4"``).

    Bare ``"block"`` and ``"nm"`` are refused by name: they lack their shape parameters."""
    if isinstance(spec, GRANULARITY_TYPES):
        return spec
    if isinstance(spec, str) and spec in KINDS:
        structure = from_fields(spec)  # block and nm name their missing parameters
    else:
        try:
            structure = parse(spec)
        except ValueError:
            raise ValueError(
                f"granularity must be one of {PRUNED_KINDS} as a structure or a label (unstructured, "
                f"channel, block<rows>x<cols>, nm<n>:<m>), got {spec!r}"
            ) from None
    if not isinstance(structure, GRANULARITY_TYPES):
        raise ValueError(f"granularity must be one of {PRUNED_KINDS}; {spec!r} prunes nothing")
    return structure


def _reduce(sums: np.ndarray, norm_power: int) -> np.ndarray:
    return sums if norm_power == 1 else np.power(sums, 1.0 / norm_power)


def _blocks(block: Block, arr: np.ndarray) -> np.ndarray:
    view = gemm_view(arr)
    tiles = view.reshape(view.shape[0] // block.rows, block.rows, view.shape[1] // block.cols, block.cols)
    return tiles.swapaxes(1, 2)


def unit_scores(
    gran: Unstructured | Block | Channel, scores: np.ndarray, mask: np.ndarray, norm_power: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(score, alive) per unit, flat: a unit's score sums its surviving weights' scores (a p-norm for
    ``norm_power`` p); it is alive while any of its weights is kept."""
    kept = np.where(mask, scores, 0.0)
    if isinstance(gran, Block):
        sums = _blocks(gran, kept).sum(axis=(2, 3))
        return _reduce(sums, norm_power).ravel(), _blocks(gran, mask).any(axis=(2, 3)).ravel()
    if isinstance(gran, Channel):
        return _reduce(gemm_view(kept).sum(axis=1), norm_power), np.asarray(gemm_view(mask).any(axis=1))
    return _reduce(kept.ravel(), norm_power), mask.ravel().copy()


def expand(gran: Unstructured | Block | Channel, keep: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The weight-shaped keep mask of per-unit keep flags (the inverse of `unit_scores`' layout)."""
    if isinstance(gran, Block):
        rows, cols = shape[0], int(np.prod(shape[1:]))
        grid = keep.reshape(rows // gran.rows, cols // gran.cols)
        return np.repeat(np.repeat(grid, gran.rows, axis=0), gran.cols, axis=1).reshape(shape)
    if isinstance(gran, Channel):
        return np.broadcast_to(keep.reshape(-1, *([1] * (len(shape) - 1))), shape)
    return keep.reshape(shape)


def pattern_mask(nm: NM, scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep the ``n`` best alive weights per group of ``m`` (all alive ones if fewer than ``n``)."""
    rows = scores.shape[0]
    s = gemm_view(np.where(mask, scores, -np.inf)).reshape(rows, -1, nm.m)
    # Stable sort on the negated scores: ties keep the lower index, dead slots sort last.
    order = np.argsort(-s, axis=-1, kind="stable")
    keep = np.zeros(s.shape, dtype=bool)
    np.put_along_axis(keep, order[..., : nm.n], True, axis=-1)
    return keep.reshape(scores.shape) & mask


__all__ = [
    "Unstructured",
    "Block",
    "Channel",
    "NM",
    "Granularity",
    "GRANULARITY_TYPES",
    "as_granularity",
    "unit_scores",
    "expand",
    "pattern_mask",
]
