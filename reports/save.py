"""`save(fig, frame, path_stem)`: the figure as PDF and PNG, and the plotted data as CSV, side by side."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from reports.frames import to_csv

__all__ = ["save"]


def save(fig, frame: Sequence[Mapping[str, Any]], path_stem: str | os.PathLike, *,
         formats: Sequence[str] = ("pdf", "png"), dpi: int = 300) -> list[Path]:
    """Write ``<stem>.pdf``, ``<stem>.png`` (or `formats`) and ``<stem>.csv``; returns the paths.

    The PDF carries no creation date, so re-running a study leaves unchanged figures byte-identical."""
    stem = Path(path_stem)
    if stem.suffix in {f".{f}" for f in (*formats, "csv")}:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    # Constrained layout with a legend beside the axes moves by a fraction of a point on every
    # draw; lay out once, then hold it, so every format (and every re-save) has the same geometry.
    engine = fig.get_layout_engine()
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    try:
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
            written.append(path)
    finally:
        fig.set_layout_engine(engine)
    written.append(to_csv(frame, stem.with_name(f"{stem.name}.csv")))
    return written
