"""A PyTorch model behind the numpy ``Model`` contract: evaluate, fine-tune under masks, weights in/out.

The co-design search needs four things from a model: top-1 accuracy under a mask set on a split,
a masked fine-tune with a ``TrainConfig``, the weights keyed by layer name (for ``execute`` and
the simulator) and a content digest (for caching). ``TorchModel`` provides them for any
``nn.Module`` whose prunable layers are ``nn.Linear`` / ``nn.Conv*d``: a layer's name is its
module name (``model.named_modules()``, e.g. ``"features.0"``), which is also the layer name the
torch importer gives it, and its mask has the shape of its ``weight``.

Like ``Model``, a ``TorchModel`` is immutable: it keeps a private copy of the module, evaluation
never changes it (masked weights go in through ``torch.func.functional_call``), and fine-tuning
returns a new one.

Fine-tuning keeps a pruned weight exactly +0.0: it is zeroed before the first step, its gradient
is zeroed before every step (so weight decay, momentum and Adam's moments see zero and produce
zero), and after every step both the weight and any optimiser state of that entry are zeroed
again, so rounding or a stateful optimiser can never revive it.

Determinism on CPU: all randomness comes from the seed (``torch.manual_seed`` inside a forked RNG
state, batch order from ``numpy.random.default_rng(seed)``), and training and evaluation run in
:func:`deterministic` -- one intra-op thread, ``torch.use_deterministic_algorithms(True)`` -- so
the same inputs give bit-identical weights on the same machine and torch build.

torch is imported lazily; without it every entry point raises ``MissingExtraError("torch", "torch")``.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from workloads import nn
from workloads.datasets import Dataset
from workloads.importers.errors import MissingExtraError
from workloads.models import EVAL_BATCH, Evaluation, check_mask_shapes
from workloads.training import Optimizer, TrainConfig

if TYPE_CHECKING:
    import torch


def _torch() -> ModuleType:
    try:
        import torch
    except ImportError:
        raise MissingExtraError("torch", "torch") from None
    return torch


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seeded, single-threaded, deterministic-algorithms torch; the global settings come back after."""
    torch = _torch()
    threads = torch.get_num_threads()
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.set_num_threads(threads)


