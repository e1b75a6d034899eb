"""Sparse design points: pruning plans evaluated by `accelsim.dse.evaluate`, swept, stored and plotted."""

import hashlib
import json
import math
import multiprocessing
import textwrap

import numpy as np
import pytest

from accelsim import load_hardware
from accelsim.cli.main import main
from accelsim.dse import RECORD_COLUMNS, Point, Store, evaluate, explore, process_pool, serial
from accelsim.dse.plans import PlanError, check_plan, plan_columns, plan_masks, prunable_layers
from accelsim.timing.report import SPEEDUP_LOSSES
from accelsim.timing.simulate import simulate
from pruning import prune
from workloads.models import init_weights
from workloads.sparsity import NM, Block, Unstructured, from_fields
from workloads.zoo import get_network

SPARSE_COLUMNS = (
    "density",
    "dense_cycles",
    "ideal_speedup",
    "achieved_speedup",
    *(f"loss_{cause}_cycles" for cause in SPEEDUP_LOSSES),
)


# ---- plans --------------------------------------------------------------------------------
def test_plans_are_canonical_with_defaults_filled_in():
    assert check_plan({"granularity": "block", "amount": 0.5, "block_shape": (4, 4)}) == {
        "granularity": "block",
        "amount": 0.5,
        "block_shape": [4, 4],
        "scope": "local",
        "seed": 0,
        "compact": True,
    }
    assert check_plan(
        {"granularity": "nm", "n": 2, "m": 4, "scope": "global", "seed": 3, "compact": False}
    ) == {"granularity": "nm", "n": 2, "m": 4, "scope": "global", "seed": 3, "compact": False}
    implicit = Point("lenet5", "sparse_edge_16x16", pruning={"granularity": "unstructured", "amount": 0.5})
    explicit = Point(
        "lenet5",
        "sparse_edge_16x16",
        pruning={"seed": 0, "scope": "local", "amount": 0.5, "granularity": "unstructured"},
    )
    assert implicit.key == explicit.key


@pytest.mark.parametrize(
    "plan, field, message",
    [
        (
            {"granularity": "n:m", "n": 2, "m": 4},
            "granularity",
            "must be one of unstructured, block, nm, channel",
        ),
        ({"granularity": "unstructured"}, "amount", "needs amount"),
        ({"granularity": "unstructured", "amount": True}, "amount", "fraction"),
        (
            {"granularity": "unstructured", "amount": 0.5, "block_shape": [4, 4]},
            "block_shape",
            "does not apply",
        ),
        ({"granularity": "block", "amount": 0.5, "block_shape": [4, 0]}, "block_shape", r"\[rows, cols\]"),
        ({"granularity": "block", "amount": 0.5, "block_shape": "4x4"}, "block_shape", r"\[rows, cols\]"),
        ({"granularity": "nm", "n": 2}, "m", "needs m"),
        ({"granularity": "nm", "n": 2, "m": 4, "amount": 0.5}, "amount", "n:m fixes the density"),
        ({"granularity": "nm", "n": 2, "m": 0}, "m", "integer >= 1"),
        ({"granularity": "channel", "amount": 0.5, "scope": "layer"}, "scope", "local, global"),
        ({"granularity": "channel", "amount": 0.5, "seed": 1.5}, "seed", "integer >= 0"),
        ({"granularity": "channel", "amount": 0.5, "importance": "l2"}, "importance", "unknown field"),
        ({"granularity": "channel", "amount": 0.5, "compact": "yes"}, "compact", "true or false"),
    ],
)
def test_malformed_plans_name_the_field_and_value(plan, field, message):
    with pytest.raises(PlanError, match=rf"^pruning\.{field}: .*{message}") as info:
        Point("lenet5", "sparse_edge_16x16", pruning=plan)
    assert info.value.field == field


