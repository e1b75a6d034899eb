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


def peer_python(env_var: str, module: str) -> str | None:
    """The interpreter named by ``env_var``, else this one if it imports ``module``, else None."""
    env = os.environ.get(env_var)
    if env:
        return env
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, check=False)
    return sys.executable if probe.returncode == 0 else None


def scalesim_python() -> str | None:
    """ACCELSIM_SCALESIM_PYTHON, else this interpreter if it imports scalesim, else None."""
    return peer_python("ACCELSIM_SCALESIM_PYTHON", "scalesim")
