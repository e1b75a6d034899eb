"""Sparsity structures: the one vocabulary for *what shape* the zeros of a weight take.

Pruning makes these structures, sparse hardware stores and skips them, design-space plans and
reports name them. Each is a small frozen value with a ``kind`` and a stable ``label``:

=============  =================  ======================================================
value          label              kept weights of the GEMM view ``w.reshape(out, -1)``
=============  =================  ======================================================
Dense()        ``dense``          all of them
Unstructured() ``unstructured``   any subset
Block((r, c))  ``block4x4``       whole ``r x c`` tiles (the tiles must cover the view)
NM(n, m)       ``nm2:4``          at most ``n`` of every ``m`` consecutive reduction elements
Channel()      ``channel``        whole rows (output channels)
=============  =================  ======================================================

All of them live on the **GEMM view** of a weight, `gemm_view`: ``(out, in/groups*kh*kw)`` for a
conv (reduction order in-channel, kh, kw: PyTorch's memory order) and ``(out, in)`` for a linear
layer. ``parse(label)`` reads a label back; ``from_fields(kind, block_shape=..., n=..., m=...)`` reads the
named-field spelling YAML plans and ``prune`` overrides use (``{granularity: block, block_shape:
[4, 4]}``). This module imports nothing of ours: it is the bottom layer.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = [
    "Dense",
    "Unstructured",
    "Block",
    "NM",
    "Channel",
    "Structure",
    "STRUCTURE_TYPES",
    "KINDS",
    "PRUNED_KINDS",
    "PARAMETERS",
    "parse",
    "from_fields",
    "gemm_view",
]

#: Every kind, in the order errors list them; `PRUNED_KINDS` are the ones pruning makes.
KINDS = ("dense", "unstructured", "block", "nm", "channel")
PRUNED_KINDS = KINDS[1:]
#: The named parameters of each kind, as `from_fields` and YAML plans spell them.
PARAMETERS: dict[str, tuple[str, ...]] = {
    "dense": (),
    "unstructured": (),
    "block": ("block_shape",),
    "nm": ("n", "m"),
    "channel": (),
}


def _is_int(value: object) -> bool:
    # bool is an Integral subclass; True as a block side is always a bug.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _who(layer: str | None) -> str:
    return f"layer {layer!r}" if layer is not None else "weights"


def gemm_view(array: np.ndarray, *, layer: str | None = None, what: str = "weights") -> np.ndarray:
    """The 2-d ``(shape[0], prod(shape[1:]))`` view of a weight, mask or scores (a copy only if needed)."""
    array = np.asarray(array)
    if array.ndim < 2:
        raise ValueError(f"{_who(layer)}: {what} must have >= 2 dimensions, got shape {array.shape}")
    return np.ascontiguousarray(array).reshape(array.shape[0], -1)


def _gemm_shape(layer: str | None, shape: tuple[int, ...], what: str) -> tuple[int, int]:
    if len(shape) < 2:
        raise ValueError(f"{_who(layer)}: {what} needs a weight of rank >= 2, got shape {shape}")
    return shape[0], math.prod(shape[1:])


class _Plain:
    """A structure without parameters: its label is its kind."""

    kind: ClassVar[str]

    @property
    def label(self) -> str:
        return self.kind

    def check_shape(self, layer: str | None, shape: tuple[int, ...]) -> None:
        """Raise ValueError (naming ``layer``) unless a weight of ``shape`` can hold this structure."""


@dataclass(frozen=True)
class Dense(_Plain):
    """No zeros by structure: every weight is kept."""

    kind: ClassVar[str] = "dense"


@dataclass(frozen=True)
class Unstructured(_Plain):
    """Any subset of the weights is kept."""

    kind: ClassVar[str] = "unstructured"


@dataclass(frozen=True)
class Channel(_Plain):
    """Whole output channels (rows of the GEMM view) are kept or removed."""

    kind: ClassVar[str] = "channel"

    def check_shape(self, layer: str | None, shape: tuple[int, ...]) -> None:
        _gemm_shape(layer, shape, "channel pruning")


@dataclass(frozen=True)
class Block:
    """``block_shape = (rows, cols)`` tiles of the GEMM view, kept or removed whole."""

    block_shape: tuple[int, int]
    kind: ClassVar[str] = "block"

    def __post_init__(self) -> None:
        value = self.block_shape
        pair = isinstance(value, (tuple, list)) and len(value) == 2
        if not pair or not all(_is_int(v) and v >= 1 for v in value):
            raise ValueError(f"Block: block_shape must be a pair of ints >= 1, got {value!r}")
        object.__setattr__(self, "block_shape", (int(value[0]), int(value[1])))

    @property
    def rows(self) -> int:
        return self.block_shape[0]

    @property
    def cols(self) -> int:
        return self.block_shape[1]

    @property
    def label(self) -> str:
        return f"block{self.rows}x{self.cols}"

    def check_shape(self, layer: str | None, shape: tuple[int, ...]) -> None:
        """Raise ValueError unless the blocks tile the GEMM view of a weight of ``shape``."""
        rows, cols = _gemm_shape(layer, shape, "block pruning")
        if rows % self.rows or cols % self.cols:
            raise ValueError(
                f"{_who(layer)}: block_shape={self.block_shape} does not tile the GEMM view ({rows}, {cols})"
            )


@dataclass(frozen=True)
class NM:
    """N:M: at most ``n`` of every ``m`` consecutive reduction elements of each row are kept."""

    n: int
    m: int
    kind: ClassVar[str] = "nm"

    def __post_init__(self) -> None:
        if not _is_int(self.m) or self.m < 1:
            raise ValueError(f"NM: m must be an int >= 1, got {self.m!r}")
        if not _is_int(self.n) or not 0 <= self.n <= self.m:
            raise ValueError(f"NM: n must be an int in [0, m={self.m!r}], got {self.n!r}")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "m", int(self.m))

    @property
    def label(self) -> str:
        return f"nm{self.n}:{self.m}"

    def check_shape(self, layer: str | None, shape: tuple[int, ...]) -> None:
        """Raise ValueError unless ``m`` divides the reduction length of a weight of ``shape``."""
        _, cols = _gemm_shape(layer, shape, "N:M pruning")
        if cols % self.m:
            raise ValueError(f"{_who(layer)}: m={self.m} does not divide its reduction length {cols}")


Structure = Dense | Unstructured | Block | NM | Channel
STRUCTURE_TYPES = (Dense, Unstructured, Block, NM, Channel)

_LABEL = re.compile(r"^(?:(dense|unstructured|channel)|block(\d+)x(\d+)|nm(\d+):(\d+))$")
_PLAIN: dict[str, Structure] = {"dense": Dense(), "unstructured": Unstructured(), "channel": Channel()}


def parse(label: object) -> Structure:
    """The structure a ``label`` names: ``"block4x4"`` -> ``Block((4, 4))``, ``"nm2:4"`` -> ``NM(2, 4)``."""
    match = _LABEL.match(label) if isinstance(label, str) else None
    if match is None:
        raise ValueError(
            "sparsity label must be dense, unstructured, channel, block<rows>x<cols> or "
            f"nm<n>:<m> (e.g. block4x4, nm2:4), got {label!r}"
        )
    plain, rows, cols, n, m = match.groups()
    if plain:
        return _PLAIN[plain]
    if rows:
        return Block((int(rows), int(cols)))
    return NM(int(n), int(m))


def from_fields(kind: object, *, block_shape: object = None, n: object = None, m: object = None) -> Structure:
    """A structure from its kind and named parameters (`PARAMETERS`: ``block_shape`` for block;
    ``n``, ``m`` for nm). A parameter the kind does not take is an error, as is a missing one."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"granularity must be one of {KINDS}, got {kind!r}")
    values = {"block_shape": block_shape, "n": n, "m": m}
    takes = PARAMETERS[kind]
    extra = [name for name, value in values.items() if value is not None and name not in takes]
    if extra:
        raise ValueError(
            f"granularity {kind!r} takes no {'/'.join(extra)}, got "
            + ", ".join(f"{name}={values[name]!r}" for name in extra)
        )
    if any(values[name] is None for name in takes):
        raise ValueError(
            f"granularity {kind!r} needs {' and '.join(takes)}, got "
            + ", ".join(f"{name}={values[name]!r}" for name in takes)
        )
    if kind == "block":
        return Block(block_shape)  # type: ignore[arg-type]  # Block checks the pair
    if kind == "nm":
        return NM(n, m)  # type: ignore[arg-type]  # NM checks both
    return _PLAIN[kind]
