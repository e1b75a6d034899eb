"""Per-layer and over-time figures of one stored design point: `accelsim plot --kind roofline|timeline`.

A results store keeps each point's totals, not its layers or its trace, so these figures
re-simulate the one point a filter selects (deterministic: the same point gives the same report):

    report, hardware = replay(store_path, rows, trace=True)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from accelsim.arch.hardware import Hardware
from accelsim.dse import Point, Store, plan_masks
from accelsim.timing.report import Report
from accelsim.timing.simulate import simulate
from reports import frames
from reports.figures import roofline
from reports.power import power_timeline, trace_frame
from workloads.models import init_weights
from workloads.zoo import get_network

__all__ = ["replay", "point_figure", "POINT_KINDS"]

#: Figure kinds drawn from one re-simulated point rather than from the store's table.
POINT_KINDS = ("roofline", "timeline")
_NOT_IDENTITY = {"point_key", "hardware_hash", "network_params", "pruning", "masks_hash"}


def _identity_columns(rows: Sequence[Mapping[str, Any]], point: Point) -> list[str]:
    """Columns naming what differs between the matching points (for the error that asks to narrow)."""
    names = [c for c in point.describe() if c not in _NOT_IDENTITY]
    names += [c for c in rows[0] if c.startswith("pruning.")]
    return [c for c in dict.fromkeys(names) if len({repr(r.get(c)) for r in rows}) > 1]


def replay(
    store_path: str | os.PathLike, rows: Sequence[Mapping[str, Any]], *, trace: bool = False
) -> tuple[Report, Hardware]:
    """Re-simulate the single stored point among `rows` (store records, already filtered).

    With `trace`, the run is in event mode with the trace kept (whatever mode the point was
    swept in); otherwise in the point's own mode. A pruned point gets its plan's masks again."""
    with Store(store_path) as store:
        points = {p.key: p for p in (Point.from_dict(d) for d in store.points())}
    keys = list(dict.fromkeys(r["point_key"] for r in rows))
    if len(keys) != 1:
        varying = _identity_columns(rows, points[keys[0]]) if keys else []
        hint = "; they differ in " + ", ".join(varying) if varying else ""
        raise ValueError(
            f"{store_path}: {len(keys)} points match, this figure draws one; narrow it with "
            f"--where COLUMN=VALUE{hint}"
        )
    point = points[keys[0]]
    network = get_network(point.network, **point.network_params)
    mode = "event" if trace else point.mode
    if point.pruning is None:
        return simulate(network, point.hardware, mode=mode, trace=trace), point.hardware
    plan = point.pruning
    masks = plan_masks(network, init_weights(network, seed=plan["seed"]), plan)
    report = simulate(
        network, point.hardware, mode=mode, masks=masks, compact_channels=plan["compact"], trace=trace
    )
    return report, point.hardware


def point_figure(
    kind: str, store_path: str | os.PathLike, rows: Sequence[Mapping[str, Any]]
) -> tuple[Figure, list[dict[str, Any]]]:
    """The figure of `kind` (one of `POINT_KINDS`) for the one point in `rows`, and its data."""
    if kind not in POINT_KINDS:
        raise ValueError(f"kind: must be one of {', '.join(POINT_KINDS)}, got {kind!r}")
    report, hardware = replay(store_path, rows, trace=kind == "timeline")
    if kind == "roofline":
        plotted = frames.from_report(report, hardware)
        return roofline(plotted), plotted
    plotted = trace_frame(report.trace)
    return power_timeline(plotted), plotted
