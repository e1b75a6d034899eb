"""Plain feed-forward nets: LeNet-5, LeNet-300-100, AlexNet, VGG-16.

Classifiers flatten the last feature map, so a non-default ``input_hw`` changes the first fc width
(torchvision's adaptive pools would instead resample to 6x6 / 7x7; at 224x224 the two agree).
"""

from __future__ import annotations

from workloads.layers import Conv2d, Layer, Linear, Pair, Pool
from workloads.network import Network
from workloads.zoo._common import as_pair, check_classes, flat_features, spatial


def lenet5(*, input_hw: int | Pair = (32, 32), in_channels: int = 1, num_classes: int = 10) -> Network:
    """LeNet-5 (LeCun 1998) with ReLU in place of tanh: conv6@5, avgpool2, conv16@5, avgpool2, fc120-84."""
    hw = as_pair(input_hw, "input_hw")
    conv1 = Conv2d("conv1", in_channels, 6, 5, hw, activation="relu")
    pool1 = Pool("pool1", 6, spatial(conv1), 2, 2, kind="avg")
    conv2 = Conv2d("conv2", 6, 16, 5, spatial(pool1), activation="relu")
    pool2 = Pool("pool2", 16, spatial(conv2), 2, 2, kind="avg")
    fc1 = Linear("fc1", flat_features(pool2), 120, activation="relu")
    fc2 = Linear("fc2", 120, 84, activation="relu")
    fc3 = Linear("fc3", 84, check_classes(num_classes))
    return Network.sequential("lenet5", [conv1, pool1, conv2, pool2, fc1, fc2, fc3])


def mlp(
    *, input_hw: int | Pair = (28, 28), hidden: tuple[int, ...] = (300, 100), num_classes: int = 10
) -> Network:
    """LeNet-300-100 (Han et al. 2015): a 784-300-100-10 MLP on flattened MNIST."""
    h, w = as_pair(input_hw, "input_hw")
    widths = (h * w, *hidden, check_classes(num_classes))
    layers = [
        Linear(f"fc{i + 1}", widths[i], widths[i + 1], activation="relu" if i + 2 < len(widths) else None)
        for i in range(len(widths) - 1)
    ]
    return Network.sequential("mlp", layers)


def alexnet(*, input_hw: int | Pair = (224, 224), num_classes: int = 1000) -> Network:
    """torchvision AlexNet (single tower, ~0.71 GMACs at 224x224)."""
    hw = as_pair(input_hw, "input_hw")
    conv1 = Conv2d("conv1", 3, 64, 11, hw, stride=4, padding=2, activation="relu")
    pool1 = Pool("pool1", 64, spatial(conv1), 3, 2)
    conv2 = Conv2d("conv2", 64, 192, 5, spatial(pool1), padding=2, activation="relu")
    pool2 = Pool("pool2", 192, spatial(conv2), 3, 2)
    conv3 = Conv2d("conv3", 192, 384, 3, spatial(pool2), padding=1, activation="relu")
    conv4 = Conv2d("conv4", 384, 256, 3, spatial(conv3), padding=1, activation="relu")
    conv5 = Conv2d("conv5", 256, 256, 3, spatial(conv4), padding=1, activation="relu")
    pool5 = Pool("pool5", 256, spatial(conv5), 3, 2)
    fc6 = Linear("fc6", flat_features(pool5), 4096, activation="relu")
    fc7 = Linear("fc7", 4096, 4096, activation="relu")
    fc8 = Linear("fc8", 4096, check_classes(num_classes))
    layers: list[Layer] = [conv1, pool1, conv2, pool2, conv3, conv4, conv5, pool5, fc6, fc7, fc8]
    return Network.sequential("alexnet", layers)


# Output channels per 3x3 conv, one inner list per stage; each stage ends in a 2x2/2 max pool.
_VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16(*, input_hw: int | Pair = (224, 224), num_classes: int = 1000) -> Network:
    """VGG-16 (configuration D, ~15.5 GMACs at 224x224); layers named conv{stage}_{i}, pool{stage}, fc6-8."""
    hw = as_pair(input_hw, "input_hw")
    layers: list[Layer] = []
    channels = 3
    for stage, widths in enumerate(_VGG16_STAGES, start=1):
        for i, width in enumerate(widths, start=1):
            layers.append(Conv2d(f"conv{stage}_{i}", channels, width, 3, hw, padding=1, activation="relu"))
            channels, hw = width, spatial(layers[-1])
        layers.append(Pool(f"pool{stage}", channels, hw, 2, 2))
        hw = spatial(layers[-1])
    layers += [
        Linear("fc6", flat_features(layers[-1]), 4096, activation="relu"),
        Linear("fc7", 4096, 4096, activation="relu"),
        Linear("fc8", 4096, check_classes(num_classes)),
    ]
    return Network.sequential("vgg16", layers)
