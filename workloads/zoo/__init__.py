"""Named reference networks: ``get_network(name, **params)`` and ``list_networks()``.

Shapes follow the torchvision / published definitions so total MACs and weight counts can be checked
against published figures. Batch size is 1; biases and batch-norm are not modelled (shapes only).
"""

from __future__ import annotations

from collections.abc import Callable

from workloads.network import Network
from workloads.zoo.bert import bert_encoder
from workloads.zoo.classic import alexnet, lenet5, mlp, vgg16
from workloads.zoo.mobilenet import mobilenet_v2
from workloads.zoo.resnet import resnet18, resnet50
from workloads.zoo.vit import vit_b16


class UnknownNetworkError(KeyError, ValueError):
    """Raised for a name that is not in the zoo; catchable as KeyError or ValueError."""

    def __str__(self) -> str:
        # KeyError's str() would repr-quote the whole message.
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, Callable[..., Network]] = {
    "lenet5": lenet5,
    "mlp": mlp,
    "alexnet": alexnet,
    "vgg16": vgg16,
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v2": mobilenet_v2,
    "bert_base_encoder": bert_encoder,
    "vit_b16": vit_b16,
}


def list_networks() -> list[str]:
    return sorted(_REGISTRY)


def get_network(name: str, **params: object) -> Network:
    """Build the zoo network ``name``; ``params`` go to its builder (e.g. ``input_hw``, ``num_classes``)."""
    try:
        builder = _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownNetworkError(
            f"unknown network {name!r}; known networks: {', '.join(list_networks())}"
        ) from None
    return builder(**params)


__all__ = [
    "UnknownNetworkError",
    "get_network",
    "list_networks",
    "lenet5",
    "mlp",
    "alexnet",
    "vgg16",
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "bert_encoder",
    "vit_b16",
]
