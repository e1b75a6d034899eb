"""The SCALE-Sim peer for the cross-validation tests: its driver scripts and its interpreter."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """``scripts/<name>.py`` as a module (registered, so the sparse driver finds scalesim_run)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, mod)
    spec.loader.exec_module(mod)
    return mod


def scalesim_python() -> str | None:
    """ACCELSIM_SCALESIM_PYTHON, else this interpreter if it imports scalesim, else None."""
    env = os.environ.get("ACCELSIM_SCALESIM_PYTHON")
    if env:
        return env
    probe = subprocess.run([sys.executable, "-c", "import scalesim"], capture_output=True, check=False)
    return sys.executable if probe.returncode == 0 else None
