"""Bit widths in a co-design run: checking the widths asked for, and what a design's plan sets.

``CodesignConfig.bits`` (``--bits 8,4,2``) lets the search give every layer any listed width for
its weights and, separately, for its input activations (`pruning.SearchSpace(bits=)`); the
uniform baseline tries each width on every layer, with and without pruning. A width the
hardware's precision mode cannot run is refused before any training, as a one-line
`CrossFieldError` naming the width and the mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from accelsim.arch.hardware import Hardware
from accelsim.arch.hardware_schema import CrossFieldError
from accelsim.arch.precision import check_precision
from accelsim.timing.layer_bits import int_type
from pruning.layer_option import check_width
from workloads.quantization import LayerBits


def check_config_bits(bits: object) -> tuple[int, ...] | None:
    """``bits`` as a tuple of distinct widths in [2, 16] (as given), or None; errors name the value."""
    if bits is None:
        return None
    if isinstance(bits, (str, bytes)) or not isinstance(bits, Sequence) or not bits:
        raise ValueError(f"codesign: bits must be a non-empty list of widths, e.g. (8, 4, 2), got {bits!r}")
    widths = tuple(check_width("codesign", "bits", w) for w in bits)
    if len(set(widths)) != len(widths):
        raise ValueError(f"codesign: bits must name each width once, got {list(bits)}")
    return tuple(w for w in widths if w is not None)


def check_hardware_bits(hardware: Hardware, widths: Sequence[int]) -> None:
    """Refuse a width the array cannot run as weights or as activations (with the other operand
    at the hardware's own type), naming the width, the hardware and its precision mode."""
    pe, types = hardware.pe, hardware.datatypes
    for width in widths:
        t = int_type(f"codesign: bits: width {width}", width)
        try:
            check_precision(pe.precision, pe.mac_bits, types.ifmap, t)
            check_precision(pe.precision, pe.mac_bits, t, types.filter)
        except CrossFieldError as exc:
            raise CrossFieldError(
                f"codesign: bits: width {width} cannot run on {hardware.name} ({exc})"
            ) from None


def bits_columns(bits: Mapping[str, LayerBits] | None, layer: str) -> dict[str, Any]:
    """A layer row's width columns (None: unquantized); nothing for a run without bit widths."""
    if bits is None:
        return {}
    pair = bits.get(layer)
    return {
        "weight_bits": None if pair is None else pair.weights,
        "activation_bits": None if pair is None else pair.activations,
    }


__all__ = ["bits_columns", "check_config_bits", "check_hardware_bits"]
