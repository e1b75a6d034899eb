"""`explore(points, evaluate, *, executor, store)`: the one design-space-exploration driver.

Side-effect free except for the store: it evaluates the points the store does not already hold,
writes each result as it arrives, and returns the records of all the points in input order.
"""

from __future__ import annotations

import functools
import json
import os
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from accelsim.dse.executors import Executor, process_pool
from accelsim.dse.plans import plan_columns, plan_masks
from accelsim.dse.points import Point, canonical_json
from accelsim.dse.store import Store

__all__ = ["explore", "evaluate", "PointFailed", "ON_ERROR", "MODEL_VERSION"]

ON_ERROR = ("raise", "record")


class PointFailed(ValueError):
    """Evaluating a point raised; the message names the point and the error (one line), and
    `worker_traceback` holds the traceback text from the process that ran it."""

    worker_traceback: str = ""


@functools.lru_cache(maxsize=32)
def _network(name: str, params_json: str):
    # Networks are immutable and rebuilt identically; a worker simulating hundreds of points of
    # the same network builds it once.
    from workloads.zoo import get_network

    return get_network(name, **json.loads(params_json))


@functools.lru_cache(maxsize=2)
def _weights(name: str, params_json: str, seed: int):
    # Stand-in weights (He-initialised, seeded): only plans with a new seed or network redraw them.
    from workloads.models import init_weights

    return init_weights(_network(name, params_json), seed=seed)


@functools.lru_cache(maxsize=8)
def _masks(name: str, params_json: str, plan_json: str):
    # Pruning is the slow part of a sparse point (seconds for ResNets); every hardware variant of
    # the same network and plan reuses the masks. Small bound: a ResNet-50 mask set is ~25 MB.
    plan = json.loads(plan_json)
    return plan_masks(_network(name, params_json), _weights(name, params_json, plan["seed"]), plan)


class _Hashed:
    """A hardware that hashes and compares by its content hash, so lru_cache can key on it."""

    def __init__(self, hardware) -> None:
        self.hardware, self.key = hardware, hardware.content_hash()

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Hashed) and other.key == self.key


@functools.lru_cache(maxsize=32)
def _dense_report(name: str, params_json: str, hardware: _Hashed, mode: str):
    # The dense run of a network on a hardware: a dense point's result and the baseline of every
    # sparse point on that hardware (computed once per worker, not once per plan).
    from accelsim.timing.simulate import simulate

    return simulate(_network(name, params_json), hardware.hardware, mode=mode)


#: Version of the numbers `evaluate` gives for a point. Bump it whenever the same point would
#: give different numbers, so a results store from an older model is refused, not mixed in.
#: 2: channel compaction of pruned layers (`accelsim.sparse.compaction`).
#: 3: reuse-aware tiling by default (`accelsim.timing.tiling`), array-size-dependent energy, area.
MODEL_VERSION = "3"


def evaluate(point: Point) -> dict[str, Any]:
    """Simulate `point` and return one flat record: the point's columns, then totals.

    Totals have unit-suffixed names (``cycles``, ``seconds``, ``energy_pj``, ``edp_j_s``,
    ``energy_<component>_pj``); hardware fields appear as dotted-path columns (``pe.rows``).

    A point with a pruning plan is simulated sparse: masks from `accelsim.dse.plans.plan_masks`
    (the plan applied to seeded stand-in weights), compared with the dense run on the same
    hardware. Every record has the plan as flat columns (``pruning.granularity``,
    ``pruning.amount``, ...; see `plans.plan_columns`), ``density`` (kept fraction of all weights),
    ``dense_cycles``, ``ideal_speedup``, ``achieved_speedup`` and ``loss_<cause>_cycles`` (the cycles
    between ideal and achieved, by cause; they add up to ``cycles - dense_cycles / ideal_speedup``),
    all as `Report` defines them (so ``dense_cycles`` counts unmasked layers, e.g. pooling, as they
    ran next to the sparse ones). A dense point has density and speedups 1.0 and zero losses."""
    from accelsim.timing.layer_report import SPEEDUP_LOSSES
    from accelsim.timing.simulate import simulate

    if point.masks_hash is not None:
        raise ValueError(
            f"point {point.key[:12]}: masks {point.masks_hash[:12]}... cannot be evaluated: a point holds only the "
            "masks' hash, not the masks (give a pruning plan instead, or simulate the masks directly)"
        )
    params_json = canonical_json(point.network_params)
    network = _network(point.network, params_json)
    dense = _dense_report(point.network, params_json, _Hashed(point.hardware), point.mode)
    if point.pruning is None:
        report, density, losses = dense, 1.0, dict.fromkeys(SPEEDUP_LOSSES, 0.0)
    else:
        masks = _masks(point.network, params_json, canonical_json(point.pruning))
        report = simulate(
            network,
            point.hardware,
            mode=point.mode,
            masks=masks,
            baseline=dense,
            compact_channels=point.pruning["compact"],
        )
        density, losses = masks.density, report.speedup_losses_cycles()
    record = point.describe()
    record.update(plan_columns(point.pruning))
    record.update(
        layers=len(report.layers),
        macs=report.macs,
        cycles=report.cycles,
        compute_cycles=report.compute_cycles,
        **{f"stall_{cause}_cycles": cycles for cause, cycles in report.stall_cycles.items()},
        seconds=report.seconds,
        energy_pj=report.energy_pj,
        dynamic_energy_pj=sum(report.dynamic_energy_pj.values()),
        leakage_energy_pj=sum(report.leakage_energy_pj.values()),
        edp_j_s=report.edp_j_s,
        area_mm2=report.area_mm2,
        edap_j_s_mm2=report.edap_j_s_mm2,
        runs_per_s_per_mm2=report.runs_per_s_per_mm2,
        utilisation=report.utilisation,
        pe_count=report.pe_count,
        dram_bytes=sum(layer.dram_bytes for layer in report.layers),
        sram_bytes=sum(layer.sram_bytes for layer in report.layers),
        density=density,
        dense_cycles=report.dense_cycles,
        ideal_speedup=1.0 if report is dense else report.ideal_speedup,
        achieved_speedup=1.0 if report is dense else report.achieved_speedup,
        **{f"loss_{cause}_cycles": value for cause, value in losses.items()},
    )
    for component, energy in sorted(report.energy_by_component_pj().items()):
        record[f"energy_{component}_pj"] = energy
    return record


