"""``--task module:function``: a co-design run's model, data and accuracy measure from one function.

``workloads.user_task.load_task`` returns the model and its splits; the splits become one
``Dataset`` (batch iterables drained once, validation carved from train when absent). A torch
``nn.Module`` goes the way ``--model`` does (``sources.module_source``: traced by ``from_torch``,
evaluated and fine-tuned as a ``TorchModel``); a ``workloads.Model`` is used as is.

A task's own ``accuracy(model, data)`` replaces top-1 wherever one number per split is enough: the
search constraint, the winners' validation check and the test-split verdict. It is called with the
pruned model in the task's own terms (the ``nn.Module`` with masked weights, or the ``Model``) and
``data = (x, y)`` of one split. It gives no per-example scores, so it has no interval and cannot be
paired: the Wilson intervals, the paired difference and McNemar's test stay on top-1 correctness and
say so, and a confidence-bounded constraint is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from accelsim.codesign.sources import AnyModel, Source, module_source
from workloads.datasets import Dataset
from workloads.importers.errors import MissingExtraError
from workloads.models import Model
from workloads.torch_model import TorchModel
from workloads.user_task import TaskSpecError, load_task, task_dataset

#: ``metric(model, masks, split) -> fraction``: how a run with a task's own measure scores a design.
Metric = Callable[[Any, Mapping[str, np.ndarray] | None, str], float]
#: What the summary and report say the accuracies are when the task brings its own measure.
TASK_MEASURE = (
    "the task's accuracy function (one number per split: no interval and no paired test; "
    "the intervals, paired differences, McNemar tests and before-fine-tuning accuracies are top-1)"
)


def pruned_view(model: AnyModel, masks: Mapping[str, np.ndarray] | None) -> Any:
    """``model`` pruned by ``masks`` as the task knows it: an ``nn.Module`` or a ``Model``."""
    masks = dict(masks or {})
    if isinstance(model, TorchModel):
        weights = model.weights
        return model.with_weights({name: weights[name] * mask for name, mask in masks.items()}).module()
    if isinstance(model, Model):
        return model.with_weights(model.masked_weights(masks))
    return model


class TaskMetric:
    """The task's ``accuracy(model, data)`` of a pruned model on one split: a fraction in [0, 1]."""

    def __init__(self, function: Callable[..., Any], dataset: Dataset, spec: str) -> None:
        self.function, self.dataset, self.spec = function, dataset, spec

    def __call__(self, model: AnyModel, masks: Mapping[str, np.ndarray] | None, split: str) -> float:
        try:
            value = self.function(pruned_view(model, masks), self.dataset.split(split))
        except Exception as exc:  # the user's function: report it in one line
            raise TaskSpecError(self.spec, f"accuracy() raised {type(exc).__name__}: {exc}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TaskSpecError(self.spec, f"accuracy() must return a number, got {type(value).__name__}")
        if not (math.isfinite(float(value)) and 0.0 <= float(value) <= 1.0):
            raise TaskSpecError(self.spec, f"accuracy() must return a fraction in [0, 1], got {value!r}")
        return float(value)


class MetricAccuracy:
    """A search oracle read through the task's metric on the validation split."""

    def __init__(self, oracle: Any, metric: Metric) -> None:
        self.oracle, self.metric = oracle, metric

    def tuned_model(self, masks: Mapping[str, np.ndarray]) -> Any:
        return self.oracle.tuned_model(masks)

    def __call__(self, masks: Mapping[str, np.ndarray]) -> float:
        return self.metric(self.oracle.tuned_model(masks), masks, "val")


def task_source(spec: str, *, seed: int) -> Source:
    """The task's model over its data (and its accuracy function as ``Source.metric``)."""
    task = load_task(spec)
    dataset = task_dataset(task, spec, seed=seed)
    if isinstance(task.model, Model):
        source = Source(task.model, task.model.network, dataset)
        try:
            task.model.predict(dataset.x_val[:1])
        except ValueError as exc:
            raise TaskSpecError(spec, f"the model does not take the task's data: {exc}") from None
    else:
        try:
            import torch
        except ImportError:
            raise MissingExtraError("torch", "torch") from None
        if not isinstance(task.model, torch.nn.Module):
            raise TaskSpecError(
                spec, f"model must be a torch.nn.Module or a workloads Model, got {type(task.model).__name__}"
            )
        example = task.example if task.example is not None else torch.tensor(dataset.x_train[:1])
        source = module_source(task.model, example, dataset, lambda problem: TaskSpecError(spec, problem))
    if task.accuracy is None:
        return source
    return Source(source.model, source.network, dataset, metric=TaskMetric(task.accuracy, dataset, spec))


__all__ = ["TASK_MEASURE", "Metric", "MetricAccuracy", "TaskMetric", "pruned_view", "task_source"]
