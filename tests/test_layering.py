"""Packages import only packages to their left: workloads -> pruning -> accelsim -> reports.

The CLI (`accelsim/cli.py`, `accelsim/cli_sweep.py`, `accelsim/cli_codesign.py`, `accelsim/__main__.py`) is the one shell allowed to reach `reports`.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["workloads", "pruning", "accelsim", "reports"]
SHELL = {Path("accelsim/cli.py"), Path("accelsim/cli_sweep.py"), Path("accelsim/cli_codesign.py"), Path("accelsim/__main__.py")}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(ORDER)


@pytest.mark.parametrize("package", ORDER)
def test_package_imports_only_leftwards(package):
    allowed = set(ORDER[: ORDER.index(package) + 1])
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        extra = _imported_packages(path) - allowed
        if relative in SHELL:
            extra -= {"reports"}
        if extra:
            offenders.append(f"{relative} imports {sorted(extra)}")
    assert not offenders, "layering violated:\n" + "\n".join(offenders)


def test_the_guard_sees_a_violation(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("import numpy\nfrom accelsim.report import Report\n")
    assert _imported_packages(sample) == {"accelsim"}
