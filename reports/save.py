"""`save(fig, frame, path_stem)`: the figure as PDF and PNG, and the plotted data as CSV, side by side."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from accelsim.dse.outputs import atomic_output
from reports.frames import to_csv

__all__ = ["FORMATS", "output_paths", "save"]

FORMATS = ("pdf", "png")


def output_paths(path_stem: str | os.PathLike, *, formats: Sequence[str] = FORMATS) -> list[Path]:
    """The files `save` writes for ``path_stem``: one per format, then the CSV."""
    stem = Path(path_stem)
    if stem.suffix in {f".{f}" for f in (*formats, "csv")}:
        stem = stem.with_suffix("")
    return [stem.with_name(f"{stem.name}.{fmt}") for fmt in (*formats, "csv")]


def save(
    fig,
    frame: Sequence[Mapping[str, Any]],
    path_stem: str | os.PathLike,
    *,
    formats: Sequence[str] = FORMATS,
    dpi: int = 300,
) -> list[Path]:
    """Write ``<stem>.pdf``, ``<stem>.png`` (or `formats`) and ``<stem>.csv``; returns the paths.

    Each file is written to a temporary name and renamed into place. The PDF carries no creation
    date, so re-running a study leaves unchanged figures byte-identical."""
    *figure_paths, csv_path = output_paths(path_stem, formats=formats)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    # Constrained layout with a legend beside the axes moves by a fraction of a point on every
    # draw; lay out once, then hold it, so every format (and every re-save) has the same geometry.
    engine = fig.get_layout_engine()
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    try:
        for fmt, path in zip(formats, figure_paths):
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            with atomic_output(path) as temporary:
                fig.savefig(temporary, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
            written.append(path)
    finally:
        fig.set_layout_engine(engine)
    with atomic_output(csv_path) as temporary:
        to_csv(frame, temporary)
    written.append(csv_path)
    return written
