"""The native network file: YAML a user writes by hand, and what ``accelsim export network`` writes.

    name: tiny
    layers:
      - {type: Conv2d, name: conv1, in_channels: 3, out_channels: 8, kernel_size: 3, input_hw: 32}
      - {type: Pool, name: pool1, channels: 8, input_hw: 32, kernel_size: 2, stride: 2}
      - {type: Linear, name: fc, in_features: 2048, out_features: 10}
      - {type: Add, name: skip, shape: [10], inputs: [fc, pool1]}

Every field of a layer dataclass (``workloads.layers``) is a key; fields left out take the
dataclass default, a pair may be one int. ``inputs`` names the layers feeding this one: left out
it is the previous layer, ``[]`` makes a source. Writing then reading gives back an equal network
(same layers, edges and order); the writer leaves out defaults and writes equal pairs as one int.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import yaml

from workloads import strict_yaml
from workloads.importers.errors import ImportFormatError
from workloads.importers.imported import Imported
from workloads.importers.text_file import read_text
from workloads.layers import LAYER_TYPES, Layer
from workloads.network import Network, NetworkBuilder

__all__ = ["TYPES", "dump_network", "network_to_dict", "parse_network", "read_network"]

TYPES: dict[str, type] = {cls.__name__: cls for cls in LAYER_TYPES}
_TOP_KEYS = ("name", "layers")


def _field_value(value: object, is_pair: bool) -> object:
    if isinstance(value, tuple):
        if is_pair and value[0] == value[1]:
            return value[0]
        return list(value)
    return value


def _layer_dict(layer: Layer, inputs: list[str], previous: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type(layer).__name__, "name": layer.name}
    for f in dataclasses.fields(layer):
        value = getattr(layer, f.name)
        if f.name == "name" or (f.default is not dataclasses.MISSING and value == f.default):
            continue
        out[f.name] = _field_value(value, f.type == "Pair")
    if inputs != ([] if previous is None else [previous]):
        out["inputs"] = inputs
    return out


def network_to_dict(network: Network) -> dict[str, Any]:
    """Plain data of ``network`` in the file's shape (layers in the network's order)."""
    layers = []
    previous: str | None = None
    for name in network.layer_names:
        layers.append(_layer_dict(network[name], network.predecessors(name), previous))
        previous = name
    return {"name": network.name, "layers": layers}


def dump_network(network: Network) -> str:
    """The YAML text of ``network``: one flow-style mapping per layer, readable and diffable."""
    data = network_to_dict(network)
    lines = [yaml.safe_dump({"name": data["name"]}, sort_keys=False).rstrip(), "layers:"]
    for layer in data["layers"]:
        flow = yaml.safe_dump(layer, sort_keys=False, default_flow_style=True, width=10**6).strip()
        lines.append(f"  - {flow}")
    return "\n".join(lines) + "\n"


def _where(source: str, mapping: object, key: object = None) -> str:
    line = strict_yaml.line_of(mapping, key)
    return f"{source}:{line}" if line is not None else source


def parse_network(text: str, source: str = "<string>") -> Network:
    """A ``Network`` from network-file text; errors name ``source``, line, YAML path and field."""
    try:
        data = strict_yaml.load(text, source)
    except strict_yaml.StrictYAMLError as exc:
        raise ImportFormatError(str(exc)) from None
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"{source}: a network file is a mapping with keys name and layers, got {data!r}"
        )
    for key in data:
        if key not in _TOP_KEYS:
            raise ImportFormatError(
                f"{_where(source, data, key)}: {key}: unknown key; allowed: {', '.join(_TOP_KEYS)}"
            )
    for key in _TOP_KEYS:
        if key not in data:
            raise ImportFormatError(f"{_where(source, data)}: {key}: missing required key")
    name, layers = data["name"], data["layers"]
    if not isinstance(name, str) or not name:
        raise ImportFormatError(
            f"{_where(source, data, 'name')}: name: must be a non-empty string, got {name!r}"
        )
    if not isinstance(layers, list) or not layers:
        raise ImportFormatError(
            f"{_where(source, data, 'layers')}: layers: must be a non-empty list, got {layers!r}"
        )
    builder = NetworkBuilder(name)
    for index, entry in enumerate(layers):
        _add_layer(builder, entry, f"layers[{index}]", source, data)
    return builder.build()


def _add_layer(builder: NetworkBuilder, entry: object, path: str, source: str, parent: object) -> None:
    if not isinstance(entry, dict):
        raise ImportFormatError(
            f"{_where(source, parent, 'layers')}: {path}: must be a mapping, got {entry!r}"
        )
    kind = entry.get("type")
    cls = TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ImportFormatError(
            f"{_where(source, entry, 'type')}: {path}.type: must be one of {', '.join(TYPES)}, got {kind!r}"
        )
    allowed = ["type", *(f.name for f in dataclasses.fields(cls)), "inputs"]
    for key in entry:
        if key not in allowed:
            raise ImportFormatError(
                f"{_where(source, entry, key)}: {path}.{key}: unknown field of {kind}; "
                f"allowed: {', '.join(allowed)}"
            )
    inputs = entry.get("inputs")
    if inputs is not None and (not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs)):
        raise ImportFormatError(
            f"{_where(source, entry, 'inputs')}: {path}.inputs: must be a list of layer names, got {inputs!r}"
        )
    kwargs = {k: v for k, v in entry.items() if k not in ("type", "inputs")}
    try:
        layer = cls(**kwargs)
    except TypeError as exc:  # a required field missing
        raise ImportFormatError(f"{_where(source, entry)}: {path} ({kind}): {exc}") from None
    except ValueError as exc:  # the layer names its field and value
        raise ImportFormatError(f"{_where(source, entry)}: {path}: {exc}") from None
    try:
        builder.add(layer, inputs)
    except ValueError as exc:
        raise ImportFormatError(
            f"{_where(source, entry, 'inputs' if inputs else 'name')}: {path}: {exc}"
        ) from None


def read_network(path: str | os.PathLike[str]) -> Imported:
    """Read a network YAML file (see the module docstring)."""
    source, text = read_text(path, "network file", ImportFormatError)
    return Imported(parse_network(text, source))
