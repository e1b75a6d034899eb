"""Granularities: what a pruning decision removes at once.

All of them work on the 2-d GEMM view of a weight, ``w.reshape(out, -1)``: (out, in/groups*kh*kw)
for a conv (reduction order in-channel, kh, kw, i.e. PyTorch's memory order) and (out, in) for a
linear layer. A granularity splits the view into *units* (a weight, a block, a row) that are kept or
pruned whole; ``NM`` instead keeps the best ``n`` of every ``m`` consecutive reduction elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

import numpy as np

from pruning._checks import is_int


def gemm_view(arr: np.ndarray) -> np.ndarray:
    """(out, reduction) view of a weight (or of its scores/mask)."""
    return arr.reshape(arr.shape[0], -1)


def _reduce(sums: np.ndarray, norm_power: int) -> np.ndarray:
    return sums if norm_power == 1 else np.power(sums, 1.0 / norm_power)


@dataclass(frozen=True)
class Unstructured:
    """Every weight is its own unit."""

    kind: ClassVar[str] = "unstructured"

    def check(self, name: str, shape: tuple[int, ...]) -> None:
        return None

    def unit_scores(self, scores: np.ndarray, mask: np.ndarray, norm_power: int = 1) -> tuple[np.ndarray, np.ndarray]:
        return _reduce(np.where(mask, scores, 0.0).ravel(), norm_power), mask.ravel().copy()

    def expand(self, keep: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return keep.reshape(shape)


@dataclass(frozen=True)
class Block:
    """``block_shape = (br, bc)`` tiles of the GEMM view, kept or pruned whole; the tiles must cover it."""

    block_shape: tuple[int, int]
    kind: ClassVar[str] = "block"

    def __post_init__(self) -> None:
        value = self.block_shape
        if (
            not isinstance(value, (tuple, list))
            or len(value) != 2
            or not all(is_int(v) and v >= 1 for v in value)
        ):
            raise ValueError(f"Block: block_shape must be a pair of ints >= 1, got {value!r}")
        object.__setattr__(self, "block_shape", (int(value[0]), int(value[1])))

    def check(self, name: str, shape: tuple[int, ...]) -> None:
        if len(shape) < 2:
            raise ValueError(f"layer {name!r}: block pruning needs a weight of rank >= 2, got shape {shape}")
        rows, cols = shape[0], int(np.prod(shape[1:]))
        br, bc = self.block_shape
        if rows % br or cols % bc:
            raise ValueError(
                f"layer {name!r}: block_shape={self.block_shape} does not tile its GEMM view ({rows}, {cols})"
            )

    def _blocks(self, arr: np.ndarray) -> np.ndarray:
        view = gemm_view(arr)
        br, bc = self.block_shape
        return view.reshape(view.shape[0] // br, br, view.shape[1] // bc, bc).swapaxes(1, 2)

    def unit_scores(self, scores: np.ndarray, mask: np.ndarray, norm_power: int = 1) -> tuple[np.ndarray, np.ndarray]:
        sums = self._blocks(np.where(mask, scores, 0.0)).sum(axis=(2, 3))
        alive = self._blocks(mask).any(axis=(2, 3))
        return _reduce(sums, norm_power).ravel(), alive.ravel()

    def expand(self, keep: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        br, bc = self.block_shape
        rows, cols = shape[0], int(np.prod(shape[1:]))
        grid = keep.reshape(rows // br, cols // bc)
        return np.repeat(np.repeat(grid, br, axis=0), bc, axis=1).reshape(shape)


@dataclass(frozen=True)
class Channel:
    """Whole output channels (rows of the GEMM view): filter pruning.

    Inside ``prune`` a channel is removed together with its graph partners (see ``channels``);
    ``compute_mask`` alone prunes rows of one layer.
    """

    kind: ClassVar[str] = "channel"

    def check(self, name: str, shape: tuple[int, ...]) -> None:
        if len(shape) < 2:
            raise ValueError(f"layer {name!r}: channel pruning needs a weight of rank >= 2, got shape {shape}")

    def unit_scores(self, scores: np.ndarray, mask: np.ndarray, norm_power: int = 1) -> tuple[np.ndarray, np.ndarray]:
        sums = gemm_view(np.where(mask, scores, 0.0)).sum(axis=1)
        return _reduce(sums, norm_power), gemm_view(mask).any(axis=1)

    def expand(self, keep: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(keep.reshape(-1, *([1] * (len(shape) - 1))), shape)


@dataclass(frozen=True)
class NM:
    """N:M: at most ``n`` of every ``m`` consecutive reduction elements of each row are kept.

    The pattern fixes the density at n/m, so ``amount`` does not apply. ``m`` must divide the
    reduction length.
    """

    n: int
    m: int
    kind: ClassVar[str] = "nm"

    def __post_init__(self) -> None:
        if not is_int(self.m) or self.m < 1:
            raise ValueError(f"NM: m must be an int >= 1, got {self.m!r}")
        if not is_int(self.n) or not 0 <= self.n <= self.m:
            raise ValueError(f"NM: n must be an int in [0, m={self.m!r}], got {self.n!r}")

    def check(self, name: str, shape: tuple[int, ...]) -> None:
        if len(shape) < 2:
            raise ValueError(f"layer {name!r}: N:M pruning needs a weight of rank >= 2, got shape {shape}")
        cols = int(np.prod(shape[1:]))
        if cols % self.m:
            raise ValueError(f"layer {name!r}: m={self.m} does not divide its reduction length {cols}")

    def pattern_mask(self, scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Keep the ``n`` best alive weights per group of ``m`` (all alive ones if fewer than ``n``)."""
        rows = scores.shape[0]
        s = gemm_view(np.where(mask, scores, -np.inf)).reshape(rows, -1, self.m)
        # Stable sort on the negated scores: ties keep the lower index, dead slots sort last.
        order = np.argsort(-s, axis=-1, kind="stable")
        keep = np.zeros(s.shape, dtype=bool)
        np.put_along_axis(keep, order[..., : self.n], True, axis=-1)
        return keep.reshape(scores.shape) & mask


Granularity = Union[Unstructured, Block, Channel, NM]
GRANULARITY_KINDS = ("unstructured", "block", "nm", "channel")


def make_granularity(
    spec: Any = "unstructured", *, block_shape: Any = None, n: Any = None, m: Any = None
) -> Granularity:
    """A granularity from an instance or a kind name plus its parameters (``block_shape``; ``n``, ``m``)."""
    if isinstance(spec, (Unstructured, Block, Channel, NM)):
        if block_shape is not None or n is not None or m is not None:
            raise ValueError(f"granularity {spec!r} is already configured; do not also pass block_shape/n/m")
        return spec
    if spec == "block":
        if block_shape is None:
            raise ValueError("granularity 'block' needs block_shape=(rows, cols)")
        return Block(block_shape)
    if spec == "nm":
        if n is None or m is None:
            raise ValueError(f"granularity 'nm' needs n and m, got n={n!r}, m={m!r}")
        return NM(n, m)
    if spec in ("unstructured", "channel"):
        if block_shape is not None or n is not None or m is not None:
            raise ValueError(
                f"granularity {spec!r} takes no block_shape/n/m, got block_shape={block_shape!r}, n={n!r}, m={m!r}"
            )
        return Unstructured() if spec == "unstructured" else Channel()
    raise ValueError(f"granularity must be one of {GRANULARITY_KINDS} or a granularity object, got {spec!r}")


__all__ = [
    "Unstructured",
    "Block",
    "Channel",
    "NM",
    "Granularity",
    "GRANULARITY_KINDS",
    "make_granularity",
    "gemm_view",
]
