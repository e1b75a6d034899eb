"""Importers: other tools' networks (PyTorch, ONNX, SCALE-Sim topologies, network YAML) as ``Network``s."""

from workloads.importers.errors import ImportFormatError, MissingExtraError
from workloads.importers.imported import Imported

__all__ = ["ImportFormatError", "Imported", "MissingExtraError"]
