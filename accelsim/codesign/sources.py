"""Where a co-design run's model, network and data come from: the built-in digits models or a user's.

A user's model is ``--model module:function``: ``module`` is a dotted import name or a ``.py`` path,
and ``function()`` returns ``(nn.Module, example_input)`` with the module already trained. The
network the simulator sees is ``from_torch`` of that module, accuracy and fine-tuning go through
``TorchModel`` (whose layer names are the same torch module names), and the data is
``load_user_data`` of ``--data``. torch is imported only on that path, so the digits path (``make
run``) stays torch-free.

``--model path.onnx`` is a trained model exported to ONNX with its weights as initializers: the
network and weights come from ``from_onnx`` and the model is an ``ExecutedModel`` (accuracy through
``execute``), which cannot be fine-tuned, so that run prunes one-shot (``Source.fine_tunes``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from accelsim.codesign.executed_model import ExecutedModel
from workloads.datasets import Dataset, load_digits
from workloads.models import Model
from workloads.quantization import Bits
from workloads.torch_model import TorchModel
from workloads.user_task import SpecError, call_module_spec
from workloads.weight_cache import pretrained

AnyModel = Model | TorchModel | ExecutedModel


class ModelSpecError(SpecError):
    """A ``--model module:function`` that cannot be resolved or returned something unusable."""

    flag = "--model"


@dataclass(frozen=True)
class Source:
    """The trained model, the network the simulator runs and the data its accuracy is measured on."""

    model: AnyModel
    network: Any
    dataset: Dataset
    fine_tunes: bool = True  # False: the model has no training path, the run prunes one-shot
    # A task's own accuracy ``metric(model, masks, split) -> fraction`` in place of top-1, or None.
    metric: Callable[[Any, Any, str], float] | None = None


def load_model_spec(spec: str) -> tuple[Any, Any]:
    """``(module, example_input)`` from ``spec = "module:function"`` (module dotted or a .py path)."""
    return call_module_spec(spec, ModelSpecError)


def torch_source(spec: str, data: str, *, seed: int) -> Source:
    """A user's trained torch module and data: the network from ``from_torch``, the model a ``TorchModel``."""
    from workloads.user_data import load_user_data

    module, example = load_model_spec(spec)
    dataset = load_user_data(data, seed=seed)
    return module_source(module, example, dataset, partial(ModelSpecError, spec), f"--data {data}: ")


def module_source(
    module: Any, example: Any, dataset: Dataset, error: Callable[[str], Exception], data_prefix: str = ""
) -> Source:
    """A trained ``nn.Module`` over ``dataset``: traced by ``from_torch``, evaluated and tuned as a
    ``TorchModel``; what is wrong becomes ``error(problem)`` (``data_prefix`` names the data)."""
    from workloads.importers.torch_import import from_torch

    try:
        model = TorchModel(module, example)
    except (TypeError, ValueError) as exc:
        raise error(str(exc)) from None
    imported = from_torch(module, example)
    missing = sorted(name for name in model.layers if name not in imported.network)
    if missing:
        raise error(f"prunable layers {missing} are not layers of the traced network")
    try:
        model.prepare_inputs(dataset.x_val[:1])
    except ValueError as exc:
        raise error(f"{data_prefix}{exc}") from None
    return Source(model, imported.network, dataset)


def onnx_source(path: str, data: str, *, seed: int) -> Source:
    """An ONNX file with its weights and the user's data: the model an ``ExecutedModel``, one-shot."""
    from workloads.importers.onnx_import import from_onnx
    from workloads.user_data import load_user_data

    imported = from_onnx(path)
    if imported.weights is None:
        reason = "; ".join(imported.notes) or "the file carries no initializers"
        raise ModelSpecError(path, f"has no weights ({reason}); co-design needs the trained weights")
    try:
        model = ExecutedModel(imported.network, imported.weights)
    except ValueError as exc:
        raise ModelSpecError(path, str(exc)) from None
    dataset = load_user_data(data, seed=seed)
    try:
        model.prepare_inputs(dataset.x_val[:1])
    except ValueError as exc:
        raise ModelSpecError(path, f"--data {data}: {exc}") from None
    return Source(model, imported.network, dataset, fine_tunes=False)


def digits_source(name: str, *, seed: int) -> Source:
    """A built-in numpy model trained on the digits data (or loaded from the weight cache)."""
    dataset = load_digits()
    model = pretrained(name, dataset, seed=seed)
    return Source(model, model.network, dataset)


def correct(
    model: AnyModel,
    dataset: Dataset,
    split: str,
    masks: Mapping[str, np.ndarray] | None = None,
    bits: Bits | None = None,
) -> np.ndarray:
    """Per-example top-1 correctness on ``split`` (bool, dataset order): what paired statistics need.

    With ``bits`` the model is fake-quantized, its activation ranges calibrated on the train split.
    """
    return model.correct(dataset, split, masks=None if masks is None else dict(masks), bits=bits)


__all__ = [
    "ModelSpecError",
    "Source",
    "correct",
    "digits_source",
    "load_model_spec",
    "module_source",
    "onnx_source",
    "torch_source",
]
