"""--task module:function: resolution, validation of what the function returns, named errors."""

import sys
import types

import numpy as np
import pytest

from workloads.user_task import Task, TaskSpecError, load_task

X, Y = np.zeros((4, 1, 2, 2), np.float32), np.array([0, 1, 0, 1])


@pytest.fixture()
def tasks(monkeypatch):
    module = types.ModuleType("user_tasks_fixture")
    module.good = lambda: Task(model="m", train=(X, Y), test=(X, Y))
    module.as_mapping = lambda: {
        "model": "m",
        "train": [(X, Y)],
        "test": (X, Y),
        "accuracy": lambda m, d: 1.0,
    }
    module.no_test = lambda: {"model": "m", "train": (X, Y)}
    module.extra = lambda: {"model": "m", "train": (X, Y), "test": (X, Y), "epochs": 3}
    module.wrong_type = lambda: 42
    module.bad_split = lambda: Task(model="m", train=(X, Y), test=5)
    module.bad_accuracy = lambda: Task(model="m", train=(X, Y), test=(X, Y), accuracy=0.9)  # type: ignore[arg-type]
    module.not_callable = 7
    monkeypatch.setitem(sys.modules, "user_tasks_fixture", module)
    return module


def test_a_task_or_a_mapping_of_its_fields_is_accepted(tasks):
    task = load_task("user_tasks_fixture:good")
    assert task.model == "m" and task.val is None and task.accuracy is None
    mapped = load_task("user_tasks_fixture:as_mapping")
    assert mapped.accuracy is not None and mapped.accuracy(None, None) == 1.0


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("no_colon", "must be 'module:function'"),
        ("a:b:c", "must be 'module:function'"),
        (":good", "must be 'module:function'"),
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("user_tasks_fixture:missing", "module 'user_tasks_fixture' has no attribute 'missing'"),
        ("user_tasks_fixture:not_callable", "'not_callable' is a int, not a function"),
        ("user_tasks_fixture:no_test", "returned no ['test']"),
        ("user_tasks_fixture:extra", "returned unknown field(s) ['epochs']"),
        ("user_tasks_fixture:wrong_type", "must return a Task or a mapping of its fields, got int"),
        (
            "user_tasks_fixture:bad_split",
            "test must be an (x, y) pair or an iterable of (x, y) batches, got int",
        ),
        ("user_tasks_fixture:bad_accuracy", "accuracy must be callable, got float"),
    ],
)
def test_bad_specs_name_the_spec_and_the_problem(tasks, spec, problem):
    with pytest.raises(TaskSpecError) as info:
        load_task(spec)
    assert str(info.value).startswith(f"--task {spec!r}: ")
    assert problem in str(info.value)
