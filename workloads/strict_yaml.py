"""Strict YAML loading: duplicate keys are errors and mapping keys keep their line numbers.

``load(text, source)`` returns plain Python data in which every mapping is a
:class:`LineDict` (a ``dict`` that also knows the 1-based line of itself and of each key),
so validators can cite ``file.yaml:7`` in their messages.
"""

from __future__ import annotations

import yaml

__all__ = ["LineDict", "StrictYAMLError", "StrictLoader", "load", "line_of"]


class StrictYAMLError(ValueError):
    """Malformed or ambiguous YAML (syntax error, duplicate key, non-scalar key)."""


class LineDict(dict):
    """A ``dict`` remembering the line of the mapping (``line``) and of each key (``key_lines``)."""

    line: int | None = None
    key_lines: dict

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys and records key line numbers."""

    source = "<string>"

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise StrictYAMLError(f"{self.source}:{line}: mapping key must be a scalar, got {key!r}") from None
            if key in result:
                first = result.key_lines[key]
                raise StrictYAMLError(
                    f"{self.source}:{line}: duplicate key {key!r} (first defined on line {first}, again on line {line})"
                )
            result[key] = self.construct_object(value_node, deep=deep)
            result.key_lines[key] = line
        return result


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StrictLoader.construct_mapping)


def load(text: str, source: str = "<string>"):
    """Parse one YAML document strictly; errors are :class:`StrictYAMLError` naming ``source``."""
    loader = StrictLoader(text)
    loader.source = source
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise StrictYAMLError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise StrictYAMLError(f"{source}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()


def line_of(mapping, key=None) -> int | None:
    """Line of ``key`` in ``mapping`` (or of the mapping itself), or ``None`` without line info."""
    if not isinstance(mapping, LineDict):
        return None
    if key is not None and key in mapping.key_lines:
        return mapping.key_lines[key]
    return mapping.line
