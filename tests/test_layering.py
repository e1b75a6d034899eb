"""Packages import only packages to their left: workloads -> pruning -> accelsim -> reports.

Inside accelsim, subpackages are layered the same way: arch (hardware as data) -> sparse (formats,
kernels, execution) -> timing (mapping, analytical and event models, simulate) -> dse and codesign.
The CLI (`accelsim/cli/`, `accelsim/__main__.py`) is the one shell allowed to reach `reports` and
every subpackage; `accelsim/__init__.py` gathers the public API.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["workloads", "pruning", "accelsim", "reports"]
SHELL_FILES = {Path("accelsim/__main__.py")}
SHELL_DIRS = {Path("accelsim/cli")}
# accelsim subpackage -> the accelsim subpackages it may import (itself included)
INNER = {
    "arch": {"arch"},
    "sparse": {"arch", "sparse"},
    "timing": {"arch", "sparse", "timing"},
    "dse": {"arch", "sparse", "timing", "dse"},
    "codesign": {"arch", "sparse", "timing", "codesign"},
}


def _imports(path: Path) -> set[str]:
    """Absolute module paths imported by ``path`` (``from a.b import c`` gives ``a.b.c`` and ``a.b``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:
                raise AssertionError(f"{path}: relative import of {node.module!r}; use the absolute path")
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _imported_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _imports(path)} & set(ORDER)


def _imported_subpackages(path: Path) -> set[str]:
    return {name.split(".")[1] for name in _imports(path) if name.startswith("accelsim.")} & {*INNER, "cli"}


def _is_shell(relative: Path) -> bool:
    return relative in SHELL_FILES or any(parent in SHELL_DIRS for parent in relative.parents)


@pytest.mark.parametrize("package", ORDER)
def test_package_imports_only_leftwards(package):
    allowed = set(ORDER[: ORDER.index(package) + 1])
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        extra = _imported_packages(path) - allowed
        if _is_shell(relative):
            extra -= {"reports"}
        if extra:
            offenders.append(f"{relative} imports {sorted(extra)}")
    assert not offenders, "layering violated:\n" + "\n".join(offenders)


@pytest.mark.parametrize("subpackage", sorted(INNER))
def test_accelsim_subpackages_import_only_lower_layers(subpackage):
    offenders = []
    for path in sorted((ROOT / "accelsim" / subpackage).rglob("*.py")):
        extra = _imported_subpackages(path) - INNER[subpackage]
        if extra:
            offenders.append(f"{path.relative_to(ROOT)} imports accelsim.{sorted(extra)}")
    assert not offenders, "accelsim layering violated:\n" + "\n".join(offenders)


def test_accelsim_has_no_loose_modules_beyond_the_api():
    loose = sorted(p.name for p in (ROOT / "accelsim").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"], f"modules belong in a subpackage: {loose}"


def test_the_guard_sees_a_violation(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import numpy\nfrom accelsim.timing.report import Report\nfrom accelsim.cli import sweep\n"
    )
    assert _imported_packages(sample) == {"accelsim"}
    assert _imported_subpackages(sample) == {"timing", "cli"}


def test_the_guard_refuses_relative_imports(tmp_path):
    sample = tmp_path / "rel.py"
    sample.write_text("from .hardware import Hardware\n")
    with pytest.raises(AssertionError, match="relative import"):
        _imports(sample)
