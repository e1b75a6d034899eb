"""Sweep files: YAML describing a sweep, validated completely before any point runs.

```yaml
hardware: scalesim_32x32          # base: preset name or hardware YAML path (relative to this file),
                                  #   or a list of them (an axis: grid and zip apply to each)
networks: [resnet50]              # zoo names, or {name: resnet50, params: {input_hw: [160, 160]}}
modes: [analytical]               # optional, default [analytical]
pruning:                          # optional: pruning plans (null = dense), see accelsim.dse.plans
  - null
  - {granularity: unstructured, amount: 0.5}
  - {granularity: block, amount: 0.5, block_shape: [4, 4]}
  - {granularity: nm, n: 2, m: 4}
grid:                             # cartesian product over dotted hardware paths
  pe.dataflow: [ws, os, is]
  buffers.ifmap.size_bytes: [32768, 65536]
zip:                              # optional: varied in lock-step, together one axis of the grid
  pe.rows: [16, 32, 64]
  pe.cols: [16, 32, 64]
sample: {n: 50, seed: 0}          # optional: a seeded random subset of the full product
executor: {kind: process, workers: 2}   # serial | process | dask (address: tcp://host:8786)
store: results.sqlite             # relative to this file
on_error: raise                   # or record
```

At most `DEFAULT_MAX_POINTS` points (``max_points=`` / ``accelsim sweep --max-points`` raise it): the
count is taken from the lengths of the axes before anything is built, so a grid of 10^8 points is
refused at once.

Point order: networks, then pruning plans, then modes, then base hardware, then the zip axis,
then grid axes in file order (last fastest). The points of one plan are adjacent, so a worker
that gets a chunk of them prunes once.
Errors name the file, line and key: ``sweep.yaml:7: grid.pe.rowz: unknown hardware field ...``,
``sweep.yaml:5: pruning[2].block_shape: must be [rows, cols] ...``.
"""

from __future__ import annotations

import itertools
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.arch.hardware import Hardware, HardwareError, load_hardware
from accelsim.dse.explore import ON_ERROR
from accelsim.dse.plans import PlanError, check_plan, check_plan_fits
from accelsim.dse.points import Point
from workloads import strict_yaml
from workloads.quoting import short

__all__ = ["DEFAULT_MAX_POINTS", "SweepConfig", "SweepConfigError", "load_sweep", "parse_sweep"]

#: Largest sweep accepted without ``max_points=``: about a day of analytical points on one core.
DEFAULT_MAX_POINTS = 1_000_000

_KEYS = ("hardware", "networks", "modes", "grid", "zip", "sample", "pruning", "executor", "store", "on_error")
_EXECUTOR_KEYS = ("kind", "workers", "address", "chunksize")
_EXECUTOR_KINDS = ("serial", "process", "dask")


class SweepConfigError(ValueError):
    """A malformed sweep file; the message names file, line and key."""


@dataclass(frozen=True)
class SweepConfig:
    source: str
    points: tuple[Point, ...]
    store: Path | None
    executor: dict[str, Any] = field(default_factory=dict)
    on_error: str = "raise"
    axes: tuple[str, ...] = ()


