"""Paper style as a context manager; widths of journal columns in inches.

Nothing here runs at import: `paper_style()` wraps `matplotlib.rc_context`, so the settings apply
to figures *created* inside the `with` block and are undone on exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib

__all__ = ["COLUMN", "DOUBLE_COLUMN", "GOLDEN", "paper_style", "PAPER_RC"]

#: Single and double column widths in inches (IEEE two-column: 3.5 in and 7.16 in).
COLUMN = 3.5
DOUBLE_COLUMN = 7.16
GOLDEN = 0.618

#: 8 pt text, 7 pt ticks: the size of a two-column paper's caption text, legible when printed.
PAPER_RC = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.linewidth": 0.4,
    "grid.alpha": 0.5,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    # Type 42 (TrueType) fonts: journals' PDF checkers reject Type 3.
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
}


@contextmanager
def paper_style(width: float = COLUMN, aspect: float = GOLDEN, **overrides) -> Iterator[dict]:
    """Within the block, new figures default to `width` x `width * aspect` inches and paper fonts.

    ``with paper_style(DOUBLE_COLUMN): fig = pareto(frame, "seconds", "energy_pj")``"""
    if not width > 0 or not aspect > 0:
        raise ValueError(f"paper_style: width and aspect must be positive, got {width!r}, {aspect!r}")
    rc = dict(PAPER_RC, **{"figure.figsize": (width, width * aspect)}, **overrides)
    with matplotlib.rc_context(rc):  # type: ignore[arg-type]  # keys are rc names, typed as Literal there
        yield rc
