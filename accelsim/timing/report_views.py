"""Notebook views of results: pandas DataFrames (optional `pandas` extra) and `Report`'s HTML summary.

`Report.to_frame()` and `Report._repr_html_()` delegate here, so `report.py` stays plain data.
The HTML is built as a string (no templates, no styling beyond a few inline widths), escaped
throughout, and small: totals, the layers that take the most cycles, energy by component.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from workloads.importers.errors import MissingExtraError

if TYPE_CHECKING:
    from accelsim.timing.report import Report

__all__ = ["to_frame", "report_html", "TOP_LAYERS"]

#: Layers listed in the HTML summary (the ones with the most cycles).
TOP_LAYERS = 5

_ENERGY_PREFIXES = (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3), ("pJ", 1.0))
_TIME_PREFIXES = (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9))


def to_frame(records: Sequence[Mapping[str, Any]]) -> Any:
    """Tidy rows as a `pandas.DataFrame` (typed Any: pandas is optional and ships no stubs),
    columns in order of first appearance (the rows' own order)."""
    try:
        import pandas as pd
    except ImportError:
        raise MissingExtraError("pandas", "pandas") from None
    columns = list(dict.fromkeys(name for row in records for name in row))
    return pd.DataFrame.from_records(list(records), columns=columns)


def _scaled(value: float, prefixes: tuple[tuple[str, float], ...]) -> str:
    for unit, size in prefixes:
        if abs(value) >= size:
            return f"{value / size:,.3g} {unit}"
    unit, size = prefixes[-1]
    return f"{value / size:,.3g} {unit}"


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return (
        f"<table><caption style='text-align:left'>{escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def report_html(report: Report, *, top: int = TOP_LAYERS) -> str:
    """A compact HTML summary of `report`: totals, the `top` layers by cycles, energy by component."""
    totals = [
        ("layers", f"{len(report.layers):,}"),
        ("MACs", f"{report.macs:,}"),
        ("cycles", f"{report.cycles:,}"),
        ("compute cycles", f"{report.compute_cycles:,}"),
        ("stall cycles", f"{report.cycles - report.compute_cycles:,}"),
        ("latency", _scaled(report.seconds, _TIME_PREFIXES)),
        ("energy", _scaled(report.energy_pj, _ENERGY_PREFIXES)),
        ("PE utilisation", f"{100 * report.utilisation:.1f} %"),
    ]
    if any(layer.sparse for layer in report.layers):
        totals += [
            ("ideal speedup", f"{report.ideal_speedup:.2f}×"),
            ("achieved speedup", f"{report.achieved_speedup:.2f}×"),
        ]
    busiest = sorted(report.layers, key=lambda layer: -layer.cycles)[:top]
    cycles = report.cycles or 1
    layers = [
        (
            layer.name,
            layer.kind,
            f"{layer.macs:,}",
            f"{layer.cycles:,}",
            f"{100 * layer.cycles / cycles:.1f}",
            f"{100 * layer.utilisation:.1f}",
            _scaled(layer.energy_pj, _ENERGY_PREFIXES),
        )
        for layer in busiest
    ]
    by_component = sorted(report.energy_by_component_pj().items(), key=lambda kv: -kv[1])
    energy = report.energy_pj or 1.0
    components = [
        (name, _scaled(pj, _ENERGY_PREFIXES), f"{100 * pj / energy:.1f}") for name, pj in by_component
    ]
    title = f"{report.network} on {report.hardware} ({report.mode} mode, {report.clock_mhz:g} MHz)"
    shown = f"top {len(busiest)} of {len(report.layers)} layers by cycles"
    return "".join(
        [
            f"<div class='accelsim-report'><strong>{escape(title)}</strong>",
            _table("totals", ("quantity", "value"), totals),
            _table(shown, ("layer", "kind", "MACs", "cycles", "% cycles", "util %", "energy"), layers),
            _table("energy by component", ("component", "energy", "% energy"), components),
            "</div>",
        ]
    )
