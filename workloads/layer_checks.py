"""What every layer shape shares: validation (errors name the layer, the field and the value) and
the derived figures of a layer without weights or a GEMM."""

from __future__ import annotations

Pair = tuple[int, int]


def check_name(name: object) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"layer name must be a non-empty str, got {name!r}")


def check_positive(layer: str, field: str, value: object, *, minimum: int = 1) -> None:
    # bool is an int subclass; a True kernel size is always a bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"layer {layer!r}: {field} must be an int >= {minimum}, got {value!r}")


def set_pair(obj: object, layer: str, field: str, *, minimum: int = 1) -> Pair:
    """Normalise an int or a 2-sequence of ints to a validated ``(h, w)`` tuple."""
    value = getattr(obj, field)
    if isinstance(value, int) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = (value[0], value[1])
    else:
        raise ValueError(f"layer {layer!r}: {field} must be an int or a pair of ints, got {value!r}")
    for v in pair:
        check_positive(layer, field, v, minimum=minimum)
    object.__setattr__(obj, field, pair)
    return pair


def set_shape(obj: object, layer: str, field: str = "shape") -> tuple[int, ...]:
    value = getattr(obj, field)
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (tuple, list)) or not value:
        raise ValueError(f"layer {layer!r}: {field} must be a non-empty tuple of ints, got {value!r}")
    for v in value:
        check_positive(layer, field, v)
    shape = tuple(value)
    object.__setattr__(obj, field, shape)
    return shape


class NoWeights:
    """Derived figures of a layer without weights (its operands are all activations)."""

    __slots__ = ()

    @property
    def weight_shape(self) -> None:
        return None

    @property
    def weight_count(self) -> int:
        return 0


class NoGemm(NoWeights):
    """Derived figures of a layer with no weights and no GEMM (pooling, element-wise, concat)."""

    __slots__ = ()

    @property
    def gemm(self) -> None:
        return None

    @property
    def macs(self) -> int:
        return 0


__all__ = ["NoGemm", "NoWeights", "Pair", "check_name", "check_positive", "set_pair", "set_shape"]
