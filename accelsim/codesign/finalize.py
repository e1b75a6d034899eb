"""The winners' final fine-tune, by schedule (``CodesignConfig.schedule``).

- ``oneshot``: the plan's masks at once on the weights the search fine-tuned them to
  (`pruning.FinetunedAccuracy`), then ``final_epochs`` of masked fine-tuning.
- ``iterative`` and ``polynomial``: gradual pruning from the *dense* model. Each searched layer's
  sparsity ramps to its planned sparsity over `GRADUAL_STEPS` steps (fewer if there are fewer
  epochs) -- in equal increments (`pruning.IterativeLinear`) or along Zhu & Gupta's (2017) cubic
  ``s_t = s_f (1 - (1 - t/n)^3)`` (`pruning.PolynomialDecay`), which prunes fast while many redundant
  weights remain and slowly near the target. At every step the weights are re-scored with the
  run's criterion on the *current* fine-tuned model (data-driven criteria get fresh gradients or
  outputs under the current masks), pruned further from the current masks (``prune(current=)``:
  a mask only ever shrinks), and fine-tuned (a fresh Adam with its own cosine decay per step);
  the steps share ``final_epochs`` (remainder to the last steps), so the final epoch budget
  equals oneshot's (oneshot also inherits the search's candidate epochs). Gradual runs start
  from the dense weights because the search's weights were already fine-tuned at the final
  masks (their pruned weights sit at zero, so a magnitude ramp would re-select them).

N:M layers cannot ramp: the pattern fixes the density, so it is applied at the last step (the
other layers have reached their targets by then, and the last step's fine-tune recovers from it).
At the last step every layer's amount is its planned one, so the final masks keep each layer's
planned granularity and sparsity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from accelsim.codesign.executed_model import ExecutedModel
from accelsim.codesign.sources import AnyModel
from pruning import Masks, SearchSpace
from pruning.candidates import Plan
from pruning.finetuned_accuracy import masked_finetune as finetune_masked
from pruning.granularity import NM
from pruning.importance import Importance
from pruning.layer_option import LayerOption
from pruning.methods import prune
from pruning.schedules import IterativeLinear, PolynomialDecay
from workloads.datasets import Dataset
from workloads.quantization import Bits
from workloads.training import Adam

SCHEDULES = ("oneshot", "iterative", "polynomial")
#: Pruning steps of a gradual schedule (at most one per final epoch).
GRADUAL_STEPS = 4

#: ``rescore(model, masks)``: the run's criterion bound to ``model`` under ``masks``.
Rescore = Callable[[AnyModel, Masks], Importance]
#: ``tune(model, masks, epochs, bits)``: masked (and, with ``bits``, quantization-aware) fine-tuning;
#: identity for 0 epochs.
Tune = Callable[[AnyModel, Masks, int, "Bits | None"], AnyModel]


def masked_finetune(
    model: AnyModel,
    dataset: Dataset,
    masks: Mapping[str, np.ndarray],
    *,
    epochs: int,
    lr: float,
    seed: int,
    bits: Bits | None = None,
) -> AnyModel:
    """``epochs`` of masked Adam fine-tuning (quantization-aware with ``bits``); both model kinds
    through the same signature."""
    if epochs == 0:
        return model
    if isinstance(model, ExecutedModel):
        raise ValueError(f"codesign: {model.name!r} is only executed (ONNX) and cannot be fine-tuned")
    return finetune_masked(model, dataset, masks, epochs=epochs, optimizer=Adam(lr=lr), seed=seed, bits=bits)


def tuner(dataset: Dataset, *, lr: float, seed: int) -> Tune:
    """`masked_finetune` on ``dataset`` with the run's final learning rate and seed, as a `Tune`."""

    def tune(model: AnyModel, masks: Masks, epochs: int, bits: Bits | None = None) -> AnyModel:
        return masked_finetune(model, dataset, masks, epochs=epochs, lr=lr, seed=seed, bits=bits)

    return tune


