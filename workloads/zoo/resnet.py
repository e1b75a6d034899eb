"""torchvision ResNet-18 and ResNet-50 (v1.5: the bottleneck strides on its 3x3 conv).

Each block is a graph branch: the main path of convs, an optional 1x1 ``downsample`` projection fed by
the block input, and an ``add`` joining them. The ReLU after the residual sum is the add's activation;
the last conv of each main path therefore carries none.
"""

from __future__ import annotations

from collections.abc import Callable

from workloads.layers import Add, Conv2d, Linear, Pair, Pool
from workloads.network import Network, NetworkBuilder
from workloads.zoo._common import as_pair, check_classes, global_avg_pool, spatial


def _stem(builder: NetworkBuilder, hw: Pair) -> Pool:
    conv1 = Conv2d("conv1", 3, 64, 7, hw, stride=2, padding=3, activation="relu")
    builder.add(conv1, inputs=())
    maxpool = Pool("maxpool", 64, spatial(conv1), 3, 2, padding=1)
    builder.add(maxpool)
    return maxpool


def _block(
    builder: NetworkBuilder, prefix: str, block_in: Conv2d | Pool | Add, main: list[Conv2d], stride: int
) -> Add:
    """Wire ``main`` as a chain from ``block_in``, add a projection if the shape changes, then the add."""
    in_shape = block_in.output_shape
    prev = block_in.name
    for conv in main:
        prev = builder.add(conv, inputs=(prev,))
    out_shape = main[-1].output_shape
    shortcut = block_in.name
    if out_shape != in_shape:
        downsample = Conv2d(
            f"{prefix}.downsample", in_shape[0], out_shape[0], 1, (in_shape[1], in_shape[2]), stride=stride
        )
        shortcut = builder.add(downsample, inputs=(block_in.name,))
    add = Add(f"{prefix}.add", out_shape, activation="relu")
    builder.add(add, inputs=(prev, shortcut))
    return add


def _basic(prefix: str, cin: int, width: int, hw: Pair, stride: int) -> list[Conv2d]:
    conv1 = Conv2d(f"{prefix}.conv1", cin, width, 3, hw, stride=stride, padding=1, activation="relu")
    conv2 = Conv2d(f"{prefix}.conv2", width, width, 3, spatial(conv1), padding=1)
    return [conv1, conv2]


def _bottleneck(prefix: str, cin: int, width: int, hw: Pair, stride: int) -> list[Conv2d]:
    conv1 = Conv2d(f"{prefix}.conv1", cin, width, 1, hw, activation="relu")
    conv2 = Conv2d(f"{prefix}.conv2", width, width, 3, hw, stride=stride, padding=1, activation="relu")
    conv3 = Conv2d(f"{prefix}.conv3", width, width * 4, 1, spatial(conv2))
    return [conv1, conv2, conv3]


def _resnet(
    name: str,
    block: Callable[[str, int, int, Pair, int], list[Conv2d]],
    blocks: tuple[int, ...],
    hw: int | Pair,
    num_classes: int,
) -> Network:
    builder = NetworkBuilder(name)
    prev: Pool | Add = _stem(builder, as_pair(hw, "input_hw"))
    for stage, count in enumerate(blocks, start=1):
        width = 64 * 2 ** (stage - 1)
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            main = block(f"layer{stage}.{i}", prev.output_shape[0], width, spatial(prev), stride)
            prev = _block(builder, f"layer{stage}.{i}", prev, main, stride)
    pool = global_avg_pool("avgpool", prev)
    builder.add(pool, inputs=(prev.name,))
    builder.add(Linear("fc", pool.output_shape[0], check_classes(num_classes)))
    return builder.build()


def resnet18(*, input_hw: int | Pair = (224, 224), num_classes: int = 1000) -> Network:
    """ResNet-18 (~1.82 GMACs at 224x224)."""
    return _resnet("resnet18", _basic, (2, 2, 2, 2), input_hw, num_classes)


def resnet50(*, input_hw: int | Pair = (224, 224), num_classes: int = 1000) -> Network:
    """ResNet-50 v1.5 (~4.1 GMACs at 224x224)."""
    return _resnet("resnet50", _bottleneck, (3, 4, 6, 3), input_hw, num_classes)
