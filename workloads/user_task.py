"""``--task module:function``: a user's own model and data when no file format fits.

The function takes no arguments and returns a :class:`Task` (or a mapping with its field names):
the model (an ``nn.Module``, a ``workloads.Model``, ...), the train / validation / test data as
either a ``(x, y)`` pair of arrays or an iterable of ``(x, y)`` batches (a ``DataLoader``), an
optional example input, and an optional ``accuracy(model, data) -> float`` for tasks whose score
is not top-1. ``val`` may be ``None``: the caller then carves it from train, never from test.

A bad spec raises :class:`TaskSpecError` naming the spec and what is wrong with it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any


class TaskSpecError(ValueError):
    """A ``module:function`` task spec that cannot be resolved or returned something unusable."""

    def __init__(self, spec: str, problem: str) -> None:
        super().__init__(f"--task {spec!r}: {problem}")
        self.spec = spec


@dataclass(frozen=True)
class Task:
    """What a task function returns: a model and its data splits (arrays or batch iterables)."""

    model: Any
    train: Any
    test: Any
    val: Any = None
    example: Any = None
    accuracy: Callable[..., float] | None = None


def _is_data(value: object) -> bool:
    pair = isinstance(value, tuple) and len(value) == 2
    return pair or (isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)))


def load_task(spec: str) -> Task:
    """Import ``module`` and call ``function()`` from ``spec = "module:function"``; validate its result."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise TaskSpecError(str(spec), "must be 'module:function', e.g. 'mypackage.tasks:cifar_resnet'")
    module_name, function_name = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TaskSpecError(spec, f"cannot import module {module_name!r} ({exc})") from None
    function = getattr(module, function_name, None)
    if function is None:
        raise TaskSpecError(spec, f"module {module_name!r} has no attribute {function_name!r}")
    if not callable(function):
        raise TaskSpecError(spec, f"{function_name!r} is a {type(function).__name__}, not a function")
    result = function()
    if isinstance(result, Mapping):
        known = {f.name for f in fields(Task)}
        unknown = sorted(set(result) - known)
        if unknown:
            raise TaskSpecError(spec, f"returned unknown field(s) {unknown}; a Task has {sorted(known)}")
        missing = sorted({"model", "train", "test"} - set(result))
        if missing:
            raise TaskSpecError(spec, f"returned no {missing}")
        result = Task(**result)
    if not isinstance(result, Task):
        raise TaskSpecError(
            spec, f"must return a Task or a mapping of its fields, got {type(result).__name__}"
        )
    if result.model is None:
        raise TaskSpecError(spec, "returned model None")
    for name in ("train", "test", "val"):
        value = getattr(result, name)
        if (value is not None or name != "val") and not _is_data(value):
            raise TaskSpecError(
                spec,
                f"{name} must be an (x, y) pair or an iterable of (x, y) batches, got {type(value).__name__}",
            )
    if result.accuracy is not None and not callable(result.accuracy):
        raise TaskSpecError(spec, f"accuracy must be callable, got {type(result.accuracy).__name__}")
    return result


__all__ = ["Task", "TaskSpecError", "load_task"]
