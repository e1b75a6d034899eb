"""Layer shapes: frozen dataclasses that carry dimensions only, never weights.

Every layer validates itself at construction (errors name the layer, the field and the value) and
derives its work from its shape: ``macs``, ``ops``, ``input_shape``, ``output_shape``,
``weight_shape``, ``weight_count`` and ``gemm`` (the SCALE-Sim style GEMM view a mapper tiles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workloads.concat import Concat
from workloads.layer_checks import NoGemm, NoWeights, Pair, check_name, check_positive, set_pair, set_shape

ACTIVATIONS = (None, "relu", "relu6", "gelu", "silu", "hardswish")
POOL_KINDS = ("max", "avg")


# --------------------------------------------------------------------------------------- helpers


def _check_activation(layer: str, activation: object) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"layer {layer!r}: activation must be one of {ACTIVATIONS}, got {activation!r}")


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """PyTorch's output length of a sliding window: floor((n + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _output_hw(layer: str, input_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Pair:
    out = tuple(
        conv_output_size(input_hw[i], kernel[i], stride[i], padding[i], dilation[i]) for i in range(2)
    )
    if out[0] < 1 or out[1] < 1:
        raise ValueError(
            f"layer {layer!r}: output size must be >= 1, got {out} from input_hw={input_hw}, "
            f"kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}"
        )
    return out  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ GEMM view


@dataclass(frozen=True, slots=True)
class GemmShape:
    """``groups`` independent GEMMs of (m x k) @ (k x n), SCALE-Sim convention.

    m = output rows (ofmap pixels or tokens), k = reduction (conv window), n = output columns
    (output channels per group).
    """

    groups: int
    m: int
    k: int
    n: int

    def __post_init__(self) -> None:
        for field in ("groups", "m", "k", "n"):
            check_positive("GemmShape", field, getattr(self, field))

    @property
    def macs(self) -> int:
        return self.groups * self.m * self.k * self.n


# ----------------------------------------------------------------------------------- MAC layers


@dataclass(frozen=True, slots=True)
class Conv2d:
    """2-d convolution over a (C, H, W) input; depthwise is groups == in == out channels."""

    name: str
    in_channels: int
    out_channels: int
    kernel_size: Pair
    input_hw: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    activation: str | None = None

    if TYPE_CHECKING:
        # The generated __init__ takes an int wherever a pair is stored (normalised in __post_init__).
        def __init__(
            self, name: str, in_channels: int, out_channels: int, kernel_size: int | Pair,
            input_hw: int | Pair, stride: int | Pair = (1, 1), padding: int | Pair = (0, 0),
            dilation: int | Pair = (1, 1), groups: int = 1, activation: str | None = None,
        ) -> None: ...  # fmt: skip

    def __post_init__(self) -> None:
        check_name(self.name)
        for field in ("in_channels", "out_channels", "groups"):
            check_positive(self.name, field, getattr(self, field))
        kernel = set_pair(self, self.name, "kernel_size")
        hw = set_pair(self, self.name, "input_hw")
        stride = set_pair(self, self.name, "stride")
        padding = set_pair(self, self.name, "padding", minimum=0)
        dilation = set_pair(self, self.name, "dilation")
        for field in ("in_channels", "out_channels"):
            if getattr(self, field) % self.groups:
                raise ValueError(
                    f"layer {self.name!r}: {field}={getattr(self, field)} is not divisible by "
                    f"groups={self.groups}"
                )
        _check_activation(self.name, self.activation)
        _output_hw(self.name, hw, kernel, stride, padding, dilation)

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels == self.out_channels

    @property
    def output_hw(self) -> Pair:
        return _output_hw(
            self.name, self.input_hw, self.kernel_size, self.stride, self.padding, self.dilation
        )

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, *self.input_hw)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.out_channels, *self.output_hw)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    @property
    def weight_count(self) -> int:
        return math.prod(self.weight_shape)

    @property
    def gemm(self) -> GemmShape:
        ho, wo = self.output_hw
        kh, kw = self.kernel_size
        return GemmShape(
            groups=self.groups,
            m=ho * wo,
            k=(self.in_channels // self.groups) * kh * kw,
            n=self.out_channels // self.groups,
        )

    @property
    def macs(self) -> int:
        return self.gemm.macs

    @property
    def ops(self) -> int:
        return self.macs


def depthwise_conv2d(
    name: str,
    channels: int,
    kernel_size: int | Pair,
    input_hw: int | Pair,
    *,
    stride: int | Pair = (1, 1),
    padding: int | Pair = (0, 0),
    dilation: int | Pair = (1, 1),
    activation: str | None = None,
) -> Conv2d:
    """A depthwise convolution: one filter per channel (groups == in == out channels)."""
    return Conv2d(
        name, channels, channels, kernel_size, input_hw,
        stride=stride, padding=padding, dilation=dilation, groups=channels, activation=activation,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Linear:
    """Fully connected layer over a (tokens, in_features) activation matrix."""

    name: str
    in_features: int
    out_features: int
    tokens: int = 1
    activation: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name)
        for field in ("in_features", "out_features", "tokens"):
            check_positive(self.name, field, getattr(self, field))
        _check_activation(self.name, self.activation)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.tokens, self.in_features)

    @property
    def output_shape(self) -> tuple[int, int]:
        return (self.tokens, self.out_features)

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)

    @property
    def weight_count(self) -> int:
        return self.out_features * self.in_features

    @property
    def gemm(self) -> GemmShape:
        return GemmShape(groups=1, m=self.tokens, k=self.in_features, n=self.out_features)

    @property
    def macs(self) -> int:
        return self.gemm.macs

    @property
    def ops(self) -> int:
        return self.macs


