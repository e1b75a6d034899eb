"""Tables and figures: tidy frames from reports and stores, figures as pure functions, paper style."""

from reports.figures import (
    axis_label,
    energy_breakdown,
    grouped_bars,
    heatmap,
    pareto,
    pareto_front,
    roofline,
    scatter,
    speedup_curves,
    speedup_panels,
    timeline,
)
from reports.frames import (
    aggregate,
    energy_frame,
    from_report,
    from_store,
    from_trace,
    select,
    to_columns,
    to_csv,
    to_dataframe,
    where,
)
from reports.labels import scaled, value_label
from reports.save import save
from reports.style import COLUMN, DOUBLE_COLUMN, paper_style

__all__ = [
    "COLUMN",
    "DOUBLE_COLUMN",
    "aggregate",
    "axis_label",
    "energy_breakdown",
    "energy_frame",
    "from_report",
    "from_store",
    "from_trace",
    "grouped_bars",
    "heatmap",
    "pareto",
    "pareto_front",
    "paper_style",
    "roofline",
    "save",
    "scaled",
    "scatter",
    "select",
    "speedup_curves",
    "speedup_panels",
    "timeline",
    "to_columns",
    "to_csv",
    "to_dataframe",
    "value_label",
    "where",
]
