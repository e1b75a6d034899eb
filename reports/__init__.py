"""Tables and figures: tidy frames from reports and stores, figures as pure functions, paper style."""

from reports.figures import (axis_label, energy_breakdown, grouped_bars, heatmap, pareto, pareto_front,
                             roofline, scatter, speedup_curves, timeline)
from reports.frames import (aggregate, energy_frame, from_report, from_store, from_trace, select, to_csv,
                            to_columns, where)
from reports.save import save
from reports.style import COLUMN, DOUBLE_COLUMN, paper_style

__all__ = [
    "COLUMN", "DOUBLE_COLUMN", "aggregate", "axis_label", "energy_breakdown", "energy_frame", "from_report",
    "from_store", "from_trace", "grouped_bars", "heatmap", "pareto", "pareto_front", "paper_style",
    "roofline", "save", "scatter", "select", "speedup_curves", "timeline", "to_columns", "to_csv", "where",
]
