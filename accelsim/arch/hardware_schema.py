"""The strict schema behind the hardware records: checked and nested dataclass fields, their
validation at construction, building a record tree from a (line-tracked) YAML mapping and dumping
it back to plain data.

`accelsim.arch.hardware` declares *what* a hardware description contains; this module holds *how*
such declarations are enforced -- unknown and missing keys, per-field checks, cross-field rules --
so that every error names the file, line, dotted path and value in one place, independent of any
particular record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import field
from typing import Any

from accelsim.arch.hardware_fields import FieldError as _Bad
from workloads import strict_yaml
from workloads.quoting import short


class HardwareError(ValueError):
    """Invalid hardware description; the message names source, path, value and line if known."""


class CrossFieldError(HardwareError):
    """A rule between fields failed at construction (buffers in neither or both styles, n > m, ...);
    `build` prefixes the file, line and path, which only it knows."""


def checked_field(check: Callable[[Any], Any], omit_default: bool = False, **kw: Any) -> Any:
    return field(metadata={"check": check, "omit_default": omit_default}, **kw)


def validate_fields(obj: Any) -> None:
    """Run every field check on a freshly built dataclass (direct construction path)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        check = f.metadata.get("check")
        if check is None:
            if value is not None and not isinstance(value, f.metadata.get("cls", object)):
                raise HardwareError(
                    f"{type(obj).__name__}.{f.name}: expected {f.metadata['cls'].__name__}, "
                    f"got {short(value)}"
                )
            continue
        try:
            object.__setattr__(obj, f.name, check(value))
        except _Bad as bad:
            raise HardwareError(f"{type(obj).__name__}.{f.name}: {bad}") from None


def nested_field(cls: type, omit_default: bool = False, **kw: Any) -> Any:
    return field(metadata={"cls": cls, "omit_default": omit_default}, **kw)


def plain_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if v is None:
            continue
        if f.name == "glb_split" and obj.glb is None and v == f.default:
            continue
        if f.metadata.get("omit_default") and v == f.default:
            continue
        if dataclasses.is_dataclass(v):
            v = plain_dict(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def _where(source: str, line: int | None, path: str) -> str:
    loc = f"{source}:{line}" if line is not None else source
    return f"{loc}: {path}" if path else loc


def build(cls: Any, d: Any, source: str, path: str, parent: Any, key: Any) -> Any:
    """Build dataclass ``cls`` from mapping ``d`` located at ``path`` (recursive, strict)."""
    if not isinstance(d, dict):
        raise HardwareError(
            f"{_where(source, strict_yaml.line_of(parent, key), path or '<root>')}: "
            f"must be a mapping, got {short(d)}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k in d:
        if k not in fields:
            kpath = f"{path}.{str(k)[:80]}" if path else str(k)[:80]
            where = _where(source, strict_yaml.line_of(d, k), kpath)
            raise HardwareError(
                f"{where}: unknown key {short(k)}; allowed keys under {path or '<root>'}: {', '.join(fields)}"
            )
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        fpath = f"{path}.{name}" if path else name
        if name not in d:
            if f.default is dataclasses.MISSING:
                raise HardwareError(
                    f"{_where(source, strict_yaml.line_of(d), fpath)}: missing required key "
                    f"{short(name)} under {path or '<root>'}"
                )
            continue
        value, line = d[name], strict_yaml.line_of(d, name)
        sub_cls = f.metadata.get("cls")
        if sub_cls is not None:
            kwargs[name] = build(sub_cls, value, source, fpath, d, name)
            continue
        try:
            kwargs[name] = f.metadata["check"](value)
        except _Bad as bad:
            raise HardwareError(f"{_where(source, line, fpath)}: {bad}") from None
    try:
        return cls(**kwargs)
    except CrossFieldError as exc:
        raise HardwareError(f"{_where(source, strict_yaml.line_of(d), path)}: {exc}") from None
