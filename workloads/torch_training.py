"""The masked training loop behind ``TorchModel.train_with_config``: a ``TrainConfig`` run with torch.optim.

The optimisers mirror ``workloads.training``: ``SGD`` (PyTorch-style momentum, optional Nesterov)
and ``Adam`` map to ``torch.optim.SGD`` / ``torch.optim.Adam`` with the same hyper-parameters, L2
weight decay on weights but not biases, and the same per-step cosine or constant learning rate.
The caller (``TorchModel``) provides the deterministic context; this module keeps masked weights at
exactly +0.0 (see ``workloads.torch_model``'s docstring for how).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from workloads.training import SGD, TrainConfig, _learning_rate

if TYPE_CHECKING:
    import torch

# torch optimiser state tensors shaped like their parameter (momentum, Adam's moments).
PER_ENTRY_STATE = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def make_optimizer(module: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """``config.optimizer`` as a torch optimiser; weight decay applies to weights, not biases."""
    import torch

    opt = config.optimizer
    named = list(module.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.endswith("bias")], "weight_decay": opt.weight_decay},
        {"params": [p for n, p in named if n.endswith("bias")], "weight_decay": 0.0},
    ]
    if isinstance(opt, SGD):
        return torch.optim.SGD(groups, lr=opt.lr, momentum=opt.momentum, nesterov=opt.nesterov)
    return torch.optim.Adam(groups, lr=opt.lr, betas=(opt.beta1, opt.beta2), eps=opt.eps)


def pruned_entries(module: torch.nn.Module, masks: Mapping[str, np.ndarray]) -> list[tuple[Any, Any]]:
    """(weight parameter, bool tensor True where pruned) per masked layer."""
    import torch

    params = dict(module.named_parameters())
    return [(params[f"{name}.weight"], torch.tensor(~np.asarray(mask))) for name, mask in masks.items()]


def zero_pruned(pruned: Sequence[tuple[Any, Any]], optimizer: torch.optim.Optimizer | None = None) -> None:
    """Set every pruned weight, and its entries of any per-entry optimiser state, to +0.0."""
    import torch

    with torch.no_grad():
        for weight, dropped in pruned:
            weight.masked_fill_(dropped, 0.0)
            if optimizer is None:
                continue
            state = optimizer.state.get(weight, {})
            for key in PER_ENTRY_STATE:
                value = state.get(key)
                if isinstance(value, torch.Tensor) and value.shape == weight.shape:
                    value.masked_fill_(dropped, 0.0)


def train_module(
    module: torch.nn.Module,
    inputs: np.ndarray,
    labels: np.ndarray,
    config: TrainConfig,
    masks: Mapping[str, np.ndarray],
    val_accuracy: Callable[[], float] | None,
    *,
    epoch_forward: Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Train ``module`` in place on (inputs, labels); per-epoch mean loss and validation accuracy.

    ``epoch_forward``, called at the start of each epoch, gives the forward to train through (the
    fake-quantized one of quantization-aware training); by default the module's own.
    """
    import torch

    optimizer = make_optimizer(module, config)
    pruned = pruned_entries(module, masks)
    zero_pruned(pruned)
    rng = np.random.default_rng(config.seed)
    n = len(labels)
    total_steps = config.epochs * math.ceil(n / config.batch_size)
    x_all = torch.from_numpy(np.ascontiguousarray(inputs))
    y_all = torch.tensor(np.asarray(labels, dtype=np.int64))
    step = 0
    losses, accuracies = [], []
    module.train()
    for _ in range(config.epochs):
        order = torch.from_numpy(rng.permutation(n))
        forward = module if epoch_forward is None else epoch_forward()
        epoch_loss = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config, step, total_steps)
            optimizer.zero_grad(set_to_none=False)
            logits = forward(x_all[idx]).reshape(len(idx), -1)
            loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
            loss.backward()
            with torch.no_grad():
                for weight, dropped in pruned:
                    if weight.grad is not None:
                        weight.grad.masked_fill_(dropped, 0.0)
            optimizer.step()
            zero_pruned(pruned, optimizer)
            epoch_loss += loss.item() * len(idx)
            step += 1
        losses.append(epoch_loss / n if n else float("nan"))
        if val_accuracy is not None:
            accuracies.append(val_accuracy())
    return tuple(losses), tuple(accuracies)


__all__ = ["PER_ENTRY_STATE", "make_optimizer", "pruned_entries", "train_module", "zero_pruned"]
