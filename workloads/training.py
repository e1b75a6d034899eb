"""Minibatch training of a ``Model``: SGD with momentum or Adam, optional masks, deterministic by seed.

``train`` never mutates its input model; it returns a new one with the history. With masks
(fine-tuning after pruning), pruned weights are zeroed before the first step, their gradients and
optimizer state (momentum, Adam moments) are masked every step, and the weights are re-masked
after every update, so a pruned weight is exactly +0.0 throughout and at the end.

Quantization-aware training (``bits=``, ``workloads.quantization``): the forward pass uses
fake-quantized weights and layer inputs, and the gradient reaches the float master weights by a
straight-through estimator (Bengio et al., arXiv:1308.3432, 2013): through the weight rounding
unchanged, through the input rounding only where the input lies inside the calibrated range (zero
where it was clipped). Activation ranges are recalibrated on the training split's calibration
subset at the start of every epoch, from the weights as they are then.

Reproducibility: all randomness (the epoch shuffles) comes from
``numpy.random.default_rng(seed)``, and every reduction runs in a fixed order, so the same
inputs give bit-identical weights on the same machine and numpy/BLAS build.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from workloads import nn
from workloads.datasets import Dataset
from workloads.models import Model, check_masks
from workloads.quantization import (
    Bits,
    fake_quantize_weights,
    input_quantizers,
    needs_ranges,
    quantize_inputs_hook,
)

# Bump when the training algorithm changes in a way that changes results: it is part of the
# weight-cache key, so stale cached weights are never returned for new code.
TRAINING_ALGORITHM_VERSION = 1
SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class SGD:
    """SGD with (PyTorch-style) momentum: ``buf = momentum * buf + g; w -= lr * buf``.

    ``weight_decay`` is L2 added to the gradient of weights (not biases).
    """

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        _check_nonnegative("SGD", "lr", self.lr, positive=True)
        _check_nonnegative("SGD", "weight_decay", self.weight_decay)
        if not (0 <= self.momentum < 1):
            raise ValueError(f"SGD: momentum must be in [0, 1), got {self.momentum!r}")
        if self.nesterov and self.momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")


@dataclass(frozen=True)
class Adam:
    """Adam (Kingma & Ba 2015) with bias correction; ``weight_decay`` is L2 on weights (not biases)."""

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        _check_nonnegative("Adam", "lr", self.lr, positive=True)
        _check_nonnegative("Adam", "eps", self.eps, positive=True)
        _check_nonnegative("Adam", "weight_decay", self.weight_decay)
        for name in ("beta1", "beta2"):
            if not (0 <= getattr(self, name) < 1):
                raise ValueError(f"Adam: {name} must be in [0, 1), got {getattr(self, name)!r}")


Optimizer = SGD | Adam


def _check_nonnegative(owner: str, name: str, value: object, *, positive: bool = False) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        raise ValueError(
            f"{owner}: {name} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}"
        )


@dataclass(frozen=True)
class TrainConfig:
    """Everything besides the model, data and masks that determines a training run's result.

    ``schedule="cosine"`` anneals the learning rate per step from ``optimizer.lr`` towards 0.
    """

    epochs: int
    optimizer: Optimizer
    seed: int
    batch_size: int = 64
    schedule: str = "cosine"

    def __post_init__(self) -> None:
        for name, minimum in (("epochs", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"training: {name} must be an int >= {minimum}, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"training: seed must be an int >= 0, got {self.seed!r}")
        if not isinstance(self.optimizer, (SGD, Adam)):
            raise ValueError(f"training: optimizer must be SGD(...) or Adam(...), got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"training: schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    def to_dict(self) -> dict:
        """A JSON-able description (optimizer kind included) used in the weight-cache key."""
        data = asdict(self)
        data["optimizer"] = {"kind": type(self.optimizer).__name__, **asdict(self.optimizer)}
        data["algorithm_version"] = TRAINING_ALGORITHM_VERSION
        return data


@dataclass(frozen=True)
class TrainResult:
    """The trained model and per-epoch mean training loss and validation accuracy."""

    model: Model
    train_loss: tuple[float, ...] = field(default=())
    val_accuracy: tuple[float, ...] = field(default=())


# ------------------------------------------------------------------------------ optimizers


class _OptimizerState:
    """Per-parameter buffers of one run; ``step`` updates ``params`` in place."""

    def __init__(self, optimizer: Optimizer, params: dict[str, np.ndarray]) -> None:
        self.optimizer = optimizer
        self.t = 0
        self.first = {k: np.zeros_like(v) for k, v in params.items()}
        self.second = {k: np.zeros_like(v) for k, v in params.items()} if isinstance(optimizer, Adam) else {}

    def step(
        self,
        params: dict[str, np.ndarray],
        grads: dict[str, np.ndarray],
        lr: float,
        masks: Mapping[str, np.ndarray],
    ) -> None:
        opt = self.optimizer
        self.t += 1
        for key, w in params.items():
            g = grads[key]
            if opt.weight_decay and not key.endswith(".bias"):
                g = g + opt.weight_decay * w
            mask = masks.get(key)
            if mask is not None:
                # A pruned weight must see no update from any term, including decay and momentum.
                g = np.where(mask, g, g.dtype.type(0))
            if isinstance(opt, SGD):
                buf = self.first[key]
                if opt.momentum:
                    buf *= opt.momentum
                    buf += g
                    update = g + opt.momentum * buf if opt.nesterov else buf
                else:
                    update = g
                w -= lr * update
            else:
                m, v = self.first[key], self.second[key]
                m *= opt.beta1
                m += (1 - opt.beta1) * g
                v *= opt.beta2
                v += (1 - opt.beta2) * (g * g)
                m_hat_scale = 1.0 / (1 - opt.beta1**self.t)
                v_hat_scale = 1.0 / (1 - opt.beta2**self.t)
                w -= (lr * m_hat_scale) * m / (np.sqrt(v * v_hat_scale) + opt.eps)
            if mask is not None:
                # Re-apply so rounding can never leave a pruned weight or its state non-zero.
                np.copyto(w, 0, where=~mask)
                for state in (self.first, self.second):
                    if key in state:
                        np.copyto(state[key], 0, where=~mask)


def _learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    base = config.optimizer.lr
    if config.schedule == "constant" or total_steps <= 1:
        return base
    return base * 0.5 * (1 + math.cos(math.pi * step / total_steps))


# -------------------------------------------------------------------------------- training


def train_with_config(
    model: Model,
    dataset: Dataset,
    config: TrainConfig,
    *,
    masks: Mapping[str, np.ndarray] | None = None,
    bits: Bits | None = None,
) -> TrainResult:
    """Train a copy of ``model`` on ``dataset``'s train split as ``config`` says; see :func:`train`."""
    with nn.single_threaded_blas():
        return _train(model, dataset, config, masks, bits)


