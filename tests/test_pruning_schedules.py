import pytest
from hypothesis import given, settings, strategies as st

from pruning import IterativeLinear, OneShot, PolynomialDecay


def _monotone(schedule, last):
    values = [schedule.sparsity_at(step) for step in range(last + 3)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert all(0.0 <= v <= 1.0 for v in values)
    return values


def test_one_shot():
    s = OneShot(0.7, step=3)
    assert [s.sparsity_at(t) for t in range(5)] == [0.0, 0.0, 0.0, 0.7, 0.7]
    assert OneShot(0.5).sparsity_at(0) == 0.5


def test_iterative_linear_endpoints_and_steps():
    s = IterativeLinear(0.8, steps=4)
    assert [s.sparsity_at(t) for t in range(6)] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 0.8])
    assert s.sparsity_at(4) == 0.8  # exactly
    assert IterativeLinear(0.9, steps=3, initial_sparsity=0.3).sparsity_at(0) == 0.3


def test_polynomial_decay_matches_zhu_gupta():
    s = PolynomialDecay(final_sparsity=0.9, begin_step=10, end_step=20, initial_sparsity=0.1, power=3)
    assert s.sparsity_at(9) == 0.0
    assert s.sparsity_at(10) == pytest.approx(0.1)
    assert s.sparsity_at(15) == pytest.approx(0.9 + (0.1 - 0.9) * 0.5**3)
    assert s.sparsity_at(20) == 0.9 and s.sparsity_at(1000) == 0.9


def test_polynomial_frequency_holds_between_pruning_steps():
    s = PolynomialDecay(final_sparsity=0.5, begin_step=0, end_step=10, frequency=4)
    assert s.sparsity_at(5) == s.sparsity_at(4) < s.sparsity_at(8) < s.sparsity_at(10) == 0.5
    assert [t for t in range(12) if s.is_pruning_step(t)] == [0, 4, 8, 10]


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0, 1), st.floats(0, 1), st.integers(0, 20), st.integers(1, 30),
    st.floats(0.5, 5), st.integers(1, 7),
)  # fmt: skip
def test_polynomial_is_monotone_with_exact_endpoints(a, b, begin, length, power, frequency):
    initial, final = sorted((a, b))
    s = PolynomialDecay(
        final, begin, begin + length, initial_sparsity=initial, power=power, frequency=frequency
    )
    values = _monotone(s, begin + length)
    assert values[begin] == pytest.approx(initial) and values[begin + length] == final


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 12))
def test_linear_is_monotone(a, b, steps):
    initial, final = sorted((a, b))
    values = _monotone(IterativeLinear(final, steps, initial_sparsity=initial), steps)
    assert values[0] == initial and values[steps] == final


def test_bad_schedules_named():
    with pytest.raises(ValueError, match="OneShot: sparsity.*1.5"):
        OneShot(1.5)
    with pytest.raises(ValueError, match="OneShot: step.*-1"):
        OneShot(0.5, step=-1)
    with pytest.raises(ValueError, match="IterativeLinear: steps.*0"):
        IterativeLinear(0.5, 0)
    with pytest.raises(ValueError, match="initial_sparsity=0.6.*final_sparsity=0.5"):
        IterativeLinear(0.5, 3, initial_sparsity=0.6)
    with pytest.raises(ValueError, match="end_step must be > begin_step=5.*5"):
        PolynomialDecay(0.5, 5, 5)
    with pytest.raises(ValueError, match="power.*0"):
        PolynomialDecay(0.5, 0, 5, power=0)
    with pytest.raises(ValueError, match="frequency.*0"):
        PolynomialDecay(0.5, 0, 5, frequency=0)
    with pytest.raises(ValueError, match="step.*True"):
        OneShot(0.5).sparsity_at(True)
    with pytest.raises(ValueError, match="step.*-2"):
        PolynomialDecay(0.5, 0, 5).sparsity_at(-2)
