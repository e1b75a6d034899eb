"""Statistical honesty for accuracies: intervals for k/n, paired comparisons, and constraints on a bound.

A test split of a few hundred images measures an accuracy to within a few points, so a search that
compares point estimates chases noise. This module gives every accuracy its interval and every
searched-vs-dense comparison a *paired* one (both classifiers see the same examples, so the
discordant pairs carry the information), in pure Python/numpy with no scipy.

Choices, and why:

- **One proportion: Wilson score interval** (Wilson 1927). Its coverage stays close to nominal for
  small ``n`` and for accuracies near 1, where the Wald interval collapses, and it is not as
  conservative (wide) as Clopper-Pearson, whose coverage is at least nominal by construction
  (Newcombe 1998a, "Two-sided confidence intervals for the single proportion", Stat Med 17:857,
  recommends Wilson). It is closed form. :func:`clopper_pearson_interval` is offered too, for
  whoever needs guaranteed coverage; it inverts the exact binomial tail by bisection.
- **Paired difference: Newcombe's hybrid score interval, method 10** of Newcombe 1998b
  ("Improved confidence intervals for the difference between binomial proportions based on
  paired data", Stat Med 17:2635): the two Wilson intervals combined with the phi correlation of
  the paired 2x2 table. Closed form and deterministic, with good coverage at small ``n``.
  :func:`paired_bootstrap_interval` (percentile bootstrap, seeded) is the assumption-light check.
- **Paired test: exact McNemar** -- the discordant counts ``b`` and ``c`` are, under "equally
  accurate", ``Binomial(b + c, 1/2)``; the two-sided p-value doubles the smaller tail (capped at 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from pruning._checks import check_int, is_real

DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided ``confidence`` interval ``[low, high]``; ``method`` names it."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, float | str]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "method": self.method,
        }


@dataclass(frozen=True)
class PairedCounts:
    """The paired 2x2 table of classifiers A and B on the same ``n`` examples.

    ``both`` right, ``only_a`` right (B wrong), ``only_b`` right (A wrong), ``neither`` right.
    """

    both: int
    only_a: int
    only_b: int
    neither: int

    def __post_init__(self) -> None:
        for name in ("both", "only_a", "only_b", "neither"):
            check_int("PairedCounts", name, getattr(self, name), minimum=0)
        if self.n == 0:
            raise ValueError("PairedCounts: the table is empty (n = 0)")

    @property
    def n(self) -> int:
        return self.both + self.only_a + self.only_b + self.neither

    @property
    def accuracy_a(self) -> float:
        return (self.both + self.only_a) / self.n

    @property
    def accuracy_b(self) -> float:
        return (self.both + self.only_b) / self.n

    @classmethod
    def from_correct(cls, correct_a: np.ndarray, correct_b: np.ndarray) -> PairedCounts:
        """The table from per-example correctness (bool arrays of equal length, same example order)."""
        a, b = _bool_vector("correct_a", correct_a), _bool_vector("correct_b", correct_b)
        if a.shape != b.shape:
            raise ValueError(f"PairedCounts: correct_a has {a.size} examples, correct_b has {b.size}")
        return cls(
            both=int(np.sum(a & b)),
            only_a=int(np.sum(a & ~b)),
            only_b=int(np.sum(~a & b)),
            neither=int(np.sum(~a & ~b)),
        )


def _bool_vector(name: str, value: np.ndarray) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype != np.bool_ or array.ndim != 1:
        raise ValueError(f"{name} must be a 1-d bool array, got {array.dtype} of shape {array.shape}")
    return array


def _z(confidence: float) -> float:
    if not is_real(confidence) or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + float(confidence) / 2.0)


def _check_counts(owner: str, successes: int, n: int) -> None:
    check_int(owner, "n", n, minimum=1)
    check_int(owner, "successes", successes, minimum=0)
    if successes > n:
        raise ValueError(f"{owner}: successes must be <= n = {n}, got {successes!r}")


def wilson_interval(successes: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Wilson score interval for the proportion ``successes / n``."""
    _check_counts("wilson_interval", successes, n)
    z = _z(confidence)
    p = successes / n
    scale = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Clamp rounding only: mathematically the limits are inside [0, 1] and bracket p.
    return Interval(p, max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)), confidence, "wilson")


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space so large ``n`` does not overflow."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def _solve(f: Callable[[float], float], target: float) -> float:
    """The ``p`` in [0, 1] where the decreasing function ``f`` crosses ``target``, by bisection."""
    lo, hi = 0.0, 1.0
    for _ in range(100):  # 2**-100: far below float resolution on [0, 1]
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson_interval(successes: int, n: int, *, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Clopper-Pearson exact interval: the ``p`` whose binomial tails are each ``(1 - confidence) / 2``."""
    _check_counts("clopper_pearson_interval", successes, n)
    _z(confidence)
    tail = (1.0 - confidence) / 2.0
    k = successes
    # Lower limit: P(X >= k | p) = tail, i.e. cdf(k - 1 | p) = 1 - tail; upper: cdf(k | p) = tail.
    # The binomial cdf decreases in p, so both are one bisection.
    low = 0.0 if k == 0 else _solve(lambda p: _binomial_cdf(k - 1, n, p), 1.0 - tail)
    high = 1.0 if k == n else _solve(lambda p: _binomial_cdf(k, n, p), tail)
    return Interval(k / n, low, high, confidence, "clopper-pearson")


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    check_int("mcnemar_exact_p", "only_a", only_a, minimum=0)
    check_int("mcnemar_exact_p", "only_b", only_b, minimum=0)
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    smaller = min(only_a, only_b)
    tail = sum(math.comb(discordant, i) for i in range(smaller + 1))
    # Exact integer arithmetic, one division: 2 * tail / 2**m, capped at 1 (the b == c case).
    return min(1.0, 2 * tail / 2**discordant)


def newcombe_paired_interval(counts: PairedCounts, *, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Newcombe's method 10 interval for ``accuracy_a - accuracy_b`` on paired data."""
    n = counts.n
    right_a, right_b = counts.both + counts.only_a, counts.both + counts.only_b
    a = wilson_interval(right_a, n, confidence=confidence)
    b = wilson_interval(right_b, n, confidence=confidence)
    wrong_a, wrong_b = n - right_a, n - right_b
    product = right_a * wrong_a * right_b * wrong_b
    # phi of the paired table; 0 when a margin is empty (Newcombe's convention).
    concordance = counts.both * counts.neither - counts.only_a * counts.only_b
    phi = concordance / math.sqrt(product) if product else 0.0
    d_a_low, d_a_high = a.estimate - a.low, a.high - a.estimate
    d_b_low, d_b_high = b.estimate - b.low, b.high - b.estimate
    delta = math.sqrt(max(0.0, d_a_low**2 - 2 * phi * d_a_low * d_b_high + d_b_high**2))
    epsilon = math.sqrt(max(0.0, d_a_high**2 - 2 * phi * d_a_high * d_b_low + d_b_low**2))
    diff = a.estimate - b.estimate
    return Interval(diff, max(-1.0, diff - delta), min(1.0, diff + epsilon), confidence, "newcombe-paired")


def paired_bootstrap_interval(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap of ``accuracy_a - accuracy_b``, resampling examples (pairs kept together)."""
    _z(confidence)
    check_int("paired_bootstrap_interval", "resamples", resamples, minimum=1)
    check_int("paired_bootstrap_interval", "seed", seed, minimum=0)
    counts = PairedCounts.from_correct(correct_a, correct_b)
    per_example = np.asarray(correct_a, dtype=np.int64) - np.asarray(correct_b, dtype=np.int64)
    rng = np.random.default_rng(seed)
    n = counts.n
    diffs = np.empty(resamples)
    # Chunked so memory stays bounded; the draws are the same as one big call row by row.
    chunk = max(1, 2**20 // n)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        diffs[start:stop] = per_example[idx].sum(axis=1) / n
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [tail, 1.0 - tail])
    estimate = counts.accuracy_a - counts.accuracy_b
    return Interval(estimate, float(low), float(high), confidence, "paired-bootstrap")


@dataclass(frozen=True)
class Comparison:
    """What a report states for a searched model against the dense one on the same examples."""

    dense: Interval
    searched: Interval
    difference: Interval  # searched - dense, paired (Newcombe method 10)
    mcnemar_p: float
    counts: PairedCounts

    def to_dict(self) -> dict[str, object]:
        return {
            "dense": self.dense.to_dict(),
            "searched": self.searched.to_dict(),
            "difference": self.difference.to_dict(),
            "mcnemar_p": self.mcnemar_p,
            "n": self.counts.n,
            "only_dense_correct": self.counts.only_b,
            "only_searched_correct": self.counts.only_a,
        }


def compare(
    correct_dense: np.ndarray, correct_searched: np.ndarray, *, confidence: float = DEFAULT_CONFIDENCE
) -> Comparison:
    """Wilson intervals for both accuracies, the paired interval of their difference and McNemar's p."""
    counts = PairedCounts.from_correct(correct_searched, correct_dense)
    n = counts.n
    return Comparison(
        dense=wilson_interval(counts.both + counts.only_b, n, confidence=confidence),
        searched=wilson_interval(counts.both + counts.only_a, n, confidence=confidence),
        difference=newcombe_paired_interval(counts, confidence=confidence),
        mcnemar_p=mcnemar_exact_p(counts.only_a, counts.only_b),
        counts=counts,
    )


def constraint_holds(
    correct_dense: np.ndarray,
    correct_pruned: np.ndarray,
    max_drop_points: float,
    *,
    confidence: float | None = None,
) -> bool:
    """Does "accuracy drop <= ``max_drop_points``" hold for the pruned model against the dense one?

    With ``confidence=None`` the point estimate of the drop (dense - pruned accuracy on the same
    examples) is compared; with a confidence level the *upper* limit of the two-sided Newcombe
    paired interval at that level must satisfy it -- "we are confident the drop is at most this".
    """
    if not is_real(max_drop_points) or not 0.0 <= float(max_drop_points) <= 100.0:
        raise ValueError(f"constraint_holds: max_drop_points must be in [0, 100], got {max_drop_points!r}")
    counts = PairedCounts.from_correct(correct_dense, correct_pruned)
    limit = float(max_drop_points) / 100.0
    if confidence is None:
        drop = (counts.only_a - counts.only_b) / counts.n
    else:
        drop = newcombe_paired_interval(counts, confidence=confidence).high
    return drop <= limit + 1e-12  # float slack only: 0.9 - 0.89 must equal 0.01


__all__ = [
    "Comparison",
    "DEFAULT_CONFIDENCE",
    "Interval",
    "PairedCounts",
    "clopper_pearson_interval",
    "compare",
    "constraint_holds",
    "mcnemar_exact_p",
    "newcombe_paired_interval",
    "paired_bootstrap_interval",
    "wilson_interval",
]
