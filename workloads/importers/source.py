"""One string names a network: a zoo name, a trainable model, a file, or a Python ``module:function``.

``load_network`` is what the command line's ``--network`` calls. Files are told apart by suffix:
``.onnx`` (``from_onnx``), ``.csv`` (a SCALE-Sim topology), ``.yaml``/``.yml`` (a network file).
``module:function`` (the module a dotted name or a ``.py`` path) must return
``(nn.Module, example_input)``, which ``from_torch`` imports. Torch and ONNX are imported only when
such a source is asked for.
"""

from __future__ import annotations

import os

from workloads.importers.errors import ImportFormatError
from workloads.importers.imported import Imported
from workloads.user_task import SpecError, call_module_spec
from workloads.zoo import UnknownNetworkError, get_network, list_networks

__all__ = ["FILE_SUFFIXES", "NetworkSpecError", "load_network"]

FILE_SUFFIXES = (".onnx", ".csv", ".yaml", ".yml")


def load_network(spec: str, *, input_size: int | None = None) -> Imported:
    """The network ``spec`` names; ``input_size`` (square pixels) applies to zoo and trainable models."""
    from workloads.models import MODELS, build_model

    suffix = os.path.splitext(spec)[1].lower()
    if suffix in FILE_SUFFIXES or _is_callable_spec(spec):
        if input_size:
            raise ImportFormatError(
                f"input size {input_size}: applies to zoo networks and trainable models only; "
                f"{spec!r} fixes its own shapes"
            )
        return _load_source(spec, suffix)
    params = {"input_hw": (input_size, input_size)} if input_size else {}
    if spec in MODELS:
        model = build_model(spec, input_hw=params["input_hw"]) if params else build_model(spec)
        return Imported(model.network)
    if spec not in list_networks():
        raise UnknownNetworkError(
            f"unknown network {spec!r}; give a zoo network ({', '.join(list_networks())}), a trainable model "
            f"({', '.join(sorted(MODELS))}), a file ({', '.join(FILE_SUFFIXES)}) or module:function"
        )
    return Imported(get_network(spec, **params))


def _is_callable_spec(spec: str) -> bool:
    module, sep, function = spec.rpartition(":")
    return bool(sep and module and function.isidentifier())


def _load_source(spec: str, suffix: str) -> Imported:
    if suffix == ".onnx":
        from workloads.importers.onnx_import import from_onnx

        return from_onnx(spec)
    if suffix == ".csv":
        from workloads.importers.scalesim_topology import read_topology

        return read_topology(spec)
    if suffix in (".yaml", ".yml"):
        from workloads.importers.network_yaml import read_network

        return read_network(spec)
    return _from_callable(spec)


class NetworkSpecError(SpecError, ImportFormatError):
    """A ``--network module:function`` that cannot be resolved or returned something unusable."""

    flag = "--network"


def _from_callable(spec: str) -> Imported:
    module, example = call_module_spec(spec, NetworkSpecError)
    from workloads.importers.torch_import import from_torch

    return from_torch(module, example, name=spec.rpartition(":")[2])
