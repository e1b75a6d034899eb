"""Small helpers shared by the zoo builders."""

from __future__ import annotations

import math

from workloads.layers import Layer, Pair, Pool


def as_pair(value: int | Pair, what: str) -> Pair:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (value[0], value[1])
    raise ValueError(f"{what} must be an int or a pair of ints, got {value!r}")


def check_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
    return num_classes


def spatial(layer: Layer) -> Pair:
    """(H, W) of a conv or pool output."""
    _, h, w = layer.output_shape
    return (h, w)


def flat_features(layer: Layer) -> int:
    """Features seen by a classifier that flattens ``layer``'s output (batch 1)."""
    return math.prod(layer.output_shape)


def global_avg_pool(name: str, prev: Layer) -> Pool:
    hw = spatial(prev)
    return Pool(name, prev.output_shape[0], hw, kernel_size=hw, stride=hw, kind="avg")
