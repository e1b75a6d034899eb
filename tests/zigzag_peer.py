"""The ZigZag peer for the cross-validation tests: its interpreter and the comparison script."""

from __future__ import annotations

from types import ModuleType

from scalesim_peer import load_script, peer_python


def zigzag_python() -> str | None:
    """ACCELSIM_ZIGZAG_PYTHON (set by `make test`), else this interpreter if it imports zigzag, else None."""
    return peer_python("ACCELSIM_ZIGZAG_PYTHON", "zigzag.api")


def compare_script() -> ModuleType:
    """``scripts/zigzag_compare.py`` (which finds its driver, ``scripts/zigzag_run.py``, beside it)."""
    return load_script("zigzag_compare")
