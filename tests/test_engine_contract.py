"""The contract between the coalescer and the components, checked on each component alone.

A component's `repeat_period(start, ...)` must leave it exactly as making the same calls again,
`count` more times and each one period later, would: the records (merged the same way), and
the state later calls build on. The reference is the component itself, driven call by call.
"""

import simpy
from hypothesis import assume, given, settings, strategies as st

from accelsim.arch.hardware import PowerPolicy
from accelsim.timing.engine.buffers import Occupancy
from accelsim.timing.engine.power import PowerState

WARM_UP = 3  # periods made call by call before the snapshots


@st.composite
def periodic_uses(draw):
    """A period length and the uses [a, b) of one period, strictly inside it."""
    period = draw(st.integers(3, 40))
    uses = draw(st.lists(st.tuples(st.integers(1, period - 2), st.integers(1, period - 2)), max_size=4))
    return period, [(a, a + max(1, min(length, period - 1 - a))) for a, length in uses]


def _calls(uses, offset):
    """Acquires and releases of one period, in time order (a release first on a tie)."""
    calls = [(a + offset, 1) for a, _ in uses] + [(b + offset, 0) for _, b in uses]
    return sorted(calls)


def _drive(power, uses, period, first, last):
    for k in range(first, last):
        for cycle, acquire in _calls(uses, k * period):
            if acquire:
                power.acquire_at(cycle)
            else:
                power.release_at(cycle)


def _residency(power):
    totals = {}
    for state, start, end in power.intervals:
        totals[state] = totals.get(state, 0) + end - start
    wakes = len(power.wakes)
    for _, state, cycles in power.bulk:
        if state == "wake":
            wakes += cycles
        else:
            totals[state] = totals.get(state, 0) + cycles
    return totals, wakes


policies = st.builds(
    PowerPolicy, st.sampled_from(["never", "gate_after"]), st.integers(0, 30), st.integers(0, 12)
)


@settings(max_examples=200, deadline=None)
@given(
    shape=periodic_uses(),
    policy=policies,
    count=st.integers(1, 6),
    after=st.integers(0, 2),
    totals_only=st.booleans(),
)
def test_power_state_replays_a_period_as_its_calls_would(shape, policy, count, after, totals_only):
    period, uses = shape
    env = simpy.Environment()

    def fresh():
        return PowerState(env, "pe_array", policy, always_on_without_policy=False)

    reference, replayed = fresh(), fresh()
    total = WARM_UP + 1 + count + after
    _drive(reference, uses, period, 0, total)
    reference.finish(total * period)

    _drive(replayed, uses, period, 0, WARM_UP)
    start = replayed.snapshot()
    _drive(replayed, uses, period, WARM_UP, WARM_UP + 1)
    end = replayed.snapshot()
    # The coalescer replays only where the state repeats; a warmed-up periodic use mostly does.
    assume(start.same_state(WARM_UP * period, end, (WARM_UP + 1) * period))
    replayed.repeat_period(start, end, (WARM_UP + 1) * period, count, period, totals_only=totals_only)
    _drive(replayed, uses, period, WARM_UP + 1 + count, total)
    replayed.finish(total * period)

    # Replayed wake-ups are always counted in `bulk` (no trace shows them one by one).
    assert _residency(replayed) == _residency(reference)
    if not totals_only:
        assert replayed.intervals == reference.intervals


def test_power_state_snapshots_compare_relative_to_their_cycle():
    env = simpy.Environment()
    gated = PowerPolicy("gate_after", 5, 2)
    power = PowerState(env, "pe_array", gated, always_on_without_policy=False)
    power.acquire_at(10)
    power.release_at(14)
    first = power.snapshot()
    power.acquire_at(20)
    power.release_at(24)
    second = power.snapshot()
    assert first.same_state(15, second, 25)  # idle for 1 cycle at either
    assert not first.same_state(15, second, 26)  # idle for 1 against 2 cycles
    power.acquire_at(30)
    assert not second.same_state(25, power.snapshot(), 35)  # a user now


@settings(max_examples=200, deadline=None)
@given(
    period=st.integers(2, 30),
    count=st.integers(1, 6),
    adds=st.lists(st.tuples(st.integers(0, 29), st.integers(-50, 50)), max_size=5),
)
def test_occupancy_replays_a_period_as_its_adds_would(period, adds, count):
    # Each period's adds sum to zero, so every period starts from the same bytes.
    adds = sorted((cycle % period, delta) for cycle, delta in adds)
    adds.append((period - 1, -sum(delta for _, delta in adds)))
    env = simpy.Environment()

    def drive(occupancy, first, last):
        for k in range(first, last):
            for cycle, delta in adds:
                occupancy.add_at(delta, k * period + cycle)

    reference, replayed = Occupancy(env, "glb", keep=True), Occupancy(env, "glb", keep=True)
    drive(reference, 0, WARM_UP + 1 + count)
    drive(replayed, 0, WARM_UP)
    start = replayed.snapshot()
    drive(replayed, WARM_UP, WARM_UP + 1)
    replayed.repeat_period(start, count, period)
    assert replayed.changes == reference.changes
    assert replayed.bytes == reference.bytes


def test_the_engine_array_process_is_not_the_hardware_pe_array():
    import accelsim.timing.engine.pe_array as engine_array
    from accelsim.arch import hardware

    assert not hasattr(engine_array, "PEArray")
    assert engine_array.ArrayProcess is not hardware.PEArray
