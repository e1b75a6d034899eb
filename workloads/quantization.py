"""Fake quantization: integer codes and float scales for weights and layer inputs (numpy only).

The scheme (docs/model.md, "Quantization"), uniform and symmetric around zero so an integer MAC needs
no zero-point correction:

* Weights: per output channel (axis 0). ``scale_c = max|w_c| / (2^(b-1) - 1)`` and
  ``code = clip(rint(w / scale_c), -(2^(b-1) - 1), 2^(b-1) - 1)``: the range is symmetric (no
  ``-2^(b-1)``), as in Krishnamoorthi, "Quantizing deep convolutional networks for efficient
  inference", arXiv:1806.08342 (2018), section 2. A pruned weight is +0.0 and so its code is 0; an
  all-zero channel gets scale 1 (codes 0) instead of dividing by zero.
* Activations: one scale per tensor, the *input* of each weighted layer, from its range over a
  calibration set. A range with no negative value (after ReLU, or image pixels) is quantized
  unsigned, ``code in [0, 2^b - 1]`` with ``scale = max / (2^b - 1)``; otherwise signed symmetric
  like the weights with ``scale = max|x| / (2^(b-1) - 1)``. Values beyond the range clip.
* Calibration: the min and max (the "max" calibrator of the whitepaper above; Jacob et al., CVPR
  2018, use the same min/max, averaged) of each weighted layer's input over a fixed subset of the
  *training* split: ``CALIBRATION_EXAMPLES`` examples drawn without replacement with
  ``default_rng(CALIBRATION_SEED)``. Max keeps every calibration value representable; a percentile
  would clip outliers in exchange for finer steps, which we leave to a later change. Layers are
  calibrated in order on the already quantized network, so a layer's range is that of the inputs it
  will really see.
* Biases stay float: the integer path adds them after rescaling the int32 accumulator.

A value's rounding is ``np.rint`` (half to even) throughout, so the integer execute path reproduces
the codes exactly. Everything is a pure function of its arrays: deterministic, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from workloads import nn
from workloads.layers import Conv2d, Linear
from workloads.network import Network

MIN_BITS = 2
MAX_BITS = 16
CALIBRATION_EXAMPLES = 512
CALIBRATION_SEED = 0
_FLOAT = np.float32

__all__ = [
    "CALIBRATION_EXAMPLES",
    "CALIBRATION_SEED",
    "MAX_BITS",
    "MIN_BITS",
    "ActivationQuantizer",
    "ActivationRange",
    "ActivationRanges",
    "Bits",
    "LayerBits",
    "QuantizationError",
    "QuantizedWeight",
    "bits_key",
    "calibrate",
    "calibration_subset",
    "check_bits",
    "fake_quantize_weight",
    "fake_quantize_weights",
    "input_quantizers",
    "needs_ranges",
    "quantize_inputs_hook",
    "quantize_weight",
]


class QuantizationError(ValueError):
    """Bad bit widths or missing calibration: the message names the field and the value."""


def _check_width(field: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise QuantizationError(f"LayerBits: {field} must be an int or None, got {value!r}")
    if not MIN_BITS <= value <= MAX_BITS:
        raise QuantizationError(f"LayerBits: {field} must be in [{MIN_BITS}, {MAX_BITS}] bits, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class LayerBits:
    """Bit widths of one layer: its weights and its *input* activations; ``None`` keeps float."""

    weights: int | None = None
    activations: int | None = None

    def __post_init__(self) -> None:
        _check_width("weights", self.weights)
        _check_width("activations", self.activations)

    @property
    def label(self) -> str:
        """``"w8a8"``-style text (``f`` for float): stable, used in cache keys."""
        return f"w{self.weights or 'f'}a{self.activations or 'f'}"


Bits = Mapping[str, LayerBits]


def check_bits(bits: Bits | None, layers: Mapping[str, object], *, owner: str) -> dict[str, LayerBits]:
    """``bits`` as a plain dict, each key a weighted layer of ``owner`` (``layers``) and value a LayerBits."""
    if bits is None:
        return {}
    if not isinstance(bits, Mapping):
        raise QuantizationError(f"bits must be a mapping layer name -> LayerBits, got {type(bits).__name__}")
    checked = {}
    for name, value in bits.items():
        if name not in layers:
            raise QuantizationError(f"bits for {name!r}: {owner} has no weighted layer of that name")
        if not isinstance(value, LayerBits):
            raise QuantizationError(f"bits for {name!r}: must be a LayerBits, got {value!r}")
        checked[name] = value
    return checked


def bits_key(bits: Bits | None) -> str:
    """A canonical text of ``bits`` (sorted, float layers dropped): equal keys, equal quantization."""
    if not bits:
        return ""
    return ",".join(f"{name}={b.label}" for name, b in sorted(bits.items()) if b.label != "wfaf")


def needs_ranges(bits: Bits | None) -> bool:
    """Whether any layer quantizes its inputs (and so needs calibrated activation ranges)."""
    return bits is not None and any(b.activations is not None for b in bits.values())


# ------------------------------------------------------------------------------------ weights


@dataclass(frozen=True)
class QuantizedWeight:
    """Integer ``codes`` (int32, the weight's shape) and per-output-channel float32 ``scales`` (out,)."""

    codes: np.ndarray
    scales: np.ndarray

    def dequantize(self) -> np.ndarray:
        shape = (-1,) + (1,) * (self.codes.ndim - 1)
        return self.codes.astype(_FLOAT) * self.scales.reshape(shape)


def _signed_max(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def quantize_weight(weight: np.ndarray, bits: int) -> QuantizedWeight:
    """Symmetric per-output-channel quantization of ``weight`` (out, ...) to ``bits``-bit codes."""
    _check_width("weights", bits)
    w = np.asarray(weight, dtype=_FLOAT)
    qmax = _signed_max(bits)
    peak = np.abs(w.reshape(len(w), -1)).max(axis=1) if w.size else np.zeros(len(w), _FLOAT)
    scales = np.where(peak > 0, peak / _FLOAT(qmax), _FLOAT(1)).astype(_FLOAT)
    shape = (-1,) + (1,) * (w.ndim - 1)
    codes = np.clip(np.rint(w / scales.reshape(shape)), -qmax, qmax).astype(np.int32)
    return QuantizedWeight(codes, scales)


def fake_quantize_weight(weight: np.ndarray, bits: int | None) -> np.ndarray:
    """``weight`` rounded to its ``bits``-bit grid, as float32 (unchanged when ``bits`` is None)."""
    if bits is None:
        return np.asarray(weight, dtype=_FLOAT)
    return quantize_weight(weight, bits).dequantize()


def fake_quantize_weights(weights: Mapping[str, np.ndarray], bits: Bits) -> dict[str, np.ndarray]:
    """``weights`` (a model's dict, biases included) with each layer's weight fake-quantized per ``bits``."""
    out = dict(weights)
    for name, b in bits.items():
        if b.weights is not None:
            out[name] = fake_quantize_weight(weights[name], b.weights)
    return out


# -------------------------------------------------------------------------------- activations


@dataclass(frozen=True)
class ActivationQuantizer:
    """``code = clip(rint(x / scale), low_code, high_code)``; ``x ~ code * scale``."""

    scale: float
    low_code: int
    high_code: int

    @property
    def signed(self) -> bool:
        return self.low_code < 0

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Integer codes (int32) of ``x``."""
        scaled = np.asarray(x, dtype=_FLOAT) / _FLOAT(self.scale)
        return np.clip(np.rint(scaled), self.low_code, self.high_code).astype(np.int32)

    def fake(self, x: np.ndarray) -> np.ndarray:
        """``x`` rounded to the grid and clipped to the range, as float32."""
        return self.codes(x).astype(_FLOAT) * _FLOAT(self.scale)

    def passes(self, x: np.ndarray) -> np.ndarray:
        """Where a straight-through gradient passes: inside the representable range (clipped STE)."""
        x = np.asarray(x)
        return (x >= self.low_code * self.scale) & (x <= self.high_code * self.scale)


@dataclass(frozen=True)
class ActivationRange:
    """The calibrated ``low``..``high`` of one layer's input."""

    low: float
    high: float

    @classmethod
    def of(cls, x: np.ndarray) -> ActivationRange:
        x = np.asarray(x)
        if not x.size:
            return cls(0.0, 0.0)
        return cls(float(x.min()), float(x.max()))

    def quantizer(self, bits: int) -> ActivationQuantizer:
        """Unsigned codes when ``low >= 0``, else signed symmetric; a zero range maps everything to 0."""
        _check_width("activations", bits)
        if self.low >= 0:
            top, peak = 2**bits - 1, self.high
        else:
            top, peak = _signed_max(bits), max(-self.low, self.high)
        if peak <= 0:
            return ActivationQuantizer(1.0, 0, 0)
        low_code = 0 if self.low >= 0 else -top
        return ActivationQuantizer(float(_FLOAT(peak) / _FLOAT(top)), low_code, top)


ActivationRanges = Mapping[str, ActivationRange]


def input_quantizers(bits: Bits, ranges: ActivationRanges | None) -> dict[str, ActivationQuantizer]:
    """Layer name -> the quantizer of its input, for every layer with activation bits."""
    out = {}
    for name, b in bits.items():
        if b.activations is None:
            continue
        if ranges is None or name not in ranges:
            raise QuantizationError(
                f"bits for {name!r}: activations={b.activations} need a calibrated input range "
                "(pass ranges= from calibrate(...) on the training split)"
            )
        if not isinstance(ranges[name], ActivationRange):
            raise QuantizationError(f"ranges[{name!r}] must be an ActivationRange, got {ranges[name]!r}")
        out[name] = ranges[name].quantizer(b.activations)
    return out


# ------------------------------------------------------------------------------- calibration


def quantize_inputs_hook(quantizers: Mapping[str, ActivationQuantizer], *, ste: bool = False) -> nn.InputHook:
    """An ``nn.forward`` input hook fake-quantizing each listed layer's input (with STE masks if ``ste``)."""

    def hook(layer: Linear | Conv2d, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        quantizer = quantizers.get(layer.name)
        if quantizer is None:
            return x, None
        return quantizer.fake(x), (quantizer.passes(x) if ste else None)

    return hook


def calibration_subset(x_train: np.ndarray, *, examples: int = CALIBRATION_EXAMPLES) -> np.ndarray:
    """The fixed calibration inputs: ``examples`` of ``x_train`` drawn with ``CALIBRATION_SEED``, in order."""
    if len(x_train) <= examples:
        return np.asarray(x_train)
    rng = np.random.default_rng(CALIBRATION_SEED)
    return np.asarray(x_train)[np.sort(rng.choice(len(x_train), size=examples, replace=False))]


def calibrate(
    network: Network, params: Mapping[str, np.ndarray], x: np.ndarray, bits: Bits
) -> dict[str, ActivationRange]:
    """Input range of every weighted layer on ``x``, earlier layers' inputs already quantized per ``bits``.

    ``params`` are the effective (masked, fake-quantized) weights; ``x`` the calibration inputs as the
    network takes them (see :func:`calibration_subset`). Returns layer name -> ``ActivationRange``.
    """
    ranges: dict[str, ActivationRange] = {}

    def record(layer: Linear | Conv2d, h: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        ranges[layer.name] = ActivationRange.of(h)
        b = bits.get(layer.name)
        if b is None or b.activations is None:
            return h, None
        return ranges[layer.name].quantizer(b.activations).fake(h), None

    with nn.single_threaded_blas():
        nn.forward(network, params, x, keep_tape=False, input_hook=record)
    return ranges
