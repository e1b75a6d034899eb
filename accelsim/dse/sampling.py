"""Hardware variants from axes: cartesian `grid`, lock-step `zipped`, seeded `random_sample`.

Axes map a dotted hardware path (as for `Hardware.replace`) to a sequence of values. Every variant
is built through `Hardware.replace`, so an unknown path or a bad value fails with its message.
Order is deterministic: the first axis varies slowest, as in nested for-loops written top-down.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from accelsim.arch.hardware import Hardware

__all__ = ["apply", "grid", "zipped", "random_sample", "product_size"]


def _checked(axes: Mapping[str, Sequence[Any]]) -> list[tuple[str, list[Any]]]:
    if not isinstance(axes, Mapping):
        raise ValueError(f"axes: must be a mapping of dotted hardware path -> values, got {axes!r}")
    out = []
    for path, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise ValueError(f"axis {path!r}: must be a list of values, got {values!r}")
        if len(values) == 0:
            raise ValueError(f"axis {path!r}: empty axis (give at least one value)")
        out.append((path, list(values)))
    return out


def apply(base: Hardware, settings: Mapping[str, Any]) -> Hardware:
    """`base` with every ``path: value`` in `settings` applied (in order)."""
    hardware = base
    for path, value in settings.items():
        hardware = hardware.replace(path, value)
    return hardware


def product_size(axes: Mapping[str, Sequence[Any]]) -> int:
    return math.prod(len(values) for _, values in _checked(axes))


def grid(base: Hardware, axes: Mapping[str, Sequence[Any]]) -> list[Hardware]:
    """Every combination of the axis values (cartesian product), first axis slowest."""
    checked = _checked(axes)
    names = [name for name, _ in checked]
    return [apply(base, dict(zip(names, combo))) for combo in itertools.product(*(v for _, v in checked))]


def zipped(base: Hardware, axes: Mapping[str, Sequence[Any]]) -> list[Hardware]:
    """Axes varied in lock-step (e.g. ``pe.rows`` and ``pe.cols`` for square arrays); equal lengths."""
    checked = _checked(axes)
    lengths = {name: len(values) for name, values in checked}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"zipped axes must have equal lengths, got {lengths}")
    names = [name for name, _ in checked]
    return [apply(base, dict(zip(names, combo))) for combo in zip(*(v for _, v in checked))]


def random_sample(base: Hardware, axes: Mapping[str, Sequence[Any]], n: int, *, seed: int) -> list[Hardware]:
    """`n` distinct combinations drawn uniformly without replacement from the grid, reproducibly.

    Draws grid indices (so a huge grid is never materialised) and returns them in grid order,
    making the result independent of how the draw happened to be ordered."""
    checked = _checked(axes)
    total = math.prod(len(values) for _, values in checked)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n: must be a non-negative integer, got {n!r}")
    if n > total:
        raise ValueError(f"n: cannot draw {n} distinct points from a grid of {total}")
    indices = sorted(random.Random(seed).sample(range(total), n))
    names = [name for name, _ in checked]
    out = []
    for index in indices:
        combo = []
        for _, values in reversed(checked):  # mixed-radix decode, last axis fastest
            index, digit = divmod(index, len(values))
            combo.append(values[digit])
        out.append(apply(base, dict(zip(names, reversed(combo)))))
    return out
