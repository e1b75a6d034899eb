"""The ZigZag peer for the cross-validation tests: its interpreter and the comparison script."""

from __future__ import annotations

import os
import subprocess
import sys
from types import ModuleType

from scalesim_peer import load_script


def zigzag_python() -> str | None:
    """ACCELSIM_ZIGZAG_PYTHON (set by `make test`), else this interpreter if it imports zigzag, else None."""
    env = os.environ.get("ACCELSIM_ZIGZAG_PYTHON")
    if env:
        return env
    probe = subprocess.run([sys.executable, "-c", "import zigzag.api"], capture_output=True, check=False)
    return sys.executable if probe.returncode == 0 else None


def compare_script() -> ModuleType:
    """``scripts/zigzag_compare.py`` (which finds its driver, ``scripts/zigzag_run.py``, beside it)."""
    return load_script("zigzag_compare")
