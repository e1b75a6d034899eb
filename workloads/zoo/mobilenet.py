"""torchvision MobileNetV2 (~0.30 GMACs at 224x224, width 1.0).

Inverted residual blocks are named ``features.{i}.expand`` (1x1, absent when t == 1), ``.dw`` (3x3
depthwise), ``.project`` (1x1 linear bottleneck) and ``.add`` where stride is 1 and in == out.
"""

from __future__ import annotations

from workloads.layers import Add, Conv2d, Layer, Linear, Pair, depthwise_conv2d
from workloads.network import Network, NetworkBuilder
from workloads.zoo._common import as_pair, check_classes, global_avg_pool, spatial

# (expansion t, output channels c, repeats n, first stride s), from Sandler et al. 2018, Table 2.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: nearest multiple of ``divisor``, never below 90% of ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenet_v2(
    *, input_hw: int | Pair = (224, 224), num_classes: int = 1000, width_mult: float = 1.0
) -> Network:
    if not width_mult > 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult!r}")
    builder = NetworkBuilder("mobilenet_v2")
    channels = _make_divisible(32 * width_mult)
    last_channels = _make_divisible(1280 * max(1.0, width_mult))
    prev: Layer = Conv2d(
        "features.0", 3, channels, 3, as_pair(input_hw, "input_hw"), stride=2, padding=1, activation="relu6"
    )
    builder.add(prev, inputs=())
    index = 1
    for t, c, n, s in _SETTINGS:
        out = _make_divisible(c * width_mult)
        for i in range(n):
            prefix, stride, block_in = f"features.{index}", s if i == 0 else 1, prev
            hidden = channels * t
            if t != 1:
                prev = Conv2d(f"{prefix}.expand", channels, hidden, 1, spatial(prev), activation="relu6")
                builder.add(prev)
            prev = depthwise_conv2d(
                f"{prefix}.dw", hidden, 3, spatial(prev), stride=stride, padding=1, activation="relu6"
            )
            builder.add(prev)
            prev = Conv2d(f"{prefix}.project", hidden, out, 1, spatial(prev))
            builder.add(prev)
            if stride == 1 and channels == out:
                project = prev.name
                prev = Add(f"{prefix}.add", prev.output_shape)
                builder.add(prev, inputs=(project, block_in.name))
            channels = out
            index += 1
    prev = Conv2d(f"features.{index}", channels, last_channels, 1, spatial(prev), activation="relu6")
    builder.add(prev)
    pool = global_avg_pool("avgpool", prev)
    builder.add(pool)
    builder.add(Linear("classifier", last_channels, check_classes(num_classes)))
    return builder.build()
