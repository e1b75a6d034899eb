"""What runs: layer shapes, networks of layers, and a zoo of reference networks.

Imports nothing from the rest of accelsim (see DESIGN.md section 1).
"""

from workloads.layers import (
    LAYER_TYPES,
    Add,
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
from workloads.network import Network, NetworkBuilder
from workloads.zoo import UnknownNetworkError, get_network, list_networks

__all__ = [
    "LAYER_TYPES",
    "Add",
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
]
