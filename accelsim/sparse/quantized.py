"""Integer execution of quantized layers: integer codes through the same sparse kernels, then rescale.

A conv or linear layer with both weight and input bits (``workloads.quantization``) runs on integers:
the input is quantized to codes with the layer's calibrated input quantizer, the weight's symmetric
per-output-channel codes are encoded in the layer's format, the SpMM kernel (or the dense GEMM)
accumulates ``sum(w_code * x_code)`` exactly in int32 -- or in int64 when
``K * max|x_code| * max|w_code|`` could pass ``2^31 - 1`` (e.g. 16-bit operands) -- and the sum is
rescaled by ``weight_scale[c] * input_scale`` to the compute dtype before the float bias and the
activation. The next quantized layer requantizes its own input, so pools and adds between layers run
on the rescaled floats exactly as the fake-quantized model does.

A layer with weight bits only runs the float kernels on the fake-quantized (dequantized) weight; one
with input bits only fake-quantizes its input and stays float.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workloads.quantization import ActivationQuantizer, LayerBits, fake_quantize_weight, quantize_weight

__all__ = ["INT32_MAX", "LayerQuantization", "accumulator_dtype", "prepare_quantized"]

INT32_MAX = 2**31 - 1


def accumulator_dtype(reduction: int, input_code_max: int, weight_code_max: int) -> np.dtype:
    """int32 when a sum of ``reduction`` products of the largest codes cannot overflow it, else int64."""
    bound = reduction * input_code_max * weight_code_max
    return np.dtype(np.int32) if bound <= INT32_MAX else np.dtype(np.int64)


@dataclass(frozen=True, eq=False)
class LayerQuantization:
    """How one layer's input goes in and its product comes out.

    ``scales`` (out,) is set for the integer path (input becomes codes of ``accumulator`` dtype, the
    product is rescaled); without it the input is fake-quantized and the product stays float.
    """

    quantizer: ActivationQuantizer | None
    scales: np.ndarray | None = None
    accumulator: np.dtype | None = None

    def inputs(self, x: np.ndarray) -> np.ndarray:
        if self.quantizer is None:
            return x
        if self.scales is None:
            return self.quantizer.fake(x).astype(x.dtype, copy=False)
        return self.quantizer.codes(x).astype(self.accumulator, copy=False)

    def outputs(self, y: np.ndarray, axis: int) -> np.ndarray:
        """The integer product ``y`` rescaled to floats along the output-channel ``axis``."""
        if self.scales is None:
            return y
        shape = [1] * y.ndim
        shape[axis] = -1
        return y.astype(self.scales.dtype) * self.scales.reshape(shape)


def prepare_quantized(
    weight: np.ndarray, bits: LayerBits, quantizer: ActivationQuantizer | None, dtype: np.dtype
) -> tuple[np.ndarray, LayerQuantization | None]:
    """The array to encode for ``weight`` (masked, compute ``dtype``) and how its layer is quantized."""
    if bits.weights is None:
        return weight, (None if quantizer is None else LayerQuantization(quantizer))
    if quantizer is None:
        return fake_quantize_weight(weight, bits.weights).astype(dtype, copy=False), None
    codes = quantize_weight(weight, bits.weights)
    weight_code_max = 2 ** (bits.weights - 1) - 1
    input_code_max = max(-quantizer.low_code, quantizer.high_code)
    accumulator = accumulator_dtype(math.prod(weight.shape[1:]), input_code_max, weight_code_max)
    scales = (codes.scales * np.float32(quantizer.scale)).astype(dtype)
    return codes.codes.astype(accumulator), LayerQuantization(quantizer, scales, accumulator)
