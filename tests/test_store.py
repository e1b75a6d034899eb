"""accelsim.dse.store: one row per point, resumable after SIGKILL, safe with concurrent writers."""

import csv
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from accelsim.arch.hardware import load_hardware
from accelsim.dse import Point, Store, explore, serial

ROOT = Path(__file__).resolve().parents[1]

# A sweep script for subprocesses: N cheap points, each taking `delay` seconds, into a store.
SCRIPT = textwrap.dedent("""
    import sys, time
    from accelsim.dse import Point, explore, serial
    from accelsim.arch.hardware import load_hardware

    def slow(point):
        time.sleep(float(sys.argv[3]))
        return {"rows": point.hardware.pe.rows, "pid_free_value": point.hardware.pe.rows * 2}

    def points(first, last):
        base = load_hardware("scalesim_32x32")
        return [Point("lenet5", base.replace("pe.rows", rows)) for rows in range(first, last)]

    if __name__ == "__main__":
        first, last = (int(x) for x in sys.argv[2].split(":"))
        explore(points(first, last), slow, executor=serial(), store=sys.argv[1])
""")


def expected_keys(first, last):
    base = load_hardware("scalesim_32x32")
    return {Point("lenet5", base.replace("pe.rows", r)).key for r in range(first, last)}


def launch(tmp_path, store, span, delay):
    script = tmp_path / "sweep_script.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), str(store), span, str(delay)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
    )


def raw_rows(path):
    with sqlite3.connect(path) as db:
        return db.execute("SELECT point_key FROM points").fetchall()


