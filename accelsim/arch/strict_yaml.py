"""Strict YAML loading lives in ``workloads.strict_yaml`` (the network file needs it too); re-exported here."""

from workloads.strict_yaml import LineDict, StrictLoader, StrictYAMLError, line_of, load

__all__ = ["LineDict", "StrictYAMLError", "StrictLoader", "load", "line_of"]
