"""accelsim.dse: points and their hashes, samplers, executors and the `explore` driver."""

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from accelsim import load_hardware
from accelsim.arch.hardware import HardwareError
from accelsim.dse import (
    Point,
    PointFailed,
    Store,
    dask,
    evaluate,
    explore,
    grid,
    process_pool,
    random_sample,
    serial,
    zipped,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def base():
    return load_hardware("scalesim_32x32")


def small_points(base):
    return [Point("lenet5", hw) for hw in grid(base, {"pe.rows": [8, 16], "pe.dataflow": ["ws", "os", "is"]})]


# ---- points -----------------------------------------------------------------------------
def test_point_hash_is_stable_across_processes(base):
    point = Point(
        "resnet50",
        base.replace("pe.rows", 64),
        network_params={"input_hw": (64, 64)},
        pruning={"granularity": "block", "amount": 0.5, "block_shape": (4, 4)},
    )
    code = (
        "from accelsim.dse import Point; from accelsim import load_hardware;"
        "print(Point('resnet50', load_hardware('scalesim_32x32').replace('pe.rows', 64),"
        " network_params={'input_hw': [64, 64]},"
        " pruning={'block_shape': [4, 4], 'seed': 0, 'amount': 0.5, 'granularity': 'block'}).key)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "123"},
    )
    assert out.stdout.strip() == point.key
    assert len(point.key) == 64


def test_point_key_changes_with_every_field(base):
    reference = Point("lenet5", base)
    variants = [
        Point("mlp", base),
        Point("lenet5", base.replace("pe.rows", 16)),
        Point("lenet5", base, network_params={"num_classes": 5}),
        Point("lenet5", base, pruning={"granularity": "unstructured", "amount": 0.5}),
        Point("lenet5", base, pruning={"granularity": "unstructured", "amount": 0.75}),
        Point("lenet5", base, pruning={"granularity": "unstructured", "amount": 0.5, "seed": 1}),
        Point("lenet5", base, pruning={"granularity": "unstructured", "amount": 0.5, "scope": "global"}),
        Point("lenet5", base, pruning={"granularity": "channel", "amount": 0.5}),
        Point("lenet5", base, pruning={"granularity": "block", "amount": 0.5, "block_shape": [2, 2]}),
        Point("lenet5", base, pruning={"granularity": "block", "amount": 0.5, "block_shape": [2, 4]}),
        Point("lenet5", base, pruning={"granularity": "nm", "n": 2, "m": 4}),
        Point("lenet5", base, pruning={"granularity": "nm", "n": 1, "m": 4}),
        Point("lenet5", base, masks_hash="a" * 64),
    ]
    keys = {reference.key} | {v.key for v in variants}
    assert len(keys) == len(variants) + 1
    assert Point("lenet5", base.to_dict()) == reference == Point("lenet5", "scalesim_32x32")
    assert len({reference, Point("lenet5", base)}) == 1


def test_point_round_trips_and_pickles(base):
    point = Point("lenet5", base, network_params={"num_classes": 7})
    assert Point.from_dict(json.loads(json.dumps(point.to_dict()))) == point
    assert pickle.loads(pickle.dumps(point)).key == point.key


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "quantum"}, "mode"),
        ({"pruning": {"granularity": "unstructured", "amount": 1.5}}, "pruning.amount"),
        (
            {"pruning": {"granularity": "element", "amount": 0.5}},
            "pruning.granularity: must be one of unstructured",
        ),
        ({"masks_hash": "xyz"}, "masks_hash"),
        ({"network_params": {"f": object()}}, "network_params"),
    ],
)
def test_point_rejects_bad_fields_naming_them(base, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Point("lenet5", base, **kwargs)


def test_evaluate_refuses_a_bare_masks_hash_it_cannot_rebuild(base):
    with pytest.raises(ValueError, match="masks .* cannot be evaluated"):
        evaluate(Point("lenet5", base, masks_hash="a" * 64))


def test_evaluate_record_has_point_columns_hardware_axes_and_totals(base):
    record = evaluate(Point("lenet5", base.replace("pe.rows", 16)))
    assert record["pe.rows"] == 16 and record["pe.dataflow"] == "os" and record["network"] == "lenet5"
    assert record["cycles"] >= record["compute_cycles"] > 0
    assert record["energy_pj"] == pytest.approx(record["dynamic_energy_pj"] + record["leakage_energy_pj"])
    assert record["energy_pj"] == pytest.approx(
        sum(
            v
            for k, v in record.items()
            if k.startswith("energy_") and k.endswith("_pj") and k not in ("energy_pj",)
        )
    )
    assert json.loads(json.dumps(record)) == record  # plain JSON data, exactly


# ---- sampling ---------------------------------------------------------------------------
def test_grid_is_the_cartesian_product_first_axis_slowest(base):
    hws = grid(base, {"pe.rows": [8, 16], "pe.cols": [4, 8, 12]})
    assert [(h.pe.rows, h.pe.cols) for h in hws] == [(8, 4), (8, 8), (8, 12), (16, 4), (16, 8), (16, 12)]


def test_zipped_moves_axes_together_and_checks_lengths(base):
    assert [(h.pe.rows, h.pe.cols) for h in zipped(base, {"pe.rows": [8, 16], "pe.cols": [8, 16]})] == [
        (8, 8),
        (16, 16),
    ]
    with pytest.raises(ValueError, match="equal lengths"):
        zipped(base, {"pe.rows": [8, 16], "pe.cols": [8]})


def test_random_sample_is_seeded_distinct_and_in_grid_order(base):
    axes = {"pe.rows": list(range(1, 21)), "pe.cols": list(range(1, 21))}
    a = random_sample(base, axes, 30, seed=7)
    b = random_sample(base, axes, 30, seed=7)
    c = random_sample(base, axes, 30, seed=8)
    pairs = [(h.pe.rows, h.pe.cols) for h in a]
    assert pairs == [(h.pe.rows, h.pe.cols) for h in b] != [(h.pe.rows, h.pe.cols) for h in c]
    assert len(set(pairs)) == 30 and pairs == sorted(pairs)
    with pytest.raises(ValueError, match="cannot draw"):
        random_sample(base, {"pe.rows": [1, 2]}, 3, seed=0)


def test_samplers_name_unknown_and_empty_axes(base):
    with pytest.raises(HardwareError, match="pe.rowz"):
        grid(base, {"pe.rowz": [8]})
    with pytest.raises(ValueError, match="'pe.rows': empty axis"):
        grid(base, {"pe.rows": []})
    with pytest.raises(HardwareError, match="pe.rows"):
        grid(base, {"pe.rows": [-1]})


# ---- explore ----------------------------------------------------------------------------
calls = []


def counting_evaluate(point):
    calls.append(point.key)
    return {"network": point.network, "rows": point.hardware.pe.rows}


def failing_evaluate(point):
    if point.hardware.pe.rows == 16:
        raise RuntimeError("boom")
    return {"rows": point.hardware.pe.rows}


def test_explore_returns_records_in_input_order_and_evaluates_duplicates_once(base):
    calls.clear()
    points = small_points(base)
    records = explore(points + points[:2], counting_evaluate, executor=serial())
    assert len(calls) == len(points)
    assert [r["point_key"] for r in records] == [p.key for p in points + points[:2]]


def test_explore_skips_points_already_in_the_store(base, tmp_path):
    calls.clear()
    points = small_points(base)
    explore(points[:2], counting_evaluate, executor=serial(), store=tmp_path / "s.sqlite")
    records = explore(points, counting_evaluate, executor=serial(), store=tmp_path / "s.sqlite")
    assert len(calls) == len(points)  # 2 + 4, never the first two again
    assert [r["rows"] for r in records] == [p.hardware.pe.rows for p in points]


def test_explore_raises_naming_the_point_and_keeps_earlier_results(base, tmp_path):
    points = small_points(base)
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(PointFailed, match=r"lenet5 on scalesim_32x32.*RuntimeError: boom"):
            explore(points, failing_evaluate, executor=serial(), store=store)
        assert len(store) == 3  # the three rows=8 points came first


def test_explore_can_record_failures_and_retry_them(base, tmp_path):
    points = small_points(base)
    with Store(tmp_path / "s.sqlite") as store:
        records = explore(points, failing_evaluate, executor=serial(), store=store, on_error="record")
        assert len(records) == 3 and len(store.failures()) == 3
        assert "boom" in store.failures()[0]["error"]
        explore(points, counting_evaluate, executor=serial(), store=store)
        assert len(store) == 6 and store.failures() == []


def test_explore_reports_progress(base):
    seen = []
    explore(
        small_points(base), counting_evaluate, executor=serial(), progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(i, 6) for i in range(7)]


def test_process_pool_chunks_and_yields_every_item_once():
    run = process_pool(2, chunksize=3)
    assert sorted(run(abs, [-i for i in range(20)])) == [(i, i) for i in range(20)]
    with pytest.raises(ValueError, match="workers"):
        process_pool(0)


def _exported(path):
    with Store(path) as store:
        return store.tidy()


def test_serial_process_pool_and_dask_produce_identical_stores(base, tmp_path):
    points = [
        Point(net, hw)
        for net in ("lenet5", "mlp")
        for hw in grid(base, {"pe.rows": [8, 32], "pe.dataflow": ["ws", "os", "is"]})
    ]
    explore(points, executor=serial(), store=tmp_path / "serial.sqlite")
    explore(points, executor=process_pool(2, chunksize=2), store=tmp_path / "pool.sqlite")
    reference = _exported(tmp_path / "serial.sqlite")
    assert len(reference) == len(points)
    assert _exported(tmp_path / "pool.sqlite") == reference
    pytest.importorskip("distributed")
    explore(points, executor=dask(workers=2, chunksize=3), store=tmp_path / "dask.sqlite")
    assert _exported(tmp_path / "dask.sqlite") == reference
