"""The winners' schedule driver (`accelsim.codesign.finalize`), without training: a fake fine-tune
perturbs the weights so the re-scoring at every step sees a different ranking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accelsim.codesign.finalize import (
    epoch_split,
    final_model,
    gradual_steps,
    ramp,
    step_overrides,
    step_sparsity,
)
from pruning import Masks, SearchSpace
from pruning.granularity import NM, Block
from pruning.importance import FixedScores, magnitude_l1, random_importance
from workloads.models import Model, lenet_digits


@pytest.fixture(scope="module")
def setup():
    model = lenet_digits(seed=1)
    space = SearchSpace(
        model.network, model.weights, granularities=["unstructured", Block((4, 4)), NM(2, 4), "channel"]
    )
    plan = (("dense", 0.0), ("channel", 0.5), ("block4x4", 0.9), ("nm2:4", 0.5), ("unstructured", 0.7))
    return model, space, space.normalize(plan)


def _noisy_tune(calls: list):
    """A stand-in fine-tune: records its epochs and moves every kept weight by seeded noise."""

    def tune(model: Model, masks: Masks, epochs: int) -> Model:
        calls.append(epochs)
        rng = np.random.default_rng(len(calls))
        weights = {}
        for key, value in model.weights.items():
            moved = value + rng.normal(0, 0.05, value.shape).astype(value.dtype)
            weights[key] = np.where(masks[key], moved, 0).astype(value.dtype) if key in masks else moved
        return model.with_weights(weights)

    return tune


def _shuffled_scores():
    """A re-scoring that ranks afresh at every step (random scores, seeded per call): without
    ``current=`` it would bring pruned weights back."""
    calls = []

    def rescore(model: Model, masks: Masks) -> FixedScores:
        calls.append(1)
        return FixedScores(random_importance(model.weights, rng=len(calls)))

    return rescore


@pytest.mark.parametrize("schedule", ["iterative", "polynomial"])
def test_masks_only_shrink_and_end_at_the_planned_sparsity(setup, schedule):
    model, space, plan = setup
    calls: list[int] = []
    masks, tuned, history = ramp(
        space,
        plan,
        model,
        schedule=schedule,
        epochs=10,
        rescore=_shuffled_scores(),
        tune=_noisy_tune(calls),
    )
    assert len(history) == gradual_steps(10) == 4 and calls == epoch_split(10, 4) == [2, 2, 3, 3]
    for earlier, later in zip(history, history[1:]):
        for name in later:
            assert not np.any(later[name] & ~earlier[name]), f"{name} revived a weight"
    # Each layer ends where pruning the plan at once ends: same granularity, same count.
    planned = space.masks(plan)
    for name in planned:
        assert masks[name].sum() == planned[name].sum(), name
    assert masks["conv1"].all()
    fc3_kept = [h.density_of("fc3") for h in history]
    assert fc3_kept == sorted(fc3_kept, reverse=True) and len(set(fc3_kept)) == 4
    assert fc3_kept[-1] == pytest.approx(0.3, abs=1e-3)
    # Channels go whole (with fc1's matching inputs); block 4x4 stays whole blocks; N:M waits for
    # the last step, then keeps 2 of every 4.
    conv2 = masks["conv2"].reshape(16, -1)
    assert np.all(conv2.all(axis=1) | ~conv2.any(axis=1)) and (~conv2.any(axis=1)).sum() == 8
    blocks = masks["fc1"].reshape(30, 4, 16, 4).swapaxes(1, 2).reshape(-1, 16)
    assert np.all(blocks.all(axis=1) | ~blocks.any(axis=1))
    assert all(h["fc2"].all() for h in history[:-1])
    assert np.all(masks["fc2"].reshape(-1, 4).sum(axis=1) == 2)
    # The re-scoring saw the fine-tuned weights: the final masks differ from one-shot's.
    assert masks["fc3"].tolist() != planned["fc3"].tolist()
    assert tuned is not model


def test_cubic_prunes_faster_early_than_linear():
    linear = [step_sparsity("iterative", 0.8, t, 4) for t in range(1, 5)]
    cubic = [step_sparsity("polynomial", 0.8, t, 4) for t in range(1, 5)]
    assert linear == pytest.approx([0.2, 0.4, 0.6, 0.8])
    # Zhu & Gupta: s_t = s_f (1 - (1 - t/n)^3).
    assert cubic == pytest.approx([0.8 * (1 - (1 - t / 4) ** 3) for t in range(1, 5)])
    assert cubic[0] > linear[0] and cubic[-1] == 0.8


def test_nm_layers_join_at_the_last_step(setup):
    _, space, plan = setup
    first, last = (
        step_overrides(space, plan, "iterative", 1, 3),
        step_overrides(space, plan, "iterative", 3, 3),
    )
    assert "fc2" not in first and last["fc2"].structure == NM(2, 4) and last["fc2"].amount is None
    assert "conv1" not in last and last["fc1"].amount == 0.9 and last["conv2"].amount == 0.5


@given(epochs=st.integers(0, 60), steps=st.integers(1, 8))
@settings(max_examples=50, deadline=None)
def test_epoch_split_spends_the_budget_exactly(epochs, steps):
    split = epoch_split(epochs, steps)
    assert len(split) == steps and sum(split) == epochs and max(split) - min(split) <= 1
    assert split == sorted(split)


def test_oneshot_tunes_the_search_weights_and_a_dense_plan_is_untouched(setup):
    model, space, plan = setup
    calls: list[int] = []
    searched = model.with_weights({k: v * 2 for k, v in model.weights.items()})
    masks, _ = final_model(
        space, plan, schedule="oneshot", search_model=lambda m: searched, dense_model=model,
        rescore=lambda m, _: magnitude_l1, tune=_noisy_tune(calls), epochs=5,
    )  # fmt: skip
    assert masks == space.masks(plan) and calls == [5]
    masks, tuned = final_model(
        space, space.dense_plan, schedule="polynomial", search_model=lambda m: searched, dense_model=model,
        rescore=lambda m, _: magnitude_l1, tune=_noisy_tune(calls), epochs=5,
    )  # fmt: skip
    assert tuned is model and all(m.all() for m in masks.values()) and calls == [5]


def test_unknown_ramp_is_named():
    with pytest.raises(
        ValueError, match=r"schedule must be one of \['iterative', 'polynomial'\] to ramp, got 'oneshot'"
    ):
        step_sparsity("oneshot", 0.5, 1, 2)
