"""Argument checks shared by the pruning modules; every error names the owner, the field and the value."""

from __future__ import annotations

import numbers
from typing import TypeGuard

import numpy as np

from workloads.layers import Conv2d, Linear
from workloads.network import Network


def is_int(value: object) -> TypeGuard[int]:
    # bool is an int subclass; True as a count or step is always a bug.
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def is_real(value: object) -> TypeGuard[float]:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(owner: str, field: str, value: object, *, minimum: int | None = None) -> int:
    if not is_int(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{owner}: {field} must be an int{bound}, got {value!r}")
    return int(value)


def number_field(owner: str, row, key: str) -> float:
    """``row[key]`` as a float; a missing or non-numeric field is an error naming ``owner``."""
    if key not in row:
        raise ValueError(f"{owner} has no field {key!r} (fields: {sorted(row)})")
    value = row[key]
    if not is_real(value):
        raise ValueError(f"{owner} field {key!r} must be a number, got {value!r}")
    return float(value)


def check_fraction(owner: str, field: str, value: object) -> float:
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{owner}: {field} must be a float in [0, 1], got {value!r}")
    return float(value)


def amount_to_count(owner: str, amount: object, total: int) -> int:
    """PyTorch's convention: a float is the fraction of ``total`` (rounded), an int is a count."""
    if is_int(amount):
        if not 0 <= amount <= total:
            raise ValueError(f"{owner}: amount as a count must be in [0, {total}], got {amount!r}")
        return int(amount)
    if is_real(amount):
        if not 0.0 <= float(amount) <= 1.0:
            raise ValueError(f"{owner}: amount as a fraction must be in [0, 1], got {amount!r}")
        # round(), as torch.nn.utils.prune._compute_nparams_toprune does.
        return int(round(float(amount) * total))
    raise ValueError(f"{owner}: amount must be a float fraction or an int count, got {amount!r}")


def as_generator(owner: str, rng: object) -> np.random.Generator:
    """An int seed or a Generator; ``None`` is refused so randomness is always seeded."""
    if isinstance(rng, np.random.Generator):
        return rng
    if is_int(rng) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"{owner}: rng must be an int seed >= 0 or a numpy Generator, got {rng!r}")


def weighted_layer(network: Network, name: str) -> Conv2d | Linear:
    """``network[name]``, which must carry a weight tensor (only Conv2d and Linear layers do)."""
    layer = network[name]
    if not isinstance(layer, (Conv2d, Linear)):
        kind = type(layer).__name__
        raise ValueError(f"layer {name!r} of {network.name!r} is a {kind}, which has no weights")
    return layer