def test_dense_point_keys_are_unchanged():
    # The key of a dense point is the hash of the schema-1 dict it always had; a change here
    # would orphan every stored dense result.
    base = load_hardware("scalesim_32x32").replace("pe.rows", 16)
    point = Point("resnet18", base, mode="event", network_params={"input_hw": [32, 32]})
    legacy = {
        "schema": 1,
        "network": "resnet18",
        "network_params": {"input_hw": [32, 32]},
        "hardware": base.to_dict(),
        "mode": "event",
        "pruning": None,
        "masks_hash": None,
    }
    text = json.dumps(legacy, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert point.key == hashlib.sha256(text.encode()).hexdigest()


def test_prunable_layers_leave_untiled_layers_out():
    net = get_network("lenet5")  # weights (6,25) (16,150) (120,400) (84,120) (10,84)
    assert prunable_layers(net, Block((2, 2))) == ["conv2", "fc1", "fc2", "fc3"]
    assert prunable_layers(net, NM(2, 4)) == ["fc1", "fc2", "fc3"]
    assert prunable_layers(net, Unstructured()) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    with pytest.raises(PlanError, match=r"pruning.block_shape: \[7, 7\] fits no weighted layer of 'lenet5'"):
        plan_masks(
            net, init_weights(net, seed=0), {"granularity": "block", "amount": 0.5, "block_shape": [7, 7]}
        )


# ---- evaluate ----------------------------------------------------------------------------
def _direct(network_name, params, preset, plan, eligible):
    """The same point by hand: seeded weights, `pruning.prune`, `simulate` with masks."""
    network = get_network(network_name, **params)
    weights = init_weights(network, seed=plan.get("seed", 0))
    shape = {k: plan[k] for k in ("block_shape", "n", "m") if k in plan}
    kwargs = {k: v for k, v in plan.items() if k not in ("seed", "granularity", *shape)}
    granularity = from_fields(plan["granularity"], **shape)
    kwargs.setdefault("amount", None)
    masks = prune(network, weights, layers=eligible(network), granularity=granularity, **kwargs)
    return simulate(network, preset, mode="analytical", masks=masks), masks


def _tiles(rows, cols):
    return lambda network: [
        layer.name
        for layer in network.layers()
        if layer.weight_shape is not None
        and layer.weight_shape[0] % rows == 0
        and np.prod(layer.weight_shape[1:]) % cols == 0
    ]


@pytest.mark.parametrize(
    "network, params, preset, plan, eligible",
    [
        (
            "resnet18",
            {"input_hw": [32, 32]},
            "sparse_edge_16x16",
            {"granularity": "block", "amount": 0.5, "block_shape": [4, 4]},
            _tiles(4, 4),
        ),
        (
            "resnet18",
            {"input_hw": [32, 32]},
            "nm_tensor_32x32",
            {"granularity": "nm", "n": 2, "m": 4},
            _tiles(1, 4),
        ),
        (
            "lenet5",
            {},
            "sparse_edge_16x16",
            {"granularity": "unstructured", "amount": 0.7, "seed": 3},
            _tiles(1, 1),
        ),
        (
            "lenet5",
            {},
            "sparse_edge_16x16",
            {"granularity": "channel", "amount": 0.25, "scope": "global", "seed": 1},
            _tiles(1, 1),
        ),
    ],
)
def test_a_plan_point_agrees_with_simulating_the_pruned_masks_directly(
    network, params, preset, plan, eligible
):
    record = evaluate(Point(network, preset, network_params=params, pruning=plan))
    report, masks = _direct(network, params, preset, plan, eligible)
    assert record["cycles"] == report.cycles and record["macs"] == report.macs
    assert record["energy_pj"] == pytest.approx(report.energy_pj, rel=1e-12)
    assert record["dense_cycles"] == report.dense_cycles
    assert record["ideal_speedup"] == pytest.approx(report.ideal_speedup, rel=1e-12)
    assert record["achieved_speedup"] == pytest.approx(report.achieved_speedup, rel=1e-12)
    assert record["density"] == pytest.approx(masks.density, rel=1e-12) and record["density"] < 1.0
    losses = report.speedup_losses_cycles()
    assert sum(losses.values()) == pytest.approx(
        record["cycles"] - record["dense_cycles"] / record["ideal_speedup"]
    )
    assert {cause: record[f"loss_{cause}_cycles"] for cause in SPEEDUP_LOSSES} == pytest.approx(losses)
    assert record["achieved_speedup"] > 1.0  # these plans do speed these presets up
    assert record["pruning.granularity"] == plan["granularity"]
    assert record["pruning.seed"] == plan.get("seed", 0) and record["pruning.scope"] == plan.get(
        "scope", "local"
    )
    assert json.loads(record["pruning"]) == check_plan(plan)


def test_dense_and_sparse_records_have_the_same_stable_columns():
    dense = evaluate(Point("lenet5", "nm_tensor_32x32"))
    sparse = evaluate(
        Point(
            "lenet5",
            "nm_tensor_32x32",
            pruning={"granularity": "block", "amount": 0.5, "block_shape": [2, 2]},
        )
    )
    assert set(dense) == set(sparse) and set(RECORD_COLUMNS) <= set(dense)
    assert dense["density"] == dense["ideal_speedup"] == dense["achieved_speedup"] == 1.0
    assert dense["dense_cycles"] == dense["cycles"]
    assert all(dense[f"loss_{cause}_cycles"] == 0.0 for cause in SPEEDUP_LOSSES)
    assert (
        dense["pruning.granularity"] == "dense" and dense["pruning.amount"] == 0.0 and dense["pruning"] == ""
    )
    # nm_tensor runs non-2:4 masks dense: all of the ideal lost to the pattern, but for the few
    # input channels the random blocks emptied, which compaction removes
    assert 1.0 <= sparse["achieved_speedup"] < 1.01 and sparse["ideal_speedup"] > 1.0
    assert sparse["loss_unsupported_pattern_cycles"] > 0
    assert sparse["pruning.block_shape"] == "[2,2]" and sparse["pruning.n"] is None
    assert json.loads(json.dumps(sparse)) == sparse


def test_plan_columns_are_flat_scalars():
    assert plan_columns(check_plan({"granularity": "nm", "n": 2, "m": 4})) == {
        "pruning.granularity": "nm",
        "pruning.amount": None,
        "pruning.block_shape": None,
        "pruning.n": 2,
        "pruning.m": 4,
        "pruning.scope": "local",
        "pruning.seed": 0,
        "pruning.compact": True,
    }


def test_compact_false_keeps_channel_pruned_layers_at_their_size():
    plan = {"granularity": "channel", "amount": 0.5}
    on = evaluate(Point("lenet5", "scalesim_32x32", mode="analytical", pruning=plan))
    off = evaluate(Point("lenet5", "scalesim_32x32", mode="analytical", pruning={**plan, "compact": False}))
    assert on["pruning.compact"] is True and off["pruning.compact"] is False
    assert on["achieved_speedup"] > 1.5 and off["achieved_speedup"] == pytest.approx(1.0, abs=0.01)
    assert on["loss_channel_compaction_cycles"] < 0 == off["loss_channel_compaction_cycles"]


# ---- sweeps --------------------------------------------------------------------------------
PLANS = [
    None,
    {"granularity": "unstructured", "amount": 0.5},
    {"granularity": "nm", "n": 2, "m": 4},
    {"granularity": "block", "amount": 0.5, "block_shape": [2, 2], "seed": 1},
    {"granularity": "channel", "amount": 0.3, "scope": "global"},
]


def test_serial_and_process_pool_give_identical_sparse_stores(tmp_path):
    points = [
        Point(net, preset, pruning=plan)
        for net in ("lenet5", "mlp")
        for plan in PLANS
        for preset in ("sparse_edge_16x16", "nm_tensor_32x32")
    ]
    explore(points, executor=serial(), store=tmp_path / "serial.sqlite")
    # spawn, not fork: the workers must prune for themselves, not inherit this process's mask cache
    explore(
        points,
        executor=process_pool(2, chunksize=3, mp_context=multiprocessing.get_context("spawn")),
        store=tmp_path / "pool.sqlite",
    )
    with Store(tmp_path / "serial.sqlite") as a, Store(tmp_path / "pool.sqlite") as b:
        reference = a.tidy()
        assert len(reference) == len(points) == len({p.key for p in points})
        assert b.tidy() == reference
    densities = {row["density"] for row in reference}
    assert 1.0 in densities and len(densities) >= 5  # the plans really differ
    assert all(not math.isnan(row["achieved_speedup"]) for row in reference)


SWEEP = """\
hardware: [sparse_edge_16x16, nm_tensor_32x32]
networks: [lenet5]
pruning:
  - null
  - {granularity: unstructured, amount: 0.5}
  - {granularity: nm, n: 2, m: 4}
executor: serial
"""


def test_cli_sweeps_pruning_plans_and_plots_density_against_speedup(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(SWEEP))
    store = tmp_path / "sparse.sqlite"
    assert main(["sweep", str(path), "--store", str(store), "--no-progress"]) == 0
    assert "6 evaluated, 0 already in the store, 0 failed" in capsys.readouterr().out
    stem = tmp_path / "scatter"
    assert (
        main(
            [
                "plot",
                str(store),
                "--kind",
                "scatter",
                "--x",
                "density",
                "--y",
                "achieved_speedup",
                "--group",
                "hardware",
                "--out",
                str(stem),
            ]
        )
        == 0
    )
    for suffix in (".pdf", ".png", ".csv"):
        assert stem.with_suffix(suffix).stat().st_size > 0
    header = stem.with_suffix(".csv").read_text().splitlines()[0].split(",")
    assert {"density", "achieved_speedup", "pruning.granularity", "pruning.n"} <= set(header)
    assert (
        main(
            [
                "plot",
                str(store),
                "--kind",
                "heatmap",
                "--x",
                "pruning.granularity",
                "--y",
                "hardware",
                "--value",
                "achieved_speedup",
                "--agg",
                "max",
                "--out",
                str(tmp_path / "heat"),
            ]
        )
        == 0
    )
    cells = (tmp_path / "heat.csv").read_text().splitlines()
    assert any(line.startswith("nm,nm_tensor_32x32,") for line in cells)
    assert (
        main(
            [
                "plot",
                str(store),
                "--kind",
                "scatter",
                "--x",
                "density",
                "--y",
                "achieved_speedup",
                "--where",
                "pruning.granularity=nm",
                "--out",
                str(tmp_path / "nm"),
            ]
        )
        == 0
    )
    assert len((tmp_path / "nm.csv").read_text().splitlines()) == 1 + 2
    import csv

    assert main(["plot", str(store), "--kind", "speedup", "--out", str(tmp_path / "speedup")]) == 0
    rows = list(csv.DictReader((tmp_path / "speedup.csv").open()))
    assert len(rows) == 6 and {
        "hardware",
        "pruning.granularity",
        "density",
        "ideal_speedup",
        "achieved_speedup",
    } == set(rows[0])
    assert all(float(r["achieved_speedup"]) <= float(r["ideal_speedup"]) + 1e-9 for r in rows)
    assert (
        main(
            [
                "plot",
                str(store),
                "--kind",
                "energy",
                "--where",
                "pruning.granularity=dense",
                "--out",
                str(tmp_path / "energy"),
            ]
        )
        == 0
    )
    parts = list(csv.DictReader((tmp_path / "energy.csv").open()))
    with Store(store) as opened:
        dense = [r for r in opened.records() if r["pruning.granularity"] == "dense"]
    assert dense and {r["component"] for r in parts} >= {"dram", "pe_array"}
    assert sum(float(r["energy_pj"]) for r in parts) == pytest.approx(sum(d["energy_pj"] for d in dense))


@pytest.mark.parametrize(
    "pattern, plan",
    [
        ("block 4x4", {"granularity": "block", "amount": 0.5, "block_shape": [4, 4]}),
        ("2:4", {"granularity": "nm", "n": 2, "m": 4}),
    ],
)
def test_plan_masks_are_the_sparsity_study_masks(pattern, plan):
    # The study prunes with the same rule (untiled layers stay dense); a sweep point of the same
    # plan must see the very masks the study's figure does.
    from reports.studies import sparsity_speedup

    network = get_network("resnet18", input_hw=(32, 32))
    weights = init_weights(network, seed=0)
    study = sparsity_speedup._masks(network, weights, sparsity_speedup.PATTERNS[pattern], 0.5)
    assert plan_masks(network, weights, plan) == study
