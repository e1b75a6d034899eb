"""Importance scores: separate callables with one signature, higher = more important.

    score(weights, *, grads=None, activations=None, rng=None) -> {layer: float64 array of weight shape}

``weights`` follows the project convention (layer -> ndarray, plus optional ``"<layer>.bias"``, which
is never scored). Scores are *elementwise*; a granularity reduces them over its units (blocks, rows)
as ``(sum of scores) ** (1 / norm_power)``, so ``Magnitude(2)`` (elementwise w**2) yields the L2 norm
of a group and ``Magnitude(1)`` its L1 norm.

Channel criteria computed from recorded activations (mean activation, APoZ, entropy) give one value
per output channel; it is spread evenly over that channel's weight row (value / row size), so a row
sums to the channel's statistic and unstructured selection ranks whole rows.

Recorded activations are ``activations[layer]`` = the layer's outputs over a batch: ``(N, C, H, W)``
for a conv (channel axis 1) and ``(N, F)`` or ``(N, tokens, F)`` for a linear layer (channel axis
last). The channel axis is chosen by the weight's rank (4-d conv, 2-d linear).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike

from pruning._checks import as_generator, check_int

Scores = dict[str, np.ndarray]


class Importance(Protocol):
    """What ``prune`` accepts as ``importance``."""

    @property
    def norm_power(self) -> int: ...

    def __call__(
        self,
        weights: Mapping[str, ArrayLike],
        *,
        grads: Mapping[str, ArrayLike] | None = None,
        activations: Mapping[str, ArrayLike] | None = None,
        rng: int | np.random.Generator | None = None,
    ) -> Scores: ...


def weight_items(weights: Mapping[str, ArrayLike], owner: str) -> list[tuple[str, np.ndarray]]:
    """(name, float64 array) for every non-bias entry, in sorted order (so rng draws are order-free)."""
    if not isinstance(weights, Mapping):
        raise ValueError(f"{owner}: weights must be a mapping layer -> array, got {type(weights).__name__}")
    items = []
    for name in sorted(weights):
        if name.endswith(".bias"):
            continue
        arr = np.asarray(weights[name])
        if arr.dtype.kind not in "iuf" or arr.ndim == 0:
            raise ValueError(
                f"{owner}: layer {name!r}: weights must be a numeric array, got {arr.dtype} {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{owner}: layer {name!r}: weights contain NaN or inf")
        items.append((name, arr.astype(np.float64, copy=False)))
    return items


def _companion(
    source: Mapping[str, ArrayLike] | None, field: str, name: str, shape: tuple, owner: str
) -> np.ndarray:
    if source is None:
        raise ValueError(f"{owner}: needs {field} (a mapping layer -> array), got None")
    if name not in source:
        raise ValueError(f"{owner}: {field} have no entry for layer {name!r}")
    arr = np.asarray(source[name], dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{owner}: layer {name!r}: {field} shape {arr.shape} != weight shape {shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{owner}: layer {name!r}: {field} contain NaN or inf")
    return arr


# ------------------------------------------------------------------------------ weight-based


@dataclass(frozen=True)
class Magnitude:
    """|w| for ``p=1`` (groups reduce to the L1 norm), w**2 for ``p=2`` (groups reduce to the L2 norm)."""

    p: int = 1

    def __post_init__(self) -> None:
        if self.p not in (1, 2):
            raise ValueError(f"Magnitude: p must be 1 or 2, got {self.p!r}")

    @property
    def norm_power(self) -> int:
        return self.p

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        items = weight_items(weights, f"Magnitude(p={self.p})")
        return {name: np.abs(w) if self.p == 1 else np.square(w) for name, w in items}


@dataclass(frozen=True)
class Gradient:
    """|dL/dw|: how strongly the loss reacts to each weight (grads averaged over a batch by the caller)."""

    norm_power: int = 1

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        return {
            name: np.abs(_companion(grads, "grads", name, w.shape, "Gradient"))
            for name, w in weight_items(weights, "Gradient")
        }


@dataclass(frozen=True)
class Taylor:
    """First-order Taylor |w * dL/dw| (Molchanov et al. 2019): the loss change of zeroing w, to first order."""

    norm_power: int = 1

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        return {
            name: np.abs(w * _companion(grads, "grads", name, w.shape, "Taylor"))
            for name, w in weight_items(weights, "Taylor")
        }


@dataclass(frozen=True)
class RandomImportance:
    """Uniform [0, 1) scores from ``rng`` (an int seed or Generator, required): the control baseline."""

    norm_power: int = 1

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        generator = as_generator("RandomImportance", rng)
        return {name: generator.random(w.shape) for name, w in weight_items(weights, "RandomImportance")}


# -------------------------------------------------------------------------- activation-based


def _channel_view(
    name: str, weight: np.ndarray, activations: Mapping[str, ArrayLike] | None, owner: str
) -> np.ndarray:
    """Recorded outputs of ``name`` as (samples, channels, positions) float64."""
    if activations is None:
        raise ValueError(f"{owner}: needs recorded activations (a mapping layer -> array), got None")
    if name not in activations:
        raise ValueError(f"{owner}: activations have no entry for layer {name!r}")
    act = np.asarray(activations[name], dtype=np.float64)
    channels = weight.shape[0]
    if weight.ndim == 4:
        if act.ndim != 4 or act.shape[1] != channels:
            raise ValueError(
                f"{owner}: layer {name!r}: activations must be (N, {channels}, H, W) for a conv, got {act.shape}"
            )
        view = act.reshape(act.shape[0], channels, -1)
    else:
        if act.ndim not in (2, 3) or act.shape[-1] != channels:
            raise ValueError(
                f"{owner}: layer {name!r}: activations must be (N, {channels}) or (N, tokens, {channels}), "
                f"got {act.shape}"
            )
        view = np.moveaxis(act.reshape(act.shape[0], -1, channels), 2, 1)
    if view.shape[0] == 0:
        raise ValueError(f"{owner}: layer {name!r}: activations hold no samples")
    if not np.isfinite(view).all():
        raise ValueError(f"{owner}: layer {name!r}: activations contain NaN or inf")
    return view


def _spread(per_channel: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast one value per output channel over its weight row so the row sums to it."""
    row = int(np.prod(shape[1:]))
    return np.broadcast_to((per_channel / row).reshape(-1, *([1] * (len(shape) - 1))), shape).copy()


