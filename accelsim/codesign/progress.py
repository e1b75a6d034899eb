"""Progress of a co-design run: plain event dicts to an optional callback (the library never prints)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Progress = Callable[[Mapping[str, Any]], None]


def emit(progress: Progress | None, **event: Any) -> None:
    """Send ``event`` to ``progress``, if anybody listens."""
    if progress is not None:
        progress(event)


def tagged(progress: Progress | None, phase: str) -> Progress | None:
    """``progress`` with every event tagged by ``phase``; None when nobody listens."""
    if not progress:
        return None
    return lambda event: emit(progress, phase=phase, **event)


__all__ = ["Progress", "emit", "tagged"]
