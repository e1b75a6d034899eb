"""What data-driven importance criteria need from a model: loss gradients and recorded layer outputs.

    importance_inputs(model, dataset, *, seed, max_examples, ...) -> ImportanceInputs

Both come from a fixed, seeded subset of the *training* split (never validation or test, which
judge the result), at most ``max_examples`` examples. Memory stays bounded on big models: outputs
are recorded for as many of those examples as fit in ``max_output_bytes``, and batches shrink to
match (LeNet on digits keeps all 256; ResNet-50 at 224x224 keeps 6).

- ``grads[layer]``: the gradient of the mean softmax cross-entropy over the subset with respect to
  the layer's (masked) weight, the ``grads`` that ``pruning.importance.Gradient`` / ``Taylor`` take.
  Batches are summed weighted by their size, so the result is the full-subset gradient exactly.
- ``activations[layer]``: the layer's outputs after its activation function, ``(N, C, H, W)`` for a
  conv and ``(N, F)`` for a linear layer (the layout ``pruning.importance`` reads channels from).

The numpy ``Model`` is handled here (in float64, so a finite-difference check is tight); a
``TorchModel`` provides the same two methods itself (``loss_gradients``, ``layer_outputs``), with
torch imported only on that path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import numpy as np

from workloads import nn
from workloads.datasets import Dataset
from workloads.models import Model, apply_masks, check_masks

#: Examples recorded by default: enough for stable per-channel statistics, small enough for memory.
DEFAULT_MAX_EXAMPLES = 256
BATCH = 64
#: Recorded layer outputs at most: ResNet-50 at 224x224 outputs 42 MiB per example, so it records 6.
MAX_OUTPUT_BYTES = 256 * 2**20


class InputsSource(Protocol):
    """A model that can give importance inputs (``TorchModel`` implements this itself)."""

    def loss_gradients(
        self, x: np.ndarray, y: np.ndarray, *, masks: Mapping[str, np.ndarray] | None, batch_size: int
    ) -> dict[str, np.ndarray]: ...

    def layer_outputs(
        self, x: np.ndarray, *, masks: Mapping[str, np.ndarray] | None, batch_size: int
    ) -> dict[str, np.ndarray]: ...


@dataclass(frozen=True)
class ImportanceInputs:
    """Gradients and recorded outputs keyed by layer name (empty when not asked for), and how many
    examples each came from (outputs: the first ``recorded_examples`` of the gradients' subset)."""

    grads: dict[str, np.ndarray] = field(default_factory=dict)
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    examples: int = 0
    recorded_examples: int = 0


def training_subset(dataset: Dataset, *, seed: int, max_examples: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_examples`` training examples, drawn without replacement by ``seed``, in dataset order."""
    if isinstance(max_examples, bool) or not isinstance(max_examples, int) or max_examples < 1:
        raise ValueError(f"importance_inputs: max_examples must be an int >= 1, got {max_examples!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"importance_inputs: seed must be an int >= 0, got {seed!r}")
    x, y = dataset.split("train")
    if len(y) == 0:
        raise ValueError(f"importance_inputs: dataset {dataset.name!r} has an empty train split")
    count = min(max_examples, len(y))
    # Sorted, so the batches (and the float summation order) do not depend on the draw order.
    index = np.sort(np.random.default_rng(seed).choice(len(y), size=count, replace=False))
    return x[index], y[index]


def numpy_loss_gradients(
    model: Model, x: np.ndarray, y: np.ndarray, *, masks: Mapping[str, np.ndarray] | None, batch_size: int
) -> dict[str, np.ndarray]:
    """d(mean cross-entropy over ``x``)/d(weight) of every weighted layer, in float64."""
    params = _float64_params(model, masks)
    names = nn.parameter_layers(model.network)
    total = {name: np.zeros(params[name].shape) for name in names}
    inputs = model.prepare_inputs(x).astype(np.float64)
    with nn.single_threaded_blas():
        for start in range(0, len(y), batch_size):
            batch = slice(start, start + batch_size)
            logits, tape = nn.forward(model.network, params, inputs[batch])
            _, dlogits = nn.softmax_cross_entropy(logits, y[batch])
            grads = nn.backward(tape, dlogits)
            weight = len(y[batch]) / len(y)  # the batch mean -> its share of the subset mean
            for name in names:
                total[name] += grads[name] * weight
    return total


def numpy_layer_outputs(
    model: Model, x: np.ndarray, *, masks: Mapping[str, np.ndarray] | None, batch_size: int
) -> dict[str, np.ndarray]:
    """Each weighted layer's post-activation output over ``x`` (float32), batches concatenated."""
    params = _float64_params(model, masks)
    names = set(nn.parameter_layers(model.network))
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    inputs = model.prepare_inputs(x).astype(np.float64)
    with nn.single_threaded_blas():
        for start in range(0, len(x), batch_size):
            _, tape = nn.forward(model.network, params, inputs[start : start + batch_size])
            for layer, _, out, _ in tape.entries:
                if layer.name in names:
                    parts[layer.name].append(out.astype(np.float32))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _float64_params(model: Model, masks: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    checked = check_masks(model.network, masks)
    return {key: value.astype(np.float64) for key, value in apply_masks(model.weights, checked).items()}


def importance_inputs(
    model: Model | InputsSource,
    dataset: Dataset,
    *,
    seed: int,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    grads: bool = True,
    activations: bool = True,
    masks: Mapping[str, np.ndarray] | None = None,
    batch_size: int = BATCH,
    max_output_bytes: int = MAX_OUTPUT_BYTES,
) -> ImportanceInputs:
    """Gradients and/or layer outputs of ``model`` (under ``masks``) on a seeded training subset.

    One example's recorded outputs size the memory: the outputs are recorded for as many of the
    subset's first examples as fit in ``max_output_bytes`` (at least one), and batches shrink to
    that many, so a large model is scored on fewer examples instead of running out of memory.
    """
    x, y = training_subset(dataset, seed=seed, max_examples=max_examples)
    if isinstance(model, Model):
        grads_of: Callable[..., dict[str, np.ndarray]] = partial(numpy_loss_gradients, model)
        outputs_of: Callable[..., dict[str, np.ndarray]] = partial(numpy_layer_outputs, model)
    else:
        grads_of, outputs_of = model.loss_gradients, model.layer_outputs
    example_bytes = sum(out.nbytes for out in outputs_of(x[:1], masks=masks, batch_size=1).values())
    fits = max(1, max_output_bytes // max(example_bytes, 1))
    batch = min(batch_size, fits)
    recorded = x[:fits] if activations else x[:0]
    return ImportanceInputs(
        grads=grads_of(x, y, masks=masks, batch_size=batch) if grads else {},
        activations=outputs_of(recorded, masks=masks, batch_size=batch) if activations else {},
        examples=len(y),
        recorded_examples=len(recorded),
    )


__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "MAX_OUTPUT_BYTES",
    "ImportanceInputs",
    "InputsSource",
    "importance_inputs",
    "numpy_layer_outputs",
    "numpy_loss_gradients",
    "training_subset",
]