def load_sweep(path: str | os.PathLike, *, max_points: int = DEFAULT_MAX_POINTS) -> SweepConfig:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(strict_yaml.MAX_TEXT_CHARS + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        raise SweepConfigError(f"{path}: cannot read sweep file: {reason}") from None
    return parse_sweep(text, source=str(path), base_dir=path.parent, max_points=max_points)


def parse_sweep(
    text: str,
    source: str = "<sweep>",
    base_dir: str | os.PathLike = ".",
    *,
    max_points: int = DEFAULT_MAX_POINTS,
) -> SweepConfig:
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
        raise SweepConfigError(f"max_points: must be a positive integer, got {short(max_points)}")
    try:
        data = strict_yaml.load(text, source)
    except strict_yaml.StrictYAMLError as exc:
        raise SweepConfigError(str(exc)) from None
    return _Parser(data, source, Path(base_dir), max_points).parse()


def _axis_length(value: Any, *, default: int = 1) -> int:
    """Entries of one axis as the file gives them; malformed axes count 1 and are reported later."""
    return len(value) if isinstance(value, list) and value else default


class _Parser:
    def __init__(self, data: Any, source: str, base_dir: Path, max_points: int) -> None:
        self.data, self.source, self.base_dir = data, source, base_dir
        self.max_points = max_points

    def fail(self, mapping: Any, key: Any, path: str, problem: str) -> SweepConfigError:
        line = strict_yaml.line_of(mapping, key)
        where = f"{self.source}:{line}" if line is not None else self.source
        return SweepConfigError(f"{where}: {path}: {problem}")

    def parse(self) -> SweepConfig:
        d = self.data
        if not isinstance(d, dict):
            raise SweepConfigError(f"{self.source}: a sweep file must be a mapping, got {type(d).__name__}")
        for key in d:
            if key not in _KEYS:
                raise self.fail(d, key, str(key), f"unknown key; allowed keys: {', '.join(_KEYS)}")
        for key in ("hardware", "networks"):
            if key not in d:
                raise self.fail(d, None, key, "missing required key")
        self.check_size()
        bases = self.base_hardware()
        networks = self.networks()
        plans = self.plans(networks)
        modes = self.modes()
        zip_axis = self.zip_axis(bases)
        grid_axes = self.grid_axes(bases, zip_axis)
        setting_axes: list[list[dict[str, Any]]] = ([zip_axis[1]] if zip_axis else []) + [
            values for _, values in grid_axes
        ]
        lengths = [len(networks), len(plans), len(modes), len(bases)] + [len(a) for a in setting_axes]
        points = []
        for n_i, p_i, m_i, h_i, *setting_indices in self.sample(lengths):
            network, plan, mode, hardware = networks[n_i], plans[p_i], modes[m_i], bases[h_i]
            merged: dict[str, Any] = {}
            for axis, i in zip(setting_axes, setting_indices):
                merged.update(axis[i])
            try:
                for hw_path, value in merged.items():
                    hardware = hardware.replace(hw_path, value)
            except HardwareError as exc:
                raise SweepConfigError(f"{self.source}: combination {short(merged)}: {exc}") from None
            points.append(
                Point(network["name"], hardware, mode=mode, network_params=network["params"], pruning=plan)
            )
        names = (
            ["network"]
            + (["pruning"] if "pruning" in d else [])
            + ["mode"]
            + (["hardware"] if isinstance(d["hardware"], list) else [])
            + (list(zip_axis[0]) if zip_axis else [])
            + [p for p, _ in grid_axes]
        )
        return SweepConfig(
            source=self.source,
            points=tuple(points),
            store=self.store(),
            executor=self.executor(),
            on_error=self.on_error(),
            axes=tuple(names),
        )

    def check_size(self) -> None:
        """Refuse a sweep of more than `max_points` points, counted from the axes' lengths alone."""
        d = self.data
        lengths = [
            _axis_length(d["networks"]),
            _axis_length(d.get("pruning")),
            _axis_length(d.get("modes")),
            _axis_length(d["hardware"]),
        ]
        zipped = d.get("zip")
        if isinstance(zipped, dict) and zipped:
            lengths.append(max(_axis_length(values) for values in zipped.values()))
        grid = d.get("grid")
        if isinstance(grid, dict):
            lengths += [_axis_length(values) for values in grid.values()]
        total = math.prod(lengths)
        sample = d.get("sample")
        wanted = total
        n = sample.get("n") if isinstance(sample, dict) else None
        if isinstance(n, int) and not isinstance(n, bool):
            wanted = min(total, n)
        if wanted > self.max_points:
            shape = " x ".join(str(n) for n in lengths if n > 1) or "1"
            raise SweepConfigError(
                f"{self.source}: {wanted:,} points ({shape}) is more than the {self.max_points:,} allowed; "
                "sample a subset (sample: {n: COUNT}) or raise the limit (accelsim sweep --max-points)"
            )

    # ---- sections -----------------------------------------------------------------------
    def base_hardware(self) -> list[Hardware]:
        d, specs = self.data, self.data["hardware"]
        listed = isinstance(specs, list)
        if listed and not specs:
            raise self.fail(
                d, "hardware", "hardware", "empty list (give at least one preset name or YAML path)"
            )
        out = []
        for i, spec in enumerate(specs if listed else [specs]):
            where = f"hardware[{i}]" if listed else "hardware"
            if not isinstance(spec, str) or not spec:
                raise self.fail(
                    d, "hardware", where, f"must be a preset name or a YAML path, got {short(spec)}"
                )
            if spec.endswith((".yaml", ".yml")) and not os.path.isabs(spec):
                spec = str(self.base_dir / spec)
            try:
                out.append(load_hardware(spec))
            except HardwareError as exc:
                raise self.fail(d, "hardware", where, str(exc)) from None
        return out

    def networks(self) -> list[dict[str, Any]]:
        from workloads.zoo import UnknownNetworkError, get_network, list_networks

        d, entries = self.data, self.data["networks"]
        if not isinstance(entries, list) or not entries:
            raise self.fail(
                d, "networks", "networks", f"must be a non-empty list of zoo names, got {short(entries)}"
            )
        out = []
        for i, entry in enumerate(entries):
            where = f"networks[{i}]"
            params: object  # checked to be a mapping below
            if isinstance(entry, str):
                name, params = entry, {}
            elif isinstance(entry, dict) and set(entry) <= {"name", "params"} and "name" in entry:
                name, params = entry["name"], entry.get("params") or {}
            else:
                raise self.fail(
                    d, "networks", where, f"must be a zoo name or {{name:, params:}}, got {short(entry)}"
                )
            if name not in list_networks():
                raise self.fail(
                    d,
                    "networks",
                    where,
                    f"unknown network {short(name)}; known networks: {', '.join(list_networks())}",
                )
            if not isinstance(params, dict):
                raise self.fail(entry, "params", f"{where}.params", f"must be a mapping, got {short(params)}")
            try:  # build once now, so a bad parameter fails before any point runs
                get_network(name, **params)
            except (TypeError, ValueError, UnknownNetworkError) as exc:
                raise self.fail(
                    entry if isinstance(entry, dict) else d,
                    "params" if isinstance(entry, dict) else "networks",
                    where,
                    f"cannot build {short(name)} with {short(params)}: {exc}",
                ) from None
            out.append({"name": name, "params": dict(params)})
        return out

    def plans(self, networks: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
        """The pruning axis: canonical plans (None for dense), each checked against every network."""
        from workloads.zoo import get_network

        d = self.data
        entries = d.get("pruning")
        if entries is None:
            return [None]
        if not isinstance(entries, list):
            raise self.fail(
                d,
                "pruning",
                "pruning",
                f"must be a list of plans (null for dense), like [null, {{granularity: unstructured, "
                f"amount: 0.5}}], got {short(entries)}",
            )
        if not entries:
            raise self.fail(d, "pruning", "pruning", "empty axis (give at least one plan, or null for dense)")
        out = []
        for i, entry in enumerate(entries):
            where = f"pruning[{i}]"
            if entry is not None and not isinstance(entry, dict):
                raise self.fail(
                    d,
                    "pruning",
                    where,
                    f"must be a plan mapping like {{granularity: unstructured, amount: 0.5}} or null "
                    f"(dense), got {short(entry)}",
                )
            try:
                plan = check_plan(entry)
                for network in networks:  # e.g. a block shape that tiles no layer: a plan that prunes nothing
                    check_plan_fits(get_network(network["name"], **network["params"]), plan)
            except PlanError as exc:  # only a mapping gets here; name the key, at its line if present
                assert entry is not None  # None is the dense plan, which check_plan(_fits) accept
                raise self.fail(
                    entry,
                    exc.field if exc.field in entry else None,
                    f"{where}.{exc.field}" if exc.field else where,
                    exc.problem,
                ) from None
            out.append(plan)
        return out

    def modes(self) -> list[str]:
        from accelsim.timing.simulate import MODES

        d = self.data
        modes = d.get("modes", ["analytical"])
        if not isinstance(modes, list) or not modes:
            raise self.fail(d, "modes", "modes", f"must be a non-empty list of modes, got {short(modes)}")
        for i, mode in enumerate(modes):
            if mode not in MODES:
                raise self.fail(
                    d, "modes", f"modes[{i}]", f"unknown mode {short(mode)}; choose from {list(MODES)}"
                )
        return list(modes)

    def _axis(self, section: str, mapping: dict, hw_path: Any, bases: list[Hardware]) -> list[Any]:
        where = f"{section}.{hw_path}"
        values = mapping[hw_path]
        if not isinstance(hw_path, str) or not hw_path:
            raise self.fail(mapping, hw_path, where, "axis names are dotted hardware paths like pe.rows")
        if not isinstance(values, list):
            raise self.fail(mapping, hw_path, where, f"must be a list of values, got {short(values)}")
        if not values:
            raise self.fail(mapping, hw_path, where, "empty axis (give at least one value)")
        for value in values:
            try:
                for base in bases:
                    base.replace(hw_path, value)
            except HardwareError as exc:
                message = str(exc)
                if "unknown path" in message:
                    message = f"unknown hardware field: {message}"
                raise self.fail(mapping, hw_path, where, message) from None
        return values

    def zip_axis(self, bases: list[Hardware]):
        d = self.data
        if "zip" not in d:
            return None
        z = d["zip"]
        if not isinstance(z, dict) or not z:
            raise self.fail(
                d, "zip", "zip", f"must be a non-empty mapping of hardware path -> values, got {short(z)}"
            )
        columns = {p: self._axis("zip", z, p, bases) for p in z}
        lengths = {p: len(v) for p, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise self.fail(d, "zip", "zip", f"zipped axes must have equal lengths, got {lengths}")
        rows = [dict(zip(columns, combo)) for combo in zip(*columns.values())]
        return tuple(columns), rows

    def grid_axes(self, bases: list[Hardware], zip_axis) -> list[tuple[str, list[dict]]]:
        d = self.data
        g = d.get("grid", {})
        if g is None or not isinstance(g, dict):
            raise self.fail(
                d, "grid", "grid", f"must be a mapping of hardware path -> values, got {short(g)}"
            )
        taken = set(zip_axis[0]) if zip_axis else set()
        out = []
        for hw_path in g:
            values = self._axis("grid", g, hw_path, bases)
            if hw_path in taken:
                raise self.fail(g, hw_path, f"grid.{hw_path}", "axis is also in zip; give it once")
            out.append((hw_path, [{hw_path: v} for v in values]))
        return out

    def sample(self, lengths: list[int]) -> list[tuple[int, ...]]:
        """Index tuples into axes of these lengths: all of them, or `sample.n` drawn with `sample.seed`."""
        d = self.data
        total = math.prod(lengths)
        if "sample" not in d:
            return list(itertools.product(*(range(length) for length in lengths)))
        s = d["sample"]
        if not isinstance(s, dict) or set(s) - {"n", "seed"} or "n" not in s:
            raise self.fail(d, "sample", "sample", f"must be {{n: COUNT, seed: INT}}, got {short(s)}")
        n, seed = s["n"], s.get("seed", 0)
        if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= total:
            raise self.fail(
                s, "n", "sample.n", f"must be an integer in 1..{total} (the grid size), got {short(n)}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise self.fail(s, "seed", "sample.seed", f"must be an integer, got {short(seed)}")
        out = []
        for index in sorted(random.Random(seed).sample(range(total), n)):
            combo = []
            for length in reversed(lengths):
                index, digit = divmod(index, length)
                combo.append(digit)
            out.append(tuple(reversed(combo)))
        return out

    def executor(self) -> dict[str, Any]:
        d = self.data
        spec = d.get("executor", {"kind": "process"})
        if isinstance(spec, str):
            spec = {"kind": spec}
        if not isinstance(spec, dict):
            raise self.fail(d, "executor", "executor", f"must be a kind or a mapping, got {short(spec)}")
        for key in spec:
            if key not in _EXECUTOR_KEYS:
                raise self.fail(
                    spec, key, f"executor.{key}", f"unknown key; allowed: {', '.join(_EXECUTOR_KEYS)}"
                )
        kind = spec.get("kind", "process")
        if kind not in _EXECUTOR_KINDS:
            raise self.fail(
                spec,
                "kind",
                "executor.kind",
                f"must be one of {', '.join(_EXECUTOR_KINDS)}, got {short(kind)}",
            )
        for key in ("workers", "chunksize"):
            value = spec.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise self.fail(
                    spec, key, f"executor.{key}", f"must be a positive integer, got {short(value)}"
                )
        return {"kind": kind, **{k: spec[k] for k in ("workers", "address", "chunksize") if k in spec}}

    def store(self) -> Path | None:
        d = self.data
        spec = d.get("store")
        if spec is None:
            return None
        if not isinstance(spec, str) or not spec:
            raise self.fail(d, "store", "store", f"must be a file path, got {short(spec)}")
        return Path(spec) if os.path.isabs(spec) else self.base_dir / spec

    def on_error(self) -> str:
        d = self.data
        value = d.get("on_error", "raise")
        if value not in ON_ERROR:
            raise self.fail(
                d, "on_error", "on_error", f"must be one of {', '.join(ON_ERROR)}, got {short(value)}"
            )
        return value
