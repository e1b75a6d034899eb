"""Per-layer bit widths: each layer is mapped, timed and priced on the hardware with its own datatypes.

`simulate(..., bits=...)` takes ``layer name -> LayerBits(weights=w, activations=a)``
(`workloads.quantization`). A layer then runs on a copy of the hardware whose datatypes are

* ``filter = int<w>`` (its weights; the hardware's filter type when ``w`` is None),
* ``ifmap = int<a>`` (its *input* activations; the hardware's ifmap type when ``a`` is None),
* ``ofmap`` = the width its consumers read, the widest of them when they differ, so each reader
  finds its operand at its own width or wider. A consumer reads at its ``activations`` width; a
  consumer without one reads at the hardware's ofmap type, except a weightless layer (pooling,
  residual add, flatten) without one, which reads at the width it writes itself (a max or a sum
  of narrow values needs no re-quantization). A network output is written at the hardware's
  ofmap type.

Buffers, DRAM, the array and its precision mode stay the hardware's: only the datatypes move. A
width the array's precision mode cannot run is the hardware's `CrossFieldError`, naming the layer
and the widths. Copies are cached per distinct datatype triple, so a search re-uses them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Protocol

from accelsim.arch.hardware import DATATYPE_BITS, Hardware
from accelsim.arch.hardware_schema import CrossFieldError
from accelsim.arch.precision import check_precision
from workloads.network import Network


class WidthPair(Protocol):
    """What `simulate` reads of a `workloads.quantization.LayerBits`."""

    @property
    def weights(self) -> int | None: ...

    @property
    def activations(self) -> int | None: ...


def int_type(where: str, width: object) -> str:
    """The datatype of an integer ``width`` (``6`` -> ``"int6"``); a `CrossFieldError` naming
    ``where`` (the field that asked for it) if there is none."""
    name = f"int{width}"
    if isinstance(width, bool) or not isinstance(width, int) or DATATYPE_BITS.get(name) != width:
        widths = sorted(bits for t, bits in DATATYPE_BITS.items() if t.startswith("int"))
        raise CrossFieldError(f"{where}: no integer datatype of width {width!r}; widths are {widths}")
    return name


def check_bits(network: Network, bits: object) -> dict[str, WidthPair]:
    """``bits`` by layer name, every name a layer of ``network``; errors name the layer."""
    if not isinstance(bits, Mapping):
        raise ValueError(f"bits: expected a mapping layer name -> LayerBits, got {type(bits).__name__}")
    names = {layer.name for layer in network.layers()}
    out: dict[str, WidthPair] = {}
    for name, pair in bits.items():
        if name not in names:
            raise ValueError(f"bits[{name!r}]: no such layer in network {network.name!r}")
        if not hasattr(pair, "weights") or not hasattr(pair, "activations"):
            raise ValueError(f"bits[{name!r}]: expected a LayerBits, got {type(pair).__name__}")
        out[name] = pair
    return out


@functools.lru_cache(maxsize=256)
def _with_datatypes(hardware: Hardware, ifmap: str, filter: str, ofmap: str) -> Hardware:
    types = hardware.datatypes
    if (ifmap, filter, ofmap) == (types.ifmap, types.filter, types.ofmap):
        return hardware
    d = hardware.to_dict()
    d["datatypes"].update(ifmap=ifmap, filter=filter, ofmap=ofmap)
    return Hardware.from_dict(d, source=f"{hardware.name} (per-layer bits)")


def layer_hardware(network: Network, hardware: Hardware, bits: Mapping[str, WidthPair]) -> list[Hardware]:
    """The hardware each layer of ``network`` (in execution order) runs on under ``bits``."""
    layers = network.layers()
    types = hardware.datatypes
    reads: dict[str, str] = {}  # layer -> the datatype it reads its input at
    writes: dict[str, str] = {}
    # Consumers first: a layer's output width is decided by who reads it.
    for layer in reversed(layers):
        consumers = [reads[c] for c in network.successors(layer.name)]
        writes[layer.name] = max(consumers, key=DATATYPE_BITS.__getitem__) if consumers else types.ofmap
        own = bits.get(layer.name)
        if own is not None and own.activations is not None:
            reads[layer.name] = int_type(f"bits[{layer.name!r}].activations", own.activations)
        elif layer.weight_shape is None:
            reads[layer.name] = writes[layer.name]
        else:
            reads[layer.name] = types.ofmap
    out = []
    for layer in layers:
        own = bits.get(layer.name)
        ifmap = types.ifmap
        filter = types.filter
        if own is not None and own.activations is not None:
            ifmap = reads[layer.name]
        elif layer.weight_shape is None and writes[layer.name] != types.ofmap:
            ifmap = writes[layer.name]
        if own is not None and own.weights is not None:
            filter = int_type(f"bits[{layer.name!r}].weights", own.weights)
        try:
            check_precision(hardware.pe.precision, hardware.pe.mac_bits, ifmap, filter)
        except CrossFieldError as exc:
            widths = f"weights={own.weights}, activations={own.activations}" if own else "no bits"
            raise CrossFieldError(f"bits[{layer.name!r}] ({widths}): {exc}") from None
        out.append(_with_datatypes(hardware, ifmap, filter, writes[layer.name]))
    return out


__all__ = ["WidthPair", "check_bits", "int_type", "layer_hardware"]
