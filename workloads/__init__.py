"""What runs: layer shapes, networks of layers, and a zoo of reference networks.

Imports nothing from the rest of accelsim (see DESIGN.md section 1).
"""

from workloads.datasets import (
    Dataset,
    IdxFormatError,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_mnist,
)
from workloads.layers import (
    LAYER_TYPES,
    Add,
    Concat,
    Conv2d,
    GemmShape,
    Layer,
    LayerNorm,
    Linear,
    MatMul,
    Pool,
    Softmax,
    depthwise_conv2d,
)
from workloads.models import Model, build_model, lenet_digits, magnitude_masks, mlp_digits
from workloads.network import Network, NetworkBuilder
from workloads.training import SGD, Adam, TrainConfig, TrainResult, finetune, train
from workloads.weight_cache import cache_dir, clear_cache, load_or_train, pretrained
from workloads.zoo import UnknownNetworkError, get_network, list_networks

__all__ = [
    "LAYER_TYPES",
    "Add",
    "Concat",
    "Conv2d",
    "GemmShape",
    "Layer",
    "LayerNorm",
    "Linear",
    "MatMul",
    "Pool",
    "Softmax",
    "depthwise_conv2d",
    "Network",
    "NetworkBuilder",
    "UnknownNetworkError",
    "get_network",
    "list_networks",
    "Dataset",
    "IdxFormatError",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "Model",
    "build_model",
    "lenet_digits",
    "magnitude_masks",
    "mlp_digits",
    "SGD",
    "Adam",
    "TrainConfig",
    "TrainResult",
    "finetune",
    "train",
    "cache_dir",
    "clear_cache",
    "load_or_train",
    "pretrained",
]