@dataclass(frozen=True, slots=True)
class MatMul(NoWeights):
    """Activation x activation product (heads, m, k) @ (heads, k, n), e.g. attention QK^T and AV.

    No weights (both operands are activations), but a GEMM: ``gemm`` and ``macs`` are its own.
    """

    name: str
    m: int
    k: int
    n: int
    heads: int = 1

    def __post_init__(self) -> None:
        check_name(self.name)
        for field in ("m", "k", "n", "heads"):
            check_positive(self.name, field, getattr(self, field))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The left operand; the right one is ``rhs_shape``."""
        return (self.heads, self.m, self.k)

    @property
    def rhs_shape(self) -> tuple[int, int, int]:
        return (self.heads, self.k, self.n)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.heads, self.m, self.n)

    @property
    def gemm(self) -> GemmShape:
        return GemmShape(groups=self.heads, m=self.m, k=self.k, n=self.n)

    @property
    def macs(self) -> int:
        return self.gemm.macs

    @property
    def ops(self) -> int:
        return self.macs


# ------------------------------------------------------------------------------ non-MAC layers


@dataclass(frozen=True, slots=True)
class Pool(NoGemm):
    """Max or average pooling over (C, H, W); global pooling is kernel_size == input_hw."""

    name: str
    channels: int
    input_hw: Pair
    kernel_size: Pair
    stride: Pair
    padding: Pair = (0, 0)
    kind: str = "max"

    if TYPE_CHECKING:

        def __init__(
            self, name: str, channels: int, input_hw: int | Pair, kernel_size: int | Pair,
            stride: int | Pair, padding: int | Pair = (0, 0), kind: str = "max",
        ) -> None: ...  # fmt: skip

    def __post_init__(self) -> None:
        check_name(self.name)
        check_positive(self.name, "channels", self.channels)
        hw = set_pair(self, self.name, "input_hw")
        kernel = set_pair(self, self.name, "kernel_size")
        stride = set_pair(self, self.name, "stride")
        padding = set_pair(self, self.name, "padding", minimum=0)
        if self.kind not in POOL_KINDS:
            raise ValueError(f"layer {self.name!r}: kind must be one of {POOL_KINDS}, got {self.kind!r}")
        _output_hw(self.name, hw, kernel, stride, padding, (1, 1))

    @property
    def is_global(self) -> bool:
        return self.kernel_size == self.input_hw

    @property
    def output_hw(self) -> Pair:
        return _output_hw(self.name, self.input_hw, self.kernel_size, self.stride, self.padding, (1, 1))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.input_hw)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.output_hw)

    @property
    def ops(self) -> int:
        return math.prod(self.output_shape) * math.prod(self.kernel_size)


@dataclass(frozen=True, slots=True)
class _Elementwise(NoGemm):
    """Shared body of shape-preserving layers whose work is one op per element."""

    name: str
    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        check_name(self.name)
        set_shape(self, self.name)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shape

    @property
    def ops(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class Add(_Elementwise):
    """Elementwise sum of two tensors of ``shape`` (a residual connection), then ``activation``.

    ResNets apply their ReLU after the residual sum, so the activation belongs to the add.
    """

    activation: str | None = None

    def __post_init__(self) -> None:
        # Explicit base call: zero-argument super() breaks in slotted dataclasses.
        _Elementwise.__post_init__(self)
        _check_activation(self.name, self.activation)


@dataclass(frozen=True, slots=True)
class Softmax(_Elementwise):
    """Softmax along the last axis of ``shape``; ops counts one per element."""


@dataclass(frozen=True, slots=True)
class LayerNorm(_Elementwise):
    """Layer normalisation over the last axis; its affine scale/shift are not counted as weights."""


LAYER_TYPES = (Conv2d, Linear, MatMul, Pool, Add, Softmax, LayerNorm, Concat)
Layer = Conv2d | Linear | MatMul | Pool | Add | Softmax | LayerNorm | Concat

__all__ = [
    "ACTIVATIONS",
    "POOL_KINDS",
    "GemmShape",
    "Conv2d",
    "depthwise_conv2d",
    "Linear",
    "MatMul",
    "Pool",
    "Add",
    "Softmax",
    "LayerNorm",
    "Concat",
    "LAYER_TYPES",
    "Layer",
    "conv_output_size",
]