@dataclass(frozen=True)
class MeanActivation:
    """Mean |output| per channel over samples and positions (post-ReLU this is the mean activation)."""

    norm_power: int = 1

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        out = {}
        for name, w in weight_items(weights, "MeanActivation"):
            view = _channel_view(name, w, activations, "MeanActivation")
            out[name] = _spread(np.abs(view).mean(axis=(0, 2)), w.shape)
        return out


@dataclass(frozen=True)
class APoZ:
    """1 - average percentage of zeros per channel (Hu et al. 2016): mostly-zero channels score low."""

    norm_power: int = 1

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        out = {}
        for name, w in weight_items(weights, "APoZ"):
            view = _channel_view(name, w, activations, "APoZ")
            out[name] = _spread(1.0 - (view == 0).mean(axis=(0, 2)), w.shape)
        return out


@dataclass(frozen=True)
class Entropy:
    """Entropy (bits) of each channel's per-sample mean activation over ``bins`` bins (Luo & Wu 2017).

    A channel whose response barely varies across inputs carries little information and scores low;
    a constant channel scores 0.
    """

    bins: int = 32
    norm_power: int = 1

    def __post_init__(self) -> None:
        check_int("Entropy", "bins", self.bins, minimum=2)

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        out = {}
        for name, w in weight_items(weights, "Entropy"):
            means = _channel_view(name, w, activations, "Entropy").mean(axis=2)  # (samples, channels)
            entropy = np.empty(means.shape[1])
            for c in range(means.shape[1]):
                counts, _ = np.histogram(means[:, c], bins=self.bins)
                p = counts[counts > 0] / means.shape[0]
                entropy[c] = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
            out[name] = _spread(entropy, w.shape)
        return out


@dataclass(frozen=True, eq=False)
class FixedScores:
    """Scores computed once (e.g. a data-driven criterion on the dense model), returned for any weights.

    Lets a search prune many plans from the same scores without re-scoring per plan; a layer the
    scores do not cover is an error, and a score array must have its layer's weight shape.
    """

    scores: Mapping[str, np.ndarray]
    norm_power: int = 1

    def __call__(self, weights, *, grads=None, activations=None, rng=None) -> Scores:
        out = {}
        for name, w in weight_items(weights, "FixedScores"):
            out[name] = _companion(self.scores, "scores", name, w.shape, "FixedScores")
        return out


magnitude_l1 = Magnitude(1)
magnitude_l2 = Magnitude(2)
gradient = Gradient()
taylor = Taylor()
random_importance = RandomImportance()
mean_activation = MeanActivation()
apoz = APoZ()
entropy = Entropy()

IMPORTANCES: dict[str, Importance] = {
    "l1": magnitude_l1,
    "l2": magnitude_l2,
    "gradient": gradient,
    "taylor": taylor,
    "apoz": apoz,
    "mean_activation": mean_activation,
    "entropy": entropy,
    "random": random_importance,
}


def get_importance(name: str) -> Importance:
    """The importance registered as ``name`` (see ``IMPORTANCES``)."""
    try:
        return IMPORTANCES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown importance {name!r}; known: {', '.join(sorted(IMPORTANCES))}") from None


__all__ = [
    "Importance",
    "Scores",
    "Magnitude",
    "Gradient",
    "Taylor",
    "RandomImportance",
    "MeanActivation",
    "APoZ",
    "Entropy",
    "FixedScores",
    "magnitude_l1",
    "magnitude_l2",
    "gradient",
    "taylor",
    "random_importance",
    "mean_activation",
    "apoz",
    "entropy",
    "IMPORTANCES",
    "get_importance",
]
