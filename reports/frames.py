"""Tidy frames: a frame is a list of dicts (one row per observation) with stable column names,
units in the names. Frames are plain data, written to CSV by `to_csv`, and the only thing figures
take; `to_dataframe` hands one to pandas for notebooks (optional `pandas` extra).

Sources: `from_report` (one row per layer), `energy_frame` (per layer, component, action),
`from_store` (one row per design point), `from_trace` (component, state, start, end intervals).
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from accelsim.dse.store import Store
from accelsim.timing import report_views

__all__ = [
    "Frame",
    "from_report",
    "energy_frame",
    "from_store",
    "from_trace",
    "columns",
    "column",
    "to_columns",
    "select",
    "where",
    "aggregate",
    "to_csv",
    "to_dataframe",
    "split_uncompacted",
    "TRACE_COLUMNS",
]

Frame = list[dict[str, Any]]

TRACE_COLUMNS = ("component", "state", "start_cycles", "end_cycles")


def from_report(report, hardware=None) -> Frame:
    """One row per layer: `Report.to_records()` plus roofline columns.

    Added: ``peak_mac_per_cycle`` (the PE count: one MAC per PE per cycle), ``clock_mhz``,
    ``operational_intensity_mac_per_byte`` (MACs per DRAM byte; None for a layer with no DRAM
    traffic), ``throughput_mac_per_cycle``; with `hardware`, also
    ``dram_bandwidth_bytes_per_cycle`` (the bandwidth roof)."""
    rows = []
    for row in report.to_records():
        row = dict(row)
        row["clock_mhz"] = report.clock_mhz
        row["peak_mac_per_cycle"] = report.pe_count
        if hardware is not None:
            row["dram_bandwidth_bytes_per_cycle"] = hardware.dram.bandwidth_bytes_per_cycle
        row["operational_intensity_mac_per_byte"] = (
            row["macs"] / row["dram_bytes"] if row["dram_bytes"] else None
        )
        row["throughput_mac_per_cycle"] = row["macs"] / row["cycles"] if row["cycles"] else 0.0
        rows.append(row)
    return rows


def energy_frame(report) -> Frame:
    """One row per (layer, component, action) with ``count`` and ``energy_pj``; leakage rows have
    action ``leakage``."""
    return [dict(row, mode=report.mode) for row in report.energy_records()]


def from_store(path: str | os.PathLike) -> Frame:
    """The finished points of a results store, one row per point, every row with every column."""
    with Store(path) as store:
        return store.tidy()


def from_trace(rows: Iterable[Any]) -> Frame:
    """Intervals ``(component, state, start, end)`` (tuples or mappings with those keys, or with
    ``start_cycles``/``end_cycles``) as a frame with `TRACE_COLUMNS`. Works for any trace that can
    be listed as intervals, e.g. the event engine's power-state trace."""
    out = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            start = row.get("start_cycles", row.get("start"))
            end = row.get("end_cycles", row.get("end"))
            values = (row.get("component"), row.get("state"), start, end)
        else:
            values = tuple(row)
            if len(values) != 4:
                raise ValueError(f"trace row {i}: expected (component, state, start, end), got {row!r}")
        component, state, start, end = values
        if component is None or state is None or start is None or end is None:
            raise ValueError(f"trace row {i}: needs component, state, start and end, got {row!r}")
        if end < start:
            raise ValueError(f"trace row {i}: end {end} is before start {start}")
        out.append(dict(zip(TRACE_COLUMNS, (str(component), str(state), start, end))))
    return out


# ---- frame helpers ----------------------------------------------------------------------
def columns(frame: Sequence[Mapping[str, Any]]) -> list[str]:
    """Column names in order of first appearance (frame builders fix that order)."""
    seen: dict[str, None] = {}
    for row in frame:
        seen.update(dict.fromkeys(row))
    return list(seen)


def column(frame: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    if frame and not any(name in row for row in frame):
        raise KeyError(f"no column {name!r} in frame; columns: {', '.join(columns(frame))}")
    return [row.get(name) for row in frame]


def to_columns(frame: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The column-dict form: ``{column: [values...]}``."""
    return {name: [row.get(name) for row in frame] for name in columns(frame)}


def select(frame: Sequence[Mapping[str, Any]], names: Sequence[str]) -> Frame:
    for name in names:
        column(frame, name)
    return [{name: row.get(name) for name in names} for row in frame]


def where(frame: Sequence[Mapping[str, Any]], **equal: Any) -> Frame:
    """Rows whose columns equal the given values (``where(f, **{"pe.dataflow": "ws"})``)."""
    for name in equal:
        column(frame, name)
    return [dict(row) for row in frame if all(row.get(k) == v for k, v in equal.items())]


def aggregate(
    frame: Sequence[Mapping[str, Any]], by: Sequence[str], value: str, *, how: str = "min"
) -> Frame:
    """One row per distinct `by` combination with `value` reduced by `how` (min, max, mean) and
    ``n_points``; rows sorted by the `by` columns."""
    reducers: dict[str, Callable[[list[Any]], Any]] = {
        "min": min,
        "max": max,
        "mean": lambda xs: math.fsum(xs) / len(xs),
    }
    if how not in reducers:
        raise ValueError(f"how: must be one of {', '.join(reducers)}, got {how!r}")
    for name in [*by, value]:
        column(frame, name)
    groups: dict[tuple, list] = {}
    for row in frame:
        if row.get(value) is not None:
            groups.setdefault(tuple(row.get(b) for b in by), []).append(row[value])
    return [
        {**dict(zip(by, key)), value: reducers[how](values), "n_points": len(values)}
        for key, values in sorted(groups.items(), key=lambda kv: tuple(_sort_key(v) for v in kv[0]))
    ]


def _sort_key(value: Any) -> tuple:
    # Numbers before strings, None last: a total order for mixed columns.
    if value is None:
        return (2, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def split_uncompacted(frame: Sequence[Mapping[str, Any]], group: str) -> tuple[Frame, str]:
    """Channel plans swept both compacted and at full size (``pruning.compact``) are two designs
    with one `group` value; a line through both would join unrelated points. Then the rows get a
    ``plan`` column that tells them apart (``channel (full size)``) and that is the column to
    group by; otherwise the frame and `group` come back unchanged."""
    if not any(row.get("pruning.compact") is False for row in frame):
        return [dict(row) for row in frame], group

    def plan(row: Mapping[str, Any]) -> str:
        return f"{row.get(group)}" + (" (full size)" if row.get("pruning.compact") is False else "")

    return [dict(row, plan=plan(row)) for row in frame], "plan"


def to_dataframe(frame: Sequence[Mapping[str, Any]]) -> Any:
    """A frame (e.g. `from_store(path)`) as a pandas DataFrame; needs the `pandas` extra."""
    return report_views.to_frame(frame)


def to_csv(frame: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> Path:
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns(frame), lineterminator="\n")
        writer.writeheader()
        writer.writerows(frame)
    return path
