"""Results store: one SQLite row per design point, keyed by the point's content hash.

Durability model: WAL journal, one short ``BEGIN IMMEDIATE`` transaction per write. A process
killed (even with SIGKILL) loses only the point it had not yet committed; a committed row is in
the WAL and survives. ``synchronous=NORMAL`` is enough for that (it only risks the last commits
on power loss, not on a process crash). Several processes may write at once: writers queue on
SQLite's lock for up to `timeout_s` (busy timeout) instead of failing.

Every SQLite problem (a damaged or foreign file, a read-only file or directory, a missing
directory, a full disk) is a :class:`StoreError` naming the path, never a raw ``sqlite3`` error.

A finished point (status ``ok``) is never overwritten, so reruns and concurrent duplicate work
cannot duplicate or change it; a failed point (status ``error``) is replaced when it later succeeds.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from accelsim.dse.outputs import atomic_output
from accelsim.dse.plans import PLAN_COLUMNS
from accelsim.timing.layer_report import SPEEDUP_LOSSES
from workloads.quoting import short

__all__ = ["RECORD_COLUMNS", "STORE_SCHEMA", "Store", "StoreError", "ordered_columns"]

STORE_SCHEMA = 1

#: Columns of the default `evaluate` record, in export order; other columns follow, sorted.
RECORD_COLUMNS = (
    "point_key",
    "network",
    "network_params",
    "mode",
    "pruning",
    *PLAN_COLUMNS,
    "masks_hash",
    "hardware",
    "hardware_hash",
    "layers",
    "macs",
    "cycles",
    "compute_cycles",
    "stall_dram_bandwidth_cycles",
    "stall_dram_latency_cycles",
    "stall_wake_up_cycles",
    "stall_dependency_cycles",
    "seconds",
    "energy_pj",
    "dynamic_energy_pj",
    "leakage_energy_pj",
    "edp_j_s",
    "area_mm2",
    "edap_j_s_mm2",
    "runs_per_s_per_mm2",
    "utilisation",
    "pe_count",
    "dram_bytes",
    "sram_bytes",
    "density",
    "dense_cycles",
    "ideal_speedup",
    "achieved_speedup",
    *(f"loss_{cause}_cycles" for cause in SPEEDUP_LOSSES),
)

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    point_key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('ok', 'error')),
    point TEXT NOT NULL,
    record TEXT,
    error TEXT
) WITHOUT ROWID;
"""


_TABLES = {"meta": ["name", "value"], "points": ["point_key", "status", "point", "record", "error"]}

_T = TypeVar("_T")


class StoreError(ValueError):
    """A results store that cannot be opened, read or written; the message names the path."""


