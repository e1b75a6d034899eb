"""Intervals and paired tests against closed forms worked out here and against published tables."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pruning.statistics import (
    PairedCounts,
    clopper_pearson_interval,
    compare,
    constraint_holds,
    mcnemar_exact_p,
    newcombe_paired_interval,
    paired_bootstrap_interval,
    wilson_interval,
)

Z95 = 1.959963984540054  # the 0.975 standard-normal quantile


def wilson_by_hand(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    # The quadratic-root form (2np + z^2 +- z sqrt(z^2 + 4np(1-p))) / (2(n + z^2)), not the module's.
    p = k / n
    root = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (2 * n * p + z * z - root) / (2 * (n + z * z)), (2 * n * p + z * z + root) / (2 * (n + z * z))


def test_wilson_8_of_10_matches_the_closed_form_and_its_known_value():
    interval = wilson_interval(8, 10)
    assert interval.estimate == 0.8
    assert (interval.low, interval.high) == pytest.approx(wilson_by_hand(8, 10), abs=1e-12)
    assert (interval.low, interval.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)


@pytest.mark.parametrize(
    "method, k, n, low, high",
    [
        # Newcombe (1998), Stat Med 17:857, Table II: method 3 (Wilson score, no continuity correction) ...
        (wilson_interval, 81, 263, 0.2553, 0.3662),
        (wilson_interval, 15, 148, 0.0624, 0.1605),
        (wilson_interval, 0, 20, 0.0, 0.1611),
        (wilson_interval, 1, 29, 0.0061, 0.1718),
        # ... and method 5 (Clopper-Pearson "exact").
        (clopper_pearson_interval, 81, 263, 0.2527, 0.3676),
        (clopper_pearson_interval, 15, 148, 0.0578, 0.1617),
        (clopper_pearson_interval, 1, 29, 0.0009, 0.1776),
    ],
)
def test_intervals_match_newcombe_table(method, k, n, low, high):
    interval = method(k, n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-4)


def test_clopper_pearson_at_the_edges_has_closed_forms():
    # k = 0: the upper limit solves (1 - p)^n = 0.025; k = n mirrors it.
    zero = clopper_pearson_interval(0, 10)
    assert zero.low == 0.0 and zero.high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-12)
    assert zero.high == pytest.approx(0.3085, abs=1e-4)
    full = clopper_pearson_interval(10, 10)
    assert full.high == 1.0 and full.low == pytest.approx(0.025 ** (1 / 10), abs=1e-12)


def test_mcnemar_exact_p_for_1_against_8_is_twice_the_binomial_tail():
    # Binomial(9, 1/2): P(X <= 1) = (1 + 9) / 512, doubled.
    assert mcnemar_exact_p(1, 8) == 20 / 512
    assert mcnemar_exact_p(8, 1) == 20 / 512
    assert mcnemar_exact_p(3, 3) == 1.0
    assert mcnemar_exact_p(0, 0) == 1.0


def test_newcombe_paired_matches_a_hand_computation():
    # A right on 8 of 10 (both 6, only A 2), B right on 7 (only B 1), neither 1.
    counts = PairedCounts(both=6, only_a=2, only_b=1, neither=1)
    l1, u1 = wilson_by_hand(8, 10)
    l2, u2 = wilson_by_hand(7, 10)
    phi = (6 * 1 - 2 * 1) / math.sqrt(8 * 2 * 7 * 3)
    diff = 0.8 - 0.7
    low = diff - math.sqrt((0.8 - l1) ** 2 - 2 * phi * (0.8 - l1) * (u2 - 0.7) + (u2 - 0.7) ** 2)
    high = diff + math.sqrt((u1 - 0.8) ** 2 - 2 * phi * (u1 - 0.8) * (0.7 - l2) + (0.7 - l2) ** 2)
    interval = newcombe_paired_interval(counts)
    assert interval.estimate == pytest.approx(0.1, abs=1e-15)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-12)


def test_identical_classifiers_have_a_zero_centred_interval():
    counts = PairedCounts(both=90, only_a=0, only_b=0, neither=10)
    interval = newcombe_paired_interval(counts)
    assert interval.estimate == 0.0 and interval.low <= 0.0 <= interval.high


def test_paired_bootstrap_agrees_with_newcombe_on_a_large_sample():
    rng = np.random.default_rng(3)
    a = rng.random(2000) < 0.9
    b = a.copy()
    flip = rng.random(2000) < 0.05
    b[flip] = ~b[flip]
    boot = paired_bootstrap_interval(a, b, seed=1, resamples=4000)
    score = newcombe_paired_interval(PairedCounts.from_correct(a, b))
    assert boot.estimate == score.estimate
    assert boot.low == pytest.approx(score.low, abs=0.004)
    assert boot.high == pytest.approx(score.high, abs=0.004)


def test_paired_bootstrap_is_deterministic_by_seed():
    rng = np.random.default_rng(0)
    a, b = rng.random(300) < 0.8, rng.random(300) < 0.7
    first = paired_bootstrap_interval(a, b, seed=7, resamples=500)
    assert first == paired_bootstrap_interval(a, b, seed=7, resamples=500)
    assert first != paired_bootstrap_interval(a, b, seed=8, resamples=500)


def test_constraint_on_the_bound_is_stricter_than_on_the_point():
    dense = np.ones(100, dtype=bool)
    pruned = dense.copy()
    pruned[0] = False  # a 1-point drop measured on 100 examples
    assert constraint_holds(dense, pruned, 1.0)
    assert not constraint_holds(dense, pruned, 1.0, confidence=0.95)
    upper = newcombe_paired_interval(PairedCounts.from_correct(dense, pruned)).high
    assert constraint_holds(dense, pruned, 100 * upper + 1e-6, confidence=0.95)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wilson_interval(11, 10), "successes must be <= n = 10, got 11"),
        (lambda: wilson_interval(1, 0), "n must be an int >= 1, got 0"),
        (lambda: wilson_interval(1, 10, confidence=1.5), "confidence must be a number in (0, 1), got 1.5"),
        (lambda: PairedCounts(0, 0, 0, 0), "n = 0"),
        (lambda: PairedCounts.from_correct(np.ones(3, bool), np.ones(4, bool)), "correct_a has 3 examples"),
        (
            lambda: PairedCounts.from_correct(np.ones(3), np.ones(3, bool)),
            "correct_a must be a 1-d bool array",
        ),
        (
            lambda: constraint_holds(np.ones(3, bool), np.ones(3, bool), -1),
            "max_drop_points must be in [0, 100]",
        ),
    ],
)
def test_bad_input_names_the_field_and_value(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        call()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_intervals_bracket_the_estimate_and_nest_by_confidence(kn, confidence):
    k, n = kn
    for method in (wilson_interval, clopper_pearson_interval):
        interval = method(k, n, confidence=confidence)
        assert 0.0 <= interval.low <= k / n <= interval.high <= 1.0
        wider = method(k, n, confidence=min(0.999, confidence + 0.009))
        assert wider.low <= interval.low + 1e-12 and wider.high >= interval.high - 1e-12
    # (Clopper-Pearson is conservative in coverage, not always wider than Wilson: at k=1, n=24,
    # 99% it is the narrower of the two, so no width ordering is asserted here.)


def test_compare_reports_both_accuracies_the_paired_difference_and_mcnemar():
    # 10 examples: dense right on 9, searched on 8; searched fixes 1 of dense's errors and adds 2.
    dense = np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    searched = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 1], dtype=bool)
    result = compare(dense, searched)
    assert (result.dense.low, result.dense.high) == pytest.approx(wilson_by_hand(9, 10), abs=1e-12)
    assert (result.searched.low, result.searched.high) == pytest.approx(wilson_by_hand(8, 10), abs=1e-12)
    assert result.difference.estimate == pytest.approx(-0.1)
    assert result.mcnemar_p == 1.0  # b=1, c=2: 2 * (1 + 3) / 8 = 1, capped
    assert result.to_dict()["only_dense_correct"] == 2 and result.to_dict()["only_searched_correct"] == 1