def gradual_steps(epochs: int) -> int:
    """Pruning steps of a gradual schedule with ``epochs`` to spend: one per epoch, at most `GRADUAL_STEPS`."""
    return max(1, min(GRADUAL_STEPS, epochs))


def epoch_split(epochs: int, steps: int) -> list[int]:
    """``epochs`` over ``steps`` as evenly as possible; the remainder goes to the last steps."""
    base, extra = divmod(epochs, steps)
    return [base + (1 if i >= steps - extra else 0) for i in range(steps)]


def step_sparsity(schedule: str, final_sparsity: float, step: int, steps: int) -> float:
    """A layer's total target sparsity after pruning step ``step`` (1..``steps``) of ``schedule``."""
    if schedule == "iterative":
        return IterativeLinear(final_sparsity, steps).sparsity_at(step)
    if schedule == "polynomial":
        return PolynomialDecay(final_sparsity, begin_step=0, end_step=steps).sparsity_at(step)
    raise ValueError(f"codesign: schedule must be one of {list(SCHEDULES[1:])} to ramp, got {schedule!r}")


def step_overrides(
    space: SearchSpace, plan: Plan, schedule: str, step: int, steps: int
) -> dict[str, LayerOption]:
    """Per pruned layer of ``plan``: what it gets at ``step`` (N:M only at the last step)."""
    overrides = {}
    for name, gene in zip(space.layers, space.normalize(plan)):
        label, sparsity = gene[0], gene[1]
        if label == "dense":
            continue
        option = space.options[label]
        if isinstance(option.granularity, NM):
            if step == steps:
                overrides[name] = option.layer_option(sparsity)
            continue
        overrides[name] = option.layer_option(step_sparsity(schedule, sparsity, step, steps))
    return overrides


def ramp(
    space: SearchSpace,
    plan: Plan,
    model: AnyModel,
    *,
    schedule: str,
    epochs: int,
    rescore: Rescore,
    tune: Tune,
    bits: Bits | None = None,
) -> tuple[Masks, AnyModel, list[Masks]]:
    """Gradual pruning of ``model`` to ``plan``: the final masks and model, and every step's masks."""
    steps = gradual_steps(epochs)
    masks = Masks.dense(space.network)
    history = []
    for step, step_epochs in enumerate(epoch_split(epochs, steps), start=1):
        masks = prune(
            space.network, model.weights, amount=0.0, granularity="unstructured",
            importance=rescore(model, masks), current=masks, layers=space.layers,
            overrides=step_overrides(space, plan, schedule, step, steps),
        )  # fmt: skip
        history.append(masks)
        model = tune(model, masks, step_epochs, bits)
    return masks, model, history


def final_model(
    space: SearchSpace,
    plan: Plan,
    *,
    schedule: str,
    search_model: Callable[[Masks], AnyModel],
    dense_model: AnyModel,
    rescore: Rescore,
    tune: Tune,
    epochs: int,
    bits: Bits | None = None,
) -> tuple[Masks, AnyModel]:
    """The masks and fine-tuned model of ``plan`` under ``schedule`` (see the module doc); with
    ``bits`` every fine-tune is quantization-aware at those widths."""
    if all(gene[0] == "dense" for gene in plan) and not bits:
        return Masks.dense(space.network), dense_model
    if schedule == "oneshot":
        masks = space.masks(plan)
        tuned = search_model(masks)
        if bits or any(not m.all() for m in masks.values()):
            tuned = tune(tuned, masks, epochs, bits)
        return masks, tuned
    masks, tuned, _ = ramp(
        space, plan, dense_model, schedule=schedule, epochs=epochs, rescore=rescore, tune=tune, bits=bits
    )
    return masks, tuned


__all__ = [
    "GRADUAL_STEPS",
    "SCHEDULES",
    "epoch_split",
    "final_model",
    "gradual_steps",
    "masked_finetune",
    "ramp",
    "step_overrides",
    "step_sparsity",
    "tuner",
]
