"""``--task module:function``: a user's own model and data when no file format fits.

The function takes no arguments and returns a :class:`Task` (or a mapping with its field names):
the model (an ``nn.Module``, a ``workloads.Model``, ...), the train / validation / test data as
either a ``(x, y)`` pair of arrays or an iterable of ``(x, y)`` batches (a ``DataLoader``), an
optional example input, and an optional ``accuracy(model, data) -> float`` for tasks whose score
is not top-1. ``val`` may be ``None``: the caller then carves it from train, never from test.

A bad spec raises :class:`TaskSpecError` naming the spec and what is wrong with it.
``task_dataset`` turns the splits into a ``Dataset`` once: batch iterables are drained and
concatenated (tensors become numpy arrays), and the arrays are checked as an ``.npz`` would be.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from workloads.datasets import Dataset


class SpecError(ValueError):
    """A ``module:function`` spec given to ``flag`` that cannot be resolved or returned something unusable."""

    flag = "--spec"

    def __init__(self, spec: str, problem: str) -> None:
        super().__init__(f"{self.flag} {spec!r}: {problem}")
        self.spec = spec


class TaskSpecError(SpecError):
    """A ``--task module:function`` spec that cannot be resolved or returned something unusable."""

    flag = "--task"


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


def _import(spec: str, module_name: str, error: type[SpecError]) -> ModuleType:
    if not module_name.endswith(".py"):
        try:
            return importlib.import_module(module_name)
        except ImportError as exc:
            raise error(spec, f"cannot import module {module_name!r} ({exc})") from None
    path = Path(module_name)
    loader_spec = importlib.util.spec_from_file_location(f"_user_{path.stem}", path)
    if not path.is_file() or loader_spec is None or loader_spec.loader is None:
        raise error(spec, f"no Python file {module_name!r}")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[loader_spec.name] = module  # dataclasses and pickling look modules up here
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may raise anything; name it in one line
        del sys.modules[loader_spec.name]
        raise error(spec, f"running {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    return module


def call_spec(spec: str, error: type[SpecError]) -> Any:
    """Import ``module`` (a dotted name or a ``.py`` path) from ``spec = "module:function"`` and
    return ``function()``; every failure, the function's own included, is one ``error``."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise error(
            str(spec), "must be 'module:function', e.g. 'mypackage.tasks:cifar_resnet' or 'model.py:build'"
        )
    module_name, function_name = spec.split(":")
    function = getattr(_import(spec, module_name, error), function_name, None)
    if function is None:
        raise error(spec, f"module {module_name!r} has no attribute {function_name!r}")
    if not callable(function):
        raise error(spec, f"{function_name!r} is a {type(function).__name__}, not a function")
    try:
        return function()
    except Exception as exc:  # the user's function: report it in one line
        raise error(spec, f"{function_name}() raised {type(exc).__name__}: {exc}") from None


def call_module_spec(spec: str, error: type[SpecError]) -> tuple[Any, Any]:
    """``(module, example_input)`` from ``spec = "module:function"``: what ``--network`` and
    ``--model`` take to trace a user's PyTorch model; anything else returned is one ``error``."""
    result = call_spec(spec, error)
    if not isinstance(result, tuple) or len(result) != 2:
        function_name = spec.split(":")[1]
        raise error(
            spec, f"{function_name}() must return (nn.Module, example_input), got {type(result).__name__}"
        )
    return result


def load_task(spec: str) -> Task:
    """Import ``module`` and call ``function()`` from ``spec = "module:function"``; validate its result."""
    result = call_spec(spec, TaskSpecError)
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


def _arrays(spec: str, split: str, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """One split as ``(x, y)`` numpy arrays: a pair is taken as is, an iterable of pairs is drained."""
    if isinstance(value, tuple) and len(value) == 2:
        return np.asarray(value[0]), np.asarray(value[1])
    xs, ys = [], []
    for index, batch in enumerate(value):
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            got = f"{len(batch)} items" if isinstance(batch, (tuple, list)) else type(batch).__name__
            raise TaskSpecError(spec, f"{split}: batch {index} must be an (x, y) pair, got {got}")
        xs.append(np.asarray(batch[0]))
        ys.append(np.asarray(batch[1]))
    if not xs:
        raise TaskSpecError(spec, f"{split}: the batch iterable yielded no batches")
    return np.concatenate(xs), np.concatenate(ys)


def task_dataset(task: Task, spec: str, *, seed: int = 0, val_fraction: float = 0.1) -> Dataset:
    """The task's splits as one ``Dataset`` (validation carved from train when ``val`` is None)."""
    from workloads.user_data import dataset_from_arrays

    splits = {
        split: _arrays(spec, split, getattr(task, split))
        for split in ("train", "val", "test")
        if getattr(task, split) is not None
    }
    name = spec.rsplit(":", 1)[-1]
    return dataset_from_arrays(name, splits, source=f"--task {spec!r}", seed=seed, val_fraction=val_fraction)


__all__ = ["SpecError", "Task", "TaskSpecError", "call_spec", "load_task", "task_dataset"]