def _input_hook(model: Model, params: dict[str, np.ndarray], x_train: np.ndarray, bits: dict) -> nn.InputHook:
    """The epoch's fake-quantizing input hook, with ranges calibrated on the current weights."""
    ranges = model.with_weights(params).calibrate(x_train, bits=bits)
    return quantize_inputs_hook(input_quantizers(bits, ranges), ste=True)


def _train(model: Model, dataset: Dataset, config: TrainConfig, masks, bits: Bits | None) -> TrainResult:
    network = model.network
    masks = check_masks(network, masks)
    bits = model.check_bits(bits)
    x_train, y_train = dataset.split("train")
    if tuple(x_train.shape[1:]) != tuple(dataset.input_shape):
        raise ValueError(
            f"dataset {dataset.name!r}: x_train shape {x_train.shape} is not (n, *{dataset.input_shape})"
        )
    first = network.layers()[0]
    expected = first.input_shape[-1] if model.input_layout == "NF" else None
    if expected is not None and expected != math.prod(dataset.input_shape):
        raise ValueError(
            f"model {model.name!r} takes {expected} input features but dataset {dataset.name!r} "
            f"has inputs of shape {dataset.input_shape}"
        )
    if expected is None and tuple(first.input_shape) != tuple(dataset.input_shape):
        raise ValueError(
            f"model {model.name!r} takes inputs of shape {first.input_shape} but dataset "
            f"{dataset.name!r} has {dataset.input_shape}"
        )

    params = {k: np.array(v, copy=True) for k, v in model.masked_weights(masks).items()}
    state = _OptimizerState(config.optimizer, params)
    rng = np.random.default_rng(config.seed)
    n = len(y_train)
    batches_per_epoch = math.ceil(n / config.batch_size)
    total_steps = config.epochs * batches_per_epoch
    step = 0
    losses, val_accuracies = [], []
    for _ in range(config.epochs):
        order = rng.permutation(n)
        epoch_loss = 0.0
        hook = _input_hook(model, params, x_train, bits) if needs_ranges(bits) else None
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            # STE for the weights: the gradient w.r.t. the quantized weights updates the float ones.
            used = fake_quantize_weights(params, bits) if bits else params
            logits, tape = nn.forward(network, used, model.prepare_inputs(x_train[idx]), input_hook=hook)
            loss, dlogits = nn.softmax_cross_entropy(logits, y_train[idx])
            grads = nn.backward(tape, dlogits)
            state.step(params, grads, _learning_rate(config, step, total_steps), masks)
            epoch_loss += loss * len(idx)
            step += 1
        losses.append(epoch_loss / n)
        if len(dataset.y_val):
            val_accuracies.append(model.with_weights(params).accuracy(dataset, "val", bits=bits))
    return TrainResult(model.with_weights(params), tuple(losses), tuple(val_accuracies))


