"""Strict YAML loading: duplicate keys are errors and mapping keys keep their line numbers.

``load(text, source)`` returns plain Python data in which every mapping is a
:class:`LineDict` (a ``dict`` that also knows the 1-based line of itself and of each key),
so validators can cite ``file.yaml:7`` in their messages.

Input is bounded before anything is built: at most `MAX_TEXT_CHARS` characters, nesting at most
`MAX_DEPTH` levels, and at most `MAX_NODES` nodes *with aliases expanded* (an alias bomb of a few
lines that would expand to 10^9 nodes is refused while composing, before it is constructed or
quoted in a message). Configuration files are far below these limits.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from workloads.quoting import short

__all__ = [
    "LineDict",
    "StrictYAMLError",
    "StrictLoader",
    "load",
    "line_of",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_TEXT_CHARS",
]

MAX_TEXT_CHARS = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 200_000


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

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._expanded: dict[int, int] = {}  # id(node) -> node count with aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        # The composer recurses once per nesting level: refuse deep input long before Python's
        # recursion limit, and count what aliases would expand to before anything is built.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise StrictYAMLError(f"{self.source}:{mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if id(node) not in self._expanded:
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [child for pair in node.value for child in pair]
            else:
                children = []
            count = 1 + sum(self._expanded[id(child)] for child in children)
            if count > MAX_NODES:
                raise StrictYAMLError(
                    f"{self.source}:{node.start_mark.line + 1}: more than {MAX_NODES:,} "
                    "YAML nodes (counting each alias as a copy of its anchor)"
                )
            self._expanded[id(node)] = count
        return node

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
                raise StrictYAMLError(
                    f"{self.source}:{line}: mapping key must be a scalar, got {short(key)}"
                ) from None
            if key in result:
                first = result.key_lines[key]
                raise StrictYAMLError(
                    f"{self.source}:{line}: duplicate key {short(key)} "
                    f"(first defined on line {first}, again on line {line})"
                )
            result[key] = self.construct_object(value_node, deep=deep)
            result.key_lines[key] = line
        return result


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StrictLoader.construct_mapping)


_FLOW_TOKENS = re.compile(r"[\[\]{}'\"#\n]")
_TOKEN_START = " \t\n,:"


def _flow_nesting_line(text: str, limit: int) -> int | None:
    """The line where flow brackets (``[``, ``{``) nest deeper than ``limit``, or None.

    PyYAML's scanner keeps every open flow level as a possible simple key and checks them all for
    each token, so 10^5 nested brackets take seconds before the composer sees a node; this pass
    visits only bracket, quote and comment characters. A bracket or quote counts only where a
    token may start, so ``a[0]`` or ``don't`` in a plain scalar are not miscounted."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth, line, skip_to, last_open = 0, 1, 0, -2
    for match in _FLOW_TOKENS.finditer(text):
        at = match.start()
        char = text[at]
        if char == "\n":
            line += 1
            continue
        if at < skip_to:
            continue
        before = text[at - 1] if at else "\n"
        starts_token = before in _TOKEN_START or (before in "[{" and last_open == at - 1)
        if char in "[{" and starts_token:
            depth, last_open = depth + 1, at
            if depth > limit:
                return line
        elif char in "]}" and depth:
            depth -= 1
        elif char == "#" and starts_token:
            end = text.find("\n", at)
            skip_to = len(text) if end < 0 else end
        elif char in "'\"" and starts_token:
            skip_to = _quoted_end(text, at)
    return None


def _quoted_end(text: str, start: int) -> int:
    quote = text[start]
    at = start + 1
    while True:
        at = text.find(quote, at)
        if at < 0:
            return len(text)
        if quote == "'" and text.startswith("''", at):
            at += 2
        elif quote == '"' and _escaped(text, at):
            at += 1
        else:
            return at + 1


def _escaped(text: str, at: int) -> bool:
    """Whether the character at ``at`` follows an odd number of backslashes."""
    backslashes = 0
    while at - backslashes - 1 >= 0 and text[at - backslashes - 1] == "\\":
        backslashes += 1
    return backslashes % 2 == 1


def load(text: str, source: str = "<string>"):
    """Parse one YAML document strictly; errors are :class:`StrictYAMLError` naming ``source``."""
    if not isinstance(text, str):
        raise StrictYAMLError(f"{source}: expected YAML text, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise StrictYAMLError(
            f"{source}: {len(text):,} characters; a YAML file may have at most {MAX_TEXT_CHARS:,}"
        )
    deep = _flow_nesting_line(text, MAX_DEPTH)
    if deep is not None:
        raise StrictYAMLError(f"{source}:{deep}: nested deeper than {MAX_DEPTH} levels")
    try:
        loader = StrictLoader(text)  # the reader already checks the characters
    except yaml.YAMLError as exc:
        raise StrictYAMLError(f"{source}: invalid YAML: {short(str(exc), 200)}") from None
    loader.source = source
    try:
        return loader.get_single_data()
    except StrictYAMLError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise StrictYAMLError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise StrictYAMLError(f"{source}: invalid YAML: {exc}") from None
    except (ValueError, OverflowError) as exc:
        # A scalar the resolver typed but cannot build: an int of 10^5 digits, a bad timestamp.
        raise StrictYAMLError(f"{source}: invalid YAML value: {short(str(exc))}") from None
    except RecursionError:
        raise StrictYAMLError(f"{source}: nested too deeply") from None
    finally:
        loader.dispose()


def line_of(mapping, key=None) -> int | None:
    """Line of ``key`` in ``mapping`` (or of the mapping itself), or ``None`` without line info."""
    if not isinstance(mapping, LineDict):
        return None
    if key is not None and key in mapping.key_lines:
        return mapping.key_lines[key]
    return mapping.line
