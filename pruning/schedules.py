"""Sparsity schedules: ``sparsity_at(step) -> float``, the *total* target sparsity at a step.

The value is what ``compute_mask`` / ``prune`` take as ``amount`` (already-pruned weights count
toward it), so feeding a schedule's values in step order never asks for fewer pruned weights than
before: every schedule here is non-decreasing in ``step``. Steps are ints >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from pruning._checks import check_fraction, check_int, is_real


def _step(owner: str, step: object) -> int:
    return check_int(owner, "step", step, minimum=0)


@dataclass(frozen=True)
class OneShot:
    """Dense before ``step``, ``sparsity`` from ``step`` on."""

    sparsity: float
    step: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sparsity", check_fraction("OneShot", "sparsity", self.sparsity))
        check_int("OneShot", "step", self.step, minimum=0)

    @property
    def final_sparsity(self) -> float:
        return self.sparsity

    @property
    def end_step(self) -> int:
        return self.step

    def sparsity_at(self, step: int) -> float:
        return self.sparsity if _step("OneShot", step) >= self.step else 0.0


@dataclass(frozen=True)
class IterativeLinear:
    """``steps`` equal increments from ``initial_sparsity`` (at step 0) to ``final_sparsity`` (at ``steps``)."""

    final_sparsity: float
    steps: int
    initial_sparsity: float = 0.0

    def __post_init__(self) -> None:
        final = check_fraction("IterativeLinear", "final_sparsity", self.final_sparsity)
        initial = check_fraction("IterativeLinear", "initial_sparsity", self.initial_sparsity)
        check_int("IterativeLinear", "steps", self.steps, minimum=1)
        if initial > final:
            raise ValueError(
                f"IterativeLinear: initial_sparsity={initial!r} must be <= final_sparsity={final!r} "
                "(pruning never revives)"
            )
        object.__setattr__(self, "final_sparsity", final)
        object.__setattr__(self, "initial_sparsity", initial)

    @property
    def end_step(self) -> int:
        return self.steps

    def sparsity_at(self, step: int) -> float:
        k = min(_step("IterativeLinear", step), self.steps)
        if k == self.steps:
            return self.final_sparsity  # exact, free of rounding
        return self.initial_sparsity + (self.final_sparsity - self.initial_sparsity) * k / self.steps


@dataclass(frozen=True)
class PolynomialDecay:
    """Zhu & Gupta (2017) gradual pruning: s_t = s_f + (s_i - s_f) (1 - (t - t0) / (t1 - t0)) ** power.

    Dense before ``begin_step``; ``initial_sparsity`` at ``begin_step``; ``final_sparsity`` from
    ``end_step`` on. Pruning happens every ``frequency`` steps after ``begin_step`` (and at
    ``end_step``); in between the value holds at the last pruning step's.
    """

    final_sparsity: float
    begin_step: int
    end_step: int
    initial_sparsity: float = 0.0
    power: float = 3.0
    frequency: int = 1

    def __post_init__(self) -> None:
        owner = "PolynomialDecay"
        final = check_fraction(owner, "final_sparsity", self.final_sparsity)
        initial = check_fraction(owner, "initial_sparsity", self.initial_sparsity)
        if initial > final:
            raise ValueError(
                f"{owner}: initial_sparsity={initial!r} must be <= final_sparsity={final!r} (pruning never revives)"
            )
        begin = check_int(owner, "begin_step", self.begin_step, minimum=0)
        end = check_int(owner, "end_step", self.end_step, minimum=0)
        if end <= begin:
            raise ValueError(f"{owner}: end_step must be > begin_step={begin}, got {end!r}")
        check_int(owner, "frequency", self.frequency, minimum=1)
        if not is_real(self.power) or not self.power > 0:
            raise ValueError(f"{owner}: power must be a number > 0, got {self.power!r}")
        object.__setattr__(self, "final_sparsity", final)
        object.__setattr__(self, "initial_sparsity", initial)
        object.__setattr__(self, "power", float(self.power))

    def is_pruning_step(self, step: int) -> bool:
        step = _step("PolynomialDecay", step)
        return self.begin_step <= step <= self.end_step and (
            (step - self.begin_step) % self.frequency == 0 or step == self.end_step
        )

    def sparsity_at(self, step: int) -> float:
        step = _step("PolynomialDecay", step)
        if step < self.begin_step:
            return 0.0
        if step >= self.end_step:
            return self.final_sparsity
        held = self.begin_step + (step - self.begin_step) // self.frequency * self.frequency
        progress = (held - self.begin_step) / (self.end_step - self.begin_step)
        return (
            self.final_sparsity
            + (self.initial_sparsity - self.final_sparsity) * (1.0 - progress) ** self.power
        )


Schedule = OneShot | IterativeLinear | PolynomialDecay

__all__ = ["OneShot", "IterativeLinear", "PolynomialDecay", "Schedule"]