def _explain(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and "not a database" in text:
        return f"{path}: not a results store (the file is damaged or is not SQLite)"
    if "readonly" in text or "read-only" in text:
        return f"{path}: the results store is read-only ({text}); sweep into a writable store"
    if "unable to open" in text and not path.parent.is_dir():
        return f"{path}: cannot create the results store: directory {path.parent} does not exist"
    if isinstance(exc, json.JSONDecodeError):
        return f"{path}: a stored point or record is not valid JSON ({text[:80]}); the store is damaged"
    return f"{path}: results store error: {text[:200]}"


def _row(text: Any) -> dict[str, Any]:
    """A stored point or record: a JSON object (anything else means the file was tampered with)."""
    value = json.loads(text) if isinstance(text, (str, bytes)) else None
    if not isinstance(value, dict):
        raise json.JSONDecodeError(f"expected a JSON object, got {short(text)}", str(text)[:80], 0)
    return value


def _named_errors(method: Callable[..., _T]) -> Callable[..., _T]:
    """Re-raise SQLite's errors (and undecodable rows) as `StoreError` naming the store's path."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, json.JSONDecodeError) as exc:
            raise StoreError(_explain(self.path, exc)) from None

    return wrapper


def ordered_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Stable column order for a set of rows: known record columns first, the rest sorted."""
    seen: set[str] = set()
    for row in rows:
        seen.update(row)
    known = [c for c in RECORD_COLUMNS if c in seen]
    return known + sorted(seen - set(known))


class Store:
    """A results store at `path` (created if missing). Use as a context manager or call `close()`.

    Not shared across processes as an object: each process opens its own `Store(path)`."""

    def __init__(self, path: str | os.PathLike, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a results store file")
        if not self.path.parent.is_dir():
            raise StoreError(
                f"{self.path}: cannot create the results store: directory {self.path.parent} does not exist"
            )
        try:
            # isolation_level=None: we issue BEGIN ourselves, so every transaction is explicit and short.
            self._db = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(_explain(self.path, exc)) from None
        try:
            self._open(timeout_s)
        except BaseException:
            self._db.close()
            raise

    @_named_errors
    def _open(self, timeout_s: float) -> None:
        self._db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        self._check_tables()
        mode = self._switch_to_wal(timeout_s)
        if mode.lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch the results store to WAL mode (got {mode!r})")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._transaction():
            for statement in _SCHEMA_SQL.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            row = self._db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None:
                self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(STORE_SCHEMA),))
            elif row[0] != str(STORE_SCHEMA):
                found = str(row[0])[:20]
                raise StoreError(f"{self.path}: results store schema {found} is not {STORE_SCHEMA}")

    def _check_tables(self) -> None:
        """Refuse a SQLite file that is not ours (other tables, or our table names with other columns)
        before anything is written to it."""
        tables = [name for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        foreign = sorted(set(tables) - set(_TABLES))
        if foreign:
            raise StoreError(
                f"{self.path}: not a results store: it holds other tables ({short(foreign)}); "
                "give a new file or an accelsim store"
            )
        for table in tables:
            columns = [row[1] for row in self._db.execute(f"PRAGMA table_info({table})")]
            if columns != _TABLES[table]:
                raise StoreError(
                    f"{self.path}: not a results store: table {table} has columns {short(columns)}"
                )

    def _switch_to_wal(self, timeout_s: float) -> str:
        # Switching a new file to WAL needs it exclusively, and SQLite answers "database is
        # locked" at once, without its busy handler, while another process is opening the same
        # new store (measured: 3 of 60 simultaneous opens). Retry until the busy timeout.
        deadline = time.monotonic() + timeout_s
        delay_s = 0.001
        while True:
            try:
                return self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay_s > deadline:
                    raise
                time.sleep(delay_s)
                delay_s = min(2 * delay_s, 0.1)

    @_named_errors
    def claim_model_version(self, version: str) -> None:
        """Tie the store to the model that writes its records: the first claim sets ``version``,
        a later one with another version is refused, so results of two models never mix (and
        nothing computed is touched). A store that already holds records but no version was
        written before versions were recorded, and is refused too."""
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE name = 'model_version'").fetchone()
            if row is None:
                count = self._db.execute("SELECT COUNT(*) FROM points WHERE status = 'ok'").fetchone()[0]
                if count:
                    raise ValueError(
                        f"{self.path}: results store holds {count} records of an older model (no model "
                        f"version recorded); this accelsim writes model version {version}: sweep into a new "
                        "store"
                    )
                self._db.execute("INSERT INTO meta VALUES ('model_version', ?)", (version,))
            elif row[0] != version:
                raise StoreError(
                    f"{self.path}: results store holds records of model version {row[0]}; this "
                    f"accelsim writes model version {version}: sweep into a new store"
                )

    # ---- plumbing -----------------------------------------------------------------------
    def _transaction(self):
        store = self

        class _Tx:
            def __enter__(self):
                # IMMEDIATE takes the write lock up front, so the busy timeout applies; a deferred
                # transaction that upgrades later can fail with SQLITE_BUSY without waiting.
                store._db.execute("BEGIN IMMEDIATE")

            def __exit__(self, kind, exc, tb):
                store._db.execute("COMMIT" if kind is None else "ROLLBACK")
                return False

        return _Tx()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing ------------------------------------------------------------------------
    def put(self, key: str, point: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        """Record a finished point (one transaction). An existing ``ok`` row is kept as is."""
        self.put_many([(key, point, record, None)])

    def put_error(self, key: str, point: Mapping[str, Any], error: str) -> None:
        self.put_many([(key, point, None, error)])

    @_named_errors
    def put_many(self, rows: Sequence[tuple[str, Mapping, Mapping | None, str | None]]) -> None:
        """Write ``(key, point dict, record or None, error or None)`` rows in one transaction."""
        params = [
            (
                key,
                "ok" if error is None else "error",
                json.dumps(point, sort_keys=True),
                None if record is None else json.dumps(record),
                error,
            )
            for key, point, record, error in rows
        ]
        with self._transaction():
            self._db.executemany(
                "INSERT INTO points (point_key, status, point, record, error) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (point_key) DO UPDATE SET status = excluded.status, point = excluded.point,"
                " record = excluded.record, error = excluded.error WHERE points.status != 'ok'",
                params,
            )

    # ---- reading ------------------------------------------------------------------------
    @_named_errors
    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM points WHERE status = 'ok'").fetchone()[0]

    @_named_errors
    def __contains__(self, key: object) -> bool:
        return (
            self._db.execute("SELECT 1 FROM points WHERE point_key = ? AND status = 'ok'", (key,)).fetchone()
            is not None
        )

    @_named_errors
    def finished(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """``key -> record`` of the finished (``ok``) points, restricted to `keys` if given."""
        if keys is None:
            rows = self._db.execute("SELECT point_key, record FROM points WHERE status = 'ok'")
            return {key: _row(record) for key, record in rows}
        out: dict[str, dict[str, Any]] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT point_key, record FROM points WHERE status = 'ok' AND point_key IN"
                f" ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.update((key, _row(record)) for key, record in rows)
        return out

    @_named_errors
    def records(self) -> list[dict[str, Any]]:
        """Records of all finished points, ordered by point key (deterministic)."""
        rows = self._db.execute("SELECT record FROM points WHERE status = 'ok' ORDER BY point_key")
        return [_row(record) for (record,) in rows]

    @_named_errors
    def points(self) -> list[dict[str, Any]]:
        """The point dicts (`Point.to_dict()` form) of all finished points, by point key."""
        rows = self._db.execute("SELECT point FROM points WHERE status = 'ok' ORDER BY point_key")
        return [_row(point) for (point,) in rows]

    @_named_errors
    def failures(self) -> list[dict[str, Any]]:
        """``{point_key, error, point}`` for the points whose last attempt failed."""
        rows = self._db.execute(
            "SELECT point_key, error, point FROM points WHERE status = 'error' ORDER BY point_key"
        )
        return [{"point_key": key, "error": error, "point": _row(point)} for key, error, point in rows]

    def tidy(self) -> list[dict[str, Any]]:
        """Finished records as a tidy table: every row has every column (missing -> None), in
        `ordered_columns` order."""
        records = self.records()
        columns = ordered_columns(records)
        return [{column: record.get(column) for column in columns} for record in records]

    def export_csv(self, path: str | os.PathLike) -> Path:
        """Write the tidy table to `path` (header row; empty cells for missing values), atomically."""
        table = self.tidy()
        path = Path(path)
        with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=ordered_columns(table), lineterminator="\n")
            writer.writeheader()
            writer.writerows(table)
        return path

    @_named_errors
    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``'ok'`` for a sound file."""
        return self._db.execute("PRAGMA integrity_check").fetchone()[0]
