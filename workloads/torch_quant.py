"""Fake quantization of a torch module: the numpy scheme of ``workloads.quantization`` in torch ops.

Weights are quantized when the parameters go into ``torch.func.functional_call`` (so the module itself
is never changed); a layer's input is quantized by a forward pre-hook on the layer, which sees the input
in the order the module really runs. For quantization-aware training both pass gradients straight
through: ``w + (q(w) - w).detach()`` for weights, and for inputs the same inside the calibrated range
and zero where the input was clipped. Rounding is ``torch.round`` (half to even, like ``np.rint``) on
the same float32 operations, so the codes match the numpy helpers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from workloads.quantization import ActivationQuantizer, ActivationRange, LayerBits

if TYPE_CHECKING:
    import torch

__all__ = ["fake_quantize_input", "fake_quantize_weight", "input_hooks", "quantized_parameters"]


def fake_quantize_weight(weight: torch.Tensor, bits: int, *, ste: bool) -> torch.Tensor:
    """Symmetric per-output-channel fake quantization; with ``ste`` the gradient reaches ``weight``."""
    import torch

    qmax = 2 ** (bits - 1) - 1
    w = weight.detach()
    peak = w.reshape(len(w), -1).abs().amax(dim=1) if w.numel() else torch.zeros(len(w))
    scales = torch.where(peak > 0, peak / qmax, torch.ones_like(peak)).reshape((-1,) + (1,) * (w.ndim - 1))
    # "+ 0.0" turns the -0.0 that rounding a small negative gives into the +0.0 an integer code has.
    q = (torch.clamp(torch.round(w / scales), -qmax, qmax) + 0.0) * scales
    return weight + (q - weight).detach() if ste else q


def fake_quantize_input(x: torch.Tensor, quantizer: ActivationQuantizer, *, ste: bool) -> torch.Tensor:
    """``x`` on ``quantizer``'s grid; with ``ste`` the gradient passes where ``x`` was not clipped."""
    import torch

    plain = x.detach()
    scale = torch.tensor(quantizer.scale, dtype=x.dtype)
    q = (torch.clamp(torch.round(plain / scale), quantizer.low_code, quantizer.high_code) + 0.0) * scale
    if not ste:
        return q
    inside = (plain >= quantizer.low_code * quantizer.scale) & (
        plain <= quantizer.high_code * quantizer.scale
    )
    return torch.where(inside, x + (q - x).detach(), q)


def quantized_parameters(
    module: torch.nn.Module, masks: Mapping[str, np.ndarray], bits: Mapping[str, LayerBits], *, ste: bool
) -> dict[str, Any]:
    """The module's parameters with masked weights zeroed (``where``, so +0.0) and then fake-quantized."""
    import torch

    params: dict[str, Any] = dict(module.named_parameters())
    for name, mask in masks.items():
        weight = params[f"{name}.weight"]
        params[f"{name}.weight"] = torch.where(
            torch.tensor(mask), weight, torch.zeros((), dtype=weight.dtype)
        )
    for name, b in bits.items():
        if b.weights is not None:
            params[f"{name}.weight"] = fake_quantize_weight(params[f"{name}.weight"], b.weights, ste=ste)
    return params


@contextmanager
def input_hooks(
    module: torch.nn.Module,
    quantizers: Mapping[str, ActivationQuantizer],
    *,
    ste: bool = False,
    record: dict[str, ActivationRange] | None = None,
    bits: Mapping[str, LayerBits] | None = None,
) -> Iterator[None]:
    """Pre-hooks fake-quantizing the inputs of the layers in ``quantizers`` while the block runs.

    With ``record`` (calibration), every layer of ``bits`` first records its input range there and its
    input is then quantized with that range when it has activation bits.
    """
    submodules = dict(module.named_modules())
    names = list(bits) if record is not None and bits is not None else list(quantizers)

    def make(name: str) -> Any:
        def hook(_: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            quantizer = quantizers.get(name)
            if record is not None and bits is not None:
                record[name] = ActivationRange.of(args[0].detach().numpy())
                width = bits[name].activations
                quantizer = None if width is None else record[name].quantizer(width)
            if quantizer is None:
                return args
            return (fake_quantize_input(args[0], quantizer, ste=ste), *args[1:])

        return hook

    handles = [submodules[name].register_forward_pre_hook(make(name)) for name in names]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