def test_store_is_wal_and_keeps_one_row_per_point(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.put("k1", {"p": 1}, {"point_key": "k1", "v": 1})
        store.put("k1", {"p": 1}, {"point_key": "k1", "v": 2})  # finished rows are never overwritten
        store.put_error("k2", {"p": 2}, "boom")
        store.put("k2", {"p": 2}, {"point_key": "k2", "v": 3})  # a failure is replaced by success
        store.put_error("k2", {"p": 2}, "later failure")  # ...and a success is not undone
        assert store.records() == [{"point_key": "k1", "v": 1}, {"point_key": "k2", "v": 3}]
        assert len(store) == 2 and "k1" in store and "k3" not in store
        assert store.integrity_check() == "ok"
    assert len(raw_rows(tmp_path / "s.sqlite")) == 2


def test_tidy_and_csv_export_have_stable_columns(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        store.put("b", {}, {"point_key": "b", "zeta": 1, "cycles": 10, "network": "mlp"})
        store.put("a", {}, {"point_key": "a", "alpha": 2, "cycles": 20, "network": "mlp"})
        table = store.tidy()
        assert [list(row) for row in table] == [["point_key", "network", "cycles", "alpha", "zeta"]] * 2
        assert [row["point_key"] for row in table] == ["a", "b"] and table[1]["alpha"] is None
        store.export_csv(tmp_path / "out.csv")
    with open(tmp_path / "out.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0] == {"point_key": "a", "network": "mlp", "cycles": "20", "alpha": "2", "zeta": ""}


def wait_for_rows(path, at_least, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if path.exists() and len(raw_rows(path)) >= at_least:
                return
        except sqlite3.OperationalError:
            pass  # schema not created yet
        time.sleep(0.05)
    raise AssertionError(f"the sweep never wrote {at_least} rows")


def test_sigkilled_sweep_resumes_with_every_point_exactly_once(tmp_path):
    store_path = tmp_path / "sweep.sqlite"
    child = launch(tmp_path, store_path, "1:41", 0.05)
    try:
        wait_for_rows(store_path, 5)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    with Store(store_path) as store:
        assert store.integrity_check() == "ok"
        partial = len(store)
    assert 5 <= partial < 40, "kill should land mid-sweep"

    # Resume in-process with a counting evaluate: only the missing points run.
    evaluated = []

    def count(point):
        evaluated.append(point.key)
        return {"rows": point.hardware.pe.rows, "pid_free_value": point.hardware.pe.rows * 2}

    base = load_hardware("scalesim_32x32")
    points = [Point("lenet5", base.replace("pe.rows", r)) for r in range(1, 41)]
    explore(points, count, executor=serial(), store=store_path)
    assert len(evaluated) == 40 - partial
    keys = [key for (key,) in raw_rows(store_path)]
    assert len(keys) == len(set(keys)) == 40
    assert set(keys) == expected_keys(1, 41)
    with Store(store_path) as store:
        assert store.integrity_check() == "ok"
        assert sorted(r["rows"] for r in store.records()) == list(range(1, 41))


def test_two_processes_writing_at_once_are_safe(tmp_path):
    store_path = tmp_path / "shared.sqlite"
    # Overlapping spans: 1..30 and 20..50, written concurrently, one transaction per point.
    first = launch(tmp_path, store_path, "1:31", 0.005)
    second = launch(tmp_path, store_path, "20:51", 0.005)
    for child in (first, second):
        _, err = child.communicate(timeout=120)
        assert child.returncode == 0, err.decode()
    keys = [key for (key,) in raw_rows(store_path)]
    assert len(keys) == len(set(keys)) == 50
    assert set(keys) == expected_keys(1, 51)
    with Store(store_path) as store:
        assert store.integrity_check() == "ok"


def test_store_refuses_a_foreign_schema(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    with pytest.raises(ValueError, match="schema 99"):
        Store(path)


def test_model_version_ties_a_store_to_the_model_that_wrote_it(tmp_path):
    from accelsim.dse import MODEL_VERSION

    base = load_hardware("scalesim_32x32")
    points = [Point("lenet5", base, mode="analytical")]
    path = tmp_path / "s.sqlite"
    first = explore(points, executor=serial(), store=path)  # default evaluate claims the store
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'model_version'").fetchone() == (
            MODEL_VERSION,
        )
    assert explore(points, executor=serial(), store=path) == first  # same version: resumes
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'old' WHERE name = 'model_version'")
    with pytest.raises(
        ValueError, match=f"model version old; this accelsim writes model version {MODEL_VERSION}"
    ):
        explore(points, executor=serial(), store=path)
    with sqlite3.connect(path) as db:  # a store from before versions
        db.execute("DELETE FROM meta WHERE name = 'model_version'")
    with pytest.raises(ValueError, match="holds 1 records of an older model"):
        explore(points, executor=serial(), store=path)
    assert len(raw_rows(path)) == 1  # refused, nothing touched
    # A custom evaluate function owns its records: no version is claimed.
    other = tmp_path / "custom.sqlite"
    explore(points, lambda p: {"rows": p.hardware.pe.rows}, executor=serial(), store=other)
    with sqlite3.connect(other) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'model_version'").fetchone() is None


def test_opening_retries_the_wal_switch_while_another_opener_holds_the_file(tmp_path, monkeypatch):
    # Two processes creating the same store at once: SQLite answers the second one's switch to
    # WAL with "database is locked" at once, without its busy handler (seen 3 times in 60 paired
    # opens). The store retries until its timeout instead of failing.
    import accelsim.dse.store as store_module

    real_connect = sqlite3.connect
    refusals = {"left": 3}

    class Contended:
        def __init__(self, db):
            self._db = db

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA journal_mode") and refusals["left"]:
                refusals["left"] -= 1
                raise sqlite3.OperationalError("database is locked")
            return self._db.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self._db, name)

    monkeypatch.setattr(store_module.sqlite3, "connect", lambda *a, **k: Contended(real_connect(*a, **k)))
    with Store(tmp_path / "new.sqlite", timeout_s=10) as store:
        assert refusals["left"] == 0 and len(store) == 0
    refusals["left"] = 10**6  # never free: the timeout ends the wait
    locked = r"other\.sqlite: results store error: database is locked"
    with pytest.raises(store_module.StoreError, match=locked):
        Store(tmp_path / "other.sqlite", timeout_s=0.05)


# ---- damaged, foreign, read-only and misplaced stores: StoreError naming the path -----------------
def test_damaged_store_is_a_named_error(tmp_path):
    from accelsim.dse.store import StoreError

    path = tmp_path / "damaged.sqlite"
    with Store(path) as store:
        store.put("k", {"a": 1}, {"b": 2})
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"  # the SQLite header
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"damaged\.sqlite: not a results store \(the file is damaged"):
        Store(path)


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    from accelsim.dse.store import StoreError

    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"other\.sqlite: not a results store: it holds other tables"):
        Store(path)
    assert path.read_bytes() == before
    same_names = tmp_path / "lookalike.sqlite"
    db = sqlite3.connect(same_names)
    db.execute("CREATE TABLE points (x INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=r"lookalike\.sqlite: not a results store: table points has columns"):
        Store(same_names)


def test_read_only_store_is_a_named_error(tmp_path, monkeypatch):
    from accelsim.dse.store import StoreError

    path = tmp_path / "ro.sqlite"
    with Store(path) as store:
        store.put("k", {"a": 1}, {"b": 2})
    real_connect = sqlite3.connect
    # A read-only connection: the same refusal a read-only file gives a non-root user.
    monkeypatch.setattr(sqlite3, "connect", lambda p, **kw: real_connect(f"file:{p}?mode=ro", uri=True, **kw))
    with pytest.raises(StoreError, match=r"ro\.sqlite: the results store is read-only"):
        with Store(path) as store:
            store.put("k2", {"a": 2}, {"b": 3})


def test_store_in_a_missing_directory_or_at_a_directory(tmp_path):
    from accelsim.dse.store import StoreError

    with pytest.raises(StoreError, match=r"directory .*/nowhere does not exist"):
        Store(tmp_path / "nowhere" / "s.sqlite")
    with pytest.raises(StoreError, match=r"is a directory"):
        Store(tmp_path)