def train(
    model: Model,
    dataset: Dataset,
    *,
    epochs: int,
    optimizer: Optimizer,
    seed: int,
    masks: Mapping[str, np.ndarray] | None = None,
    bits: Bits | None = None,
    batch_size: int = 64,
    schedule: str = "cosine",
) -> TrainResult:
    """Train a copy of ``model`` (from its current weights) with softmax cross-entropy.

    ``masks`` (layer name -> bool array of the weight shape, True = kept) keep pruned weights at
    exactly zero throughout; ``bits`` make it quantization-aware. Returns the trained model (float
    master weights) and per-epoch history.
    """
    config = TrainConfig(
        epochs=epochs, optimizer=optimizer, seed=seed, batch_size=batch_size, schedule=schedule
    )
    return train_with_config(model, dataset, config, masks=masks, bits=bits)


def finetune(
    model: Model,
    dataset: Dataset,
    masks: Mapping[str, np.ndarray],
    *,
    epochs: int,
    optimizer: Optimizer,
    seed: int,
    bits: Bits | None = None,
    **kwargs,
) -> TrainResult:
    """Masked (and with ``bits`` quantization-aware) training from ``model``'s current weights."""
    if masks is None:
        raise ValueError("finetune: masks are required (use train() for dense training)")
    return train(
        model, dataset, epochs=epochs, optimizer=optimizer, seed=seed, masks=masks, bits=bits, **kwargs
    )


# Recipes that reach >= 97 % top-1 on the digits test split from scratch in a few seconds
# (benchmarks/bench_training.py). Over seeds 0-5: mlp 98.3-98.6 %, lenet 97.8-98.9 %.
RECIPES: dict[str, dict] = {
    "mlp_digits": {"epochs": 20, "optimizer": Adam(lr=2e-3), "batch_size": 64, "schedule": "cosine"},
    "lenet_digits": {"epochs": 40, "optimizer": Adam(lr=3e-3), "batch_size": 64, "schedule": "cosine"},
}


def recipe(model_name: str, *, seed: int = 0) -> TrainConfig:
    """The from-scratch ``TrainConfig`` for a model of ``workloads.models.MODELS`` on digits."""
    try:
        settings = RECIPES[model_name]
    except KeyError:
        raise ValueError(f"no training recipe for model {model_name!r}; known: {sorted(RECIPES)}") from None
    return TrainConfig(seed=seed, **settings)


__all__ = [
    "Adam",
    "Optimizer",
    "RECIPES",
    "SCHEDULES",
    "SGD",
    "TRAINING_ALGORITHM_VERSION",
    "TrainConfig",
    "TrainResult",
    "finetune",
    "recipe",
    "train",
    "train_with_config",
]