def prunable_layers(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Module name -> weight shape of every ``nn.Linear`` and ``nn.Conv1d/2d/3d``, in module order."""
    torch = _torch()
    kinds = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)
    return {
        name: tuple(sub.weight.shape)
        for name, sub in module.named_modules()
        if name and isinstance(sub, kinds)
    }


@dataclass(frozen=True)
class TorchTrainResult:
    """The fine-tuned model and per-epoch mean training loss and validation accuracy."""

    model: TorchModel
    train_loss: tuple[float, ...] = field(default=())
    val_accuracy: tuple[float, ...] = field(default=())


class TorchModel:
    """An immutable ``nn.Module`` + example input with the numpy ``Model``'s evaluate/fine-tune contract."""

    __slots__ = ("_example_shape", "_layers", "_module", "_name")

    def __init__(self, module: torch.nn.Module, example: torch.Tensor, *, name: str | None = None) -> None:
        torch = _torch()
        if not isinstance(module, torch.nn.Module):
            raise TypeError(f"TorchModel: module must be a torch.nn.Module, got {type(module).__name__}")
        if not isinstance(example, torch.Tensor) or example.ndim < 2:
            raise ValueError(
                "TorchModel: example must be a batched input tensor (N, ...), got "
                f"{getattr(example, 'shape', type(example).__name__)}"
            )
        self._module = copy.deepcopy(module).to(dtype=torch.float32).eval()
        self._example_shape = tuple(int(v) for v in example.shape[1:])
        self._layers = prunable_layers(self._module)
        if not self._layers:
            raise ValueError(
                f"TorchModel: {type(module).__name__} has no nn.Linear or nn.Conv layer to prune"
            )
        self._name = name if name is not None else type(module).__name__

    # ------------------------------------------------------------------ access

    @property
    def name(self) -> str:
        return self._name

    @property
    def layers(self) -> dict[str, tuple[int, ...]]:
        """Prunable layer name -> weight shape (the keys and shapes masks must have)."""
        return dict(self._layers)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """One example's shape as the module takes it (the example input without its batch axis)."""
        return self._example_shape

    def module(self) -> torch.nn.Module:
        """A copy of the module (in eval mode) with the current weights."""
        return copy.deepcopy(self._module)

    @property
    def weights(self) -> dict[str, np.ndarray]:
        """Layer name -> float32 weight and ``nn.bias_key(name)`` -> bias (when the layer has one)."""
        out: dict[str, np.ndarray] = {}
        submodules = dict(self._module.named_modules())
        for name in self._layers:
            sub = submodules[name]
            out[name] = sub.weight.detach().numpy().copy()
            if sub.bias is not None:
                out[nn.bias_key(name)] = sub.bias.detach().numpy().copy()
        return out

    def with_weights(self, weights: Mapping[str, np.ndarray]) -> TorchModel:
        """A new model with the given entries of :attr:`weights` replaced (shapes must match)."""
        torch = _torch()
        current = self.weights
        unknown = sorted(set(weights) - set(current))
        if unknown:
            raise ValueError(f"model {self._name!r}: unknown weight keys {unknown}; known: {sorted(current)}")
        clone = self._sharing(copy.deepcopy(self._module))
        params = dict(clone._module.named_parameters())
        with torch.no_grad():
            for key, value in weights.items():
                array = np.asarray(value, dtype=np.float32)
                if array.shape != current[key].shape:
                    raise ValueError(
                        f"model {self._name!r}: weight {key!r} must have shape "
                        f"{current[key].shape}, got {array.shape}"
                    )
                params[_param_name(key)].copy_(torch.tensor(array))
        return clone

    def digest(self) -> str:
        """sha256 of the module's structure and every parameter and buffer: a content address for caching."""
        h = hashlib.sha256(f"{self._name}|{self._module!r}|{self._example_shape}".encode())
        for key, value in self._module.state_dict().items():
            array = value.detach().cpu().numpy()
            h.update(f"|{key}|{array.dtype.str}{array.shape}|".encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()

    def check_masks(self, masks: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        """Validate ``masks`` (layer name -> bool array of the weight shape); a plain dict, empty if None."""
        return check_mask_shapes(masks, self._layers, owner=f"model {self._name!r}")

    # ------------------------------------------------------------------ compute

    def prepare_inputs(self, x: np.ndarray) -> np.ndarray:
        """``x`` (N, C, H, W) reshaped to (N, *input_shape), e.g. flattened for an MLP."""
        x = np.array(x, dtype=np.float32)  # a writable copy: torch.from_numpy refuses read-only arrays
        if math.prod(x.shape[1:]) != math.prod(self._example_shape):
            raise ValueError(
                f"model {self._name!r} takes inputs of shape {self._example_shape}, "
                f"got examples of shape {x.shape[1:]}"
            )
        return x.reshape(len(x), *self._example_shape)

    def logits(
        self, x: np.ndarray, *, masks: Mapping[str, np.ndarray] | None = None, batch_size: int = EVAL_BATCH
    ) -> np.ndarray:
        """Logits (N, classes) as float32 with ``masks`` applied to the weights (eval mode)."""
        torch = _torch()
        inputs = self.prepare_inputs(x)
        params = _masked_parameters(self._module, self.check_masks(masks))
        parts = []
        with deterministic(0), torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size]))
                out = torch.func.functional_call(self._module, params, (batch,))
                parts.append(out.reshape(len(batch), -1).numpy())
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def predict(self, x: np.ndarray, *, masks: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        return self.logits(x, masks=masks).argmax(axis=1)

    def correct(
        self, dataset: Dataset, split: str = "test", *, masks: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Per-example top-1 correctness (bool, dataset order): what paired statistics need."""
        x, y = dataset.split(split)
        return self.predict(x, masks=masks) == y

    def evaluate(
        self, dataset: Dataset, split: str = "test", *, masks: Mapping[str, np.ndarray] | None = None
    ) -> Evaluation:
        x, y = dataset.split(split)
        if not len(y):
            return Evaluation(accuracy=float("nan"), loss=float("nan"), count=0)
        logits = self.logits(x, masks=masks)
        loss, _ = nn.softmax_cross_entropy(logits, y)
        return Evaluation(accuracy=float(np.mean(logits.argmax(axis=1) == y)), loss=loss, count=len(y))

    def accuracy(
        self, dataset: Dataset, split: str = "test", *, masks: Mapping[str, np.ndarray] | None = None
    ) -> float:
        """Top-1 accuracy (fraction in [0, 1]) on ``split`` with ``masks`` applied."""
        return self.evaluate(dataset, split, masks=masks).accuracy

    def loss_gradients(
        self, x: np.ndarray, y: np.ndarray, *, masks: Mapping[str, np.ndarray] | None, batch_size: int
    ) -> dict[str, np.ndarray]:
        """d(mean cross-entropy over ``x``)/d(masked weight) per prunable layer (float64; eval mode).

        The gradient is taken with respect to the *effective* weight, so pruned entries get one too
        (what a criterion needs to rank them), as in ``workloads.importance_inputs`` for numpy.
        """
        torch = _torch()
        inputs = self.prepare_inputs(x)
        labels = torch.tensor(np.asarray(y, dtype=np.int64))
        total = {name: np.zeros(shape) for name, shape in self._layers.items()}
        with deterministic(0):
            params = {
                key: value.detach().clone().requires_grad_(key.removesuffix(".weight") in self._layers)
                for key, value in _masked_parameters(self._module, self.check_masks(masks)).items()
            }
            for start in range(0, len(labels), batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size]))
                logits = torch.func.functional_call(self._module, params, (batch,)).reshape(len(batch), -1)
                loss = torch.nn.functional.cross_entropy(logits, labels[start : start + batch_size])
                weights = [params[f"{name}.weight"] for name in self._layers]
                grads = torch.autograd.grad(loss, weights)
                share = len(batch) / len(labels)  # the batch mean -> its share of the subset mean
                for name, grad in zip(self._layers, grads):
                    total[name] += grad.numpy().astype(np.float64) * share
        return total

    def layer_outputs(
        self, x: np.ndarray, *, masks: Mapping[str, np.ndarray] | None, batch_size: int
    ) -> dict[str, np.ndarray]:
        """Each prunable module's output over ``x`` (float32), recorded by forward hooks.

        A torch model usually applies its activation in a separate module or function, so this is
        the *pre*-activation output (the numpy models record after the activation): APoZ then
        counts exact zeros of the linear output, which are rare.
        """
        torch = _torch()
        inputs = self.prepare_inputs(x)
        params = _masked_parameters(self._module, self.check_masks(masks))
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self._layers}
        submodules = dict(self._module.named_modules())
        hooks = [
            submodules[name].register_forward_hook(
                lambda _module, _args, out, name=name: parts[name].append(out.detach().numpy().copy())
            )
            for name in self._layers
        ]
        try:
            with deterministic(0), torch.no_grad():
                for start in range(0, len(inputs), batch_size):
                    batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + batch_size]))
                    torch.func.functional_call(self._module, params, (batch,))
        finally:
            for hook in hooks:
                hook.remove()
        return {name: np.concatenate(chunks) for name, chunks in parts.items()}

    def train_with_config(
        self, dataset: Dataset, config: TrainConfig, *, masks: Mapping[str, np.ndarray] | None = None
    ) -> TorchTrainResult:
        """Train a copy on ``dataset``'s train split as ``config`` says, pruned weights held at 0."""
        from workloads.torch_training import train_module

        checked = self.check_masks(masks)
        x_train, y_train = dataset.split("train")
        inputs = self.prepare_inputs(x_train)
        trained = self._sharing(copy.deepcopy(self._module))

        def val_accuracy() -> float:
            trained._module.eval()
            try:
                return trained.accuracy(dataset, "val")
            finally:
                trained._module.train()

        with deterministic(config.seed):
            losses, val = train_module(
                trained._module,
                inputs,
                y_train,
                config,
                checked,
                val_accuracy if len(dataset.y_val) else None,
            )
        trained._module.eval()
        return TorchTrainResult(trained, losses, val)

    def _sharing(self, module: torch.nn.Module) -> TorchModel:
        """A model of the same name and input over ``module`` itself (no copy): for our own clones."""
        clone = copy.copy(self)
        clone._module = module
        return clone

    def finetune(
        self,
        dataset: Dataset,
        masks: Mapping[str, np.ndarray],
        *,
        epochs: int,
        optimizer: Optimizer,
        seed: int,
        batch_size: int = 64,
        schedule: str = "cosine",
    ) -> TorchTrainResult:
        """Masked training from the current weights, as ``workloads.training.finetune`` does for numpy."""
        if masks is None:
            raise ValueError("finetune: masks are required (use train_with_config() for dense training)")
        config = TrainConfig(
            epochs=epochs, optimizer=optimizer, seed=seed, batch_size=batch_size, schedule=schedule
        )
        return self.train_with_config(dataset, config, masks=masks)

    def __repr__(self) -> str:
        return f"TorchModel({self._name!r}, {len(self._layers)} prunable layers)"


def _param_name(weight_key: str) -> str:
    """``weights`` key -> ``named_parameters`` name: a layer's weight is ``<layer>.weight``."""
    return weight_key if weight_key.endswith(".bias") else f"{weight_key}.weight"


def _masked_parameters(module: torch.nn.Module, masks: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The module's parameters with each masked weight replaced by ``where(mask, w, +0.0)``."""
    torch = _torch()
    params: dict[str, Any] = dict(module.named_parameters())
    for name, mask in masks.items():
        weight = params[f"{name}.weight"]
        zero = torch.zeros((), dtype=weight.dtype)
        params[f"{name}.weight"] = torch.where(torch.tensor(mask), weight, zero)
    return params


def finetune(
    model: TorchModel,
    dataset: Dataset,
    masks: Mapping[str, np.ndarray],
    *,
    epochs: int,
    optimizer: Optimizer,
    seed: int,
    **kwargs: Any,
) -> TorchTrainResult:
    """``workloads.training.finetune``'s signature for a ``TorchModel``."""
    return model.finetune(dataset, masks, epochs=epochs, optimizer=optimizer, seed=seed, **kwargs)


__all__ = ["TorchModel", "TorchTrainResult", "deterministic", "finetune", "prunable_layers"]