class _Guarded:
    """Runs `evaluate` in the worker and returns the outcome instead of raising, so one bad point
    neither kills a chunk's finished siblings nor depends on the exception pickling."""

    def __init__(self, evaluate: Callable[[Point], Mapping[str, Any]]) -> None:
        self.evaluate = evaluate

    def __call__(self, point: Point) -> tuple[bool, Any]:
        try:
            record = dict(self.evaluate(point))
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            return False, (message, "".join(traceback.format_exception(exc)))
        # The key column is ours: it is what the store and the frames join on.
        return True, {"point_key": point.key, **{k: v for k, v in record.items() if k != "point_key"}}


_default_evaluate = evaluate  # `explore`'s parameter shadows the name


def explore(
    points: Iterable[Point],
    evaluate: Callable[[Point], Mapping[str, Any]] = evaluate,
    *,
    executor: Executor | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    on_error: str = "raise",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate `points` and return their records, in input order.

    - `evaluate(point) -> mapping`: pure and picklable for parallel executors (default: `evaluate`).
    - `executor`: see `accelsim.dse.executors` (default: a process pool over all cores).
    - `store`: a `Store`, a path (opened and closed here) or None (nothing persisted). Points the
      store already holds are not evaluated again; each new result is committed as it arrives.
      With the default `evaluate` the store is tied to `MODEL_VERSION`; a store written by
      another model version is refused (`Store.claim_model_version`).
    - `on_error`: ``"raise"`` stops at the first failure with `PointFailed` (results that arrived
      earlier are kept); ``"record"`` stores the failure, leaves the point out of the returned
      records and goes on (a later run retries it). ``"record"`` needs a store.
    - `progress(done, total)`: called after each point, counting points found in the store as done.
    Duplicate points in the input are evaluated once.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error: must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    points = list(points)
    for index, point in enumerate(points):
        if not isinstance(point, Point):
            raise ValueError(f"points[{index}]: expected a Point, got {type(point).__name__}")
    if on_error == "record" and store is None:
        raise ValueError("on_error='record' needs a store to record failures in")
    db: Store | None
    owned: Store | None = None  # opened here from a path, so closed here
    if store is None or isinstance(store, Store):
        db = store
    else:
        db = owned = Store(store)
    try:
        if db is not None and evaluate is _default_evaluate:
            db.claim_model_version(MODEL_VERSION)
        unique = list({point.key: point for point in points}.values())
        records = db.finished(point.key for point in unique) if db is not None else {}
        todo = [point for point in unique if point.key not in records]
        done, total = len(unique) - len(todo), len(unique)
        if progress is not None:
            progress(done, total)
        run = executor if executor is not None else process_pool()
        outcomes = run(_Guarded(evaluate), todo)
        try:
            for index, (ok, value) in outcomes:
                point = todo[index]
                if ok:
                    records[point.key] = value
                    if db is not None:
                        db.put(point.key, point.to_dict(), value)
                else:
                    message, trace = value
                    if on_error == "raise":
                        failure = PointFailed(
                            f"point {point.key[:12]} ({point.network} on {point.hardware.name}, {point.mode}):"
                            f" {message}"
                        )
                        failure.worker_traceback = trace
                        raise failure
                    assert db is not None  # on_error='record' without a store was refused above
                    db.put_error(point.key, point.to_dict(), message)
                done += 1
                if progress is not None:
                    progress(done, total)
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()  # stop a pool generator promptly (cancels queued chunks)
        return [records[point.key] for point in points if point.key in records]
    finally:
        if owned is not None:
            owned.close()
