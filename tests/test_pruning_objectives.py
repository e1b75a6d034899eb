"""Costs, objectives and accuracy constraints of the mask search."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from pruning import CostBreakdown, MaxDrop, Metric, MinAccuracy, Weighted, as_cost, make_objective, weighted
from pruning.objectives import check_accuracy, check_constraint, objective_name

COST = {"cycles": 100.0, "energy_pj": 30.0, "dram_bytes": 7}
DENSE = {"cycles": 200.0, "energy_pj": 60.0, "dram_bytes": 14}


# -------------------------------------------------------------------------------------- costs


def test_costs_come_from_mappings_breakdowns_and_report_like_objects():
    assert as_cost(COST) == {"cycles": 100.0, "energy_pj": 30.0, "dram_bytes": 7.0}
    assert as_cost(CostBreakdown(5, 6, {"util": 0.5})) == {"cycles": 5.0, "energy_pj": 6.0, "util": 0.5}
    report = SimpleNamespace(cycles=np.int64(9), energy_pj=np.float32(2.5), name="not copied")
    out = as_cost(report)
    assert out == {"cycles": 9.0, "energy_pj": 2.5} and all(type(v) is float for v in out.values())


def test_as_cost_returns_a_fresh_dict():
    source = dict(COST)
    as_cost(source)["cycles"] = -1
    assert source == COST


@pytest.mark.parametrize(
    "value, message",
    [
        ({"cycles": 1.0}, "no 'energy_pj'"),
        ({"cycles": -1.0, "energy_pj": 1.0}, "'cycles'.*>= 0"),
        ({"cycles": math.inf, "energy_pj": 1.0}, "'cycles'.*inf"),
        ({"cycles": 1.0, "energy_pj": True}, "'energy_pj'.*True"),
        ({"cycles": 1.0, "energy_pj": 1.0, "label": "x"}, "'label'.*'x'"),
        ({"cycles": 1.0, "energy_pj": 1.0, "ratio": math.nan}, "'ratio'.*nan"),
        ({"cycles": 1.0, "energy_pj": 1.0, 3: 1.0}, "keys must be non-empty str"),
        (42, "got int"),
    ],
)
def test_bad_costs_are_refused_naming_the_field(value, message):
    with pytest.raises(ValueError, match=message):
        as_cost(value)


# --------------------------------------------------------------------------------- objectives


def test_metrics_read_cycles_energy_edp_and_any_cost_field():
    assert Metric("cycles")(COST, DENSE) == 100.0
    assert Metric("energy")(COST, DENSE) == 30.0
    assert Metric("edp")(COST, DENSE) == 3000.0
    assert Metric("dram_bytes")(COST, DENSE) == 7.0
    with pytest.raises(ValueError, match="'latency'"):
        Metric("latency")(COST, DENSE)
    with pytest.raises(ValueError, match="key"):
        Metric("")


def test_weighted_normalises_by_the_dense_cost():
    objective = Weighted({"energy": 0.5, "cycles": 0.5})
    assert objective(DENSE, DENSE) == 1.0 and objective(COST, DENSE) == 0.5
    assert objective.name == "weighted(cycles=0.5,energy=0.5)"
    assert objective == weighted(cycles=0.5, energy=0.5) and hash(objective) == hash(
        weighted(energy=0.5, cycles=0.5)
    )
    # A zero reference cannot normalise, so the raw metric is used.
    assert (
        Weighted({"cycles": 2})({"cycles": 3.0, "energy_pj": 0.0}, {"cycles": 0.0, "energy_pj": 0.0}) == 6.0
    )


@pytest.mark.parametrize(
    "weights, message",
    [({}, "non-empty"), ({"cycles": -1}, "'cycles'.*-1"), ({"cycles": 0, "energy": 0.0}, "at least one"),
     ({"cycles": "1"}, "'cycles'"), ([("cycles", 1)], "mapping")],
)  # fmt: skip
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        Weighted(weights)


def test_make_objective_takes_names_mappings_and_callables():
    assert make_objective("edp") == Metric("edp")
    assert make_objective({"cycles": 1}) == Weighted({"cycles": 1.0})

    def fewer_cycles(cost, reference):
        return cost["cycles"]

    assert make_objective(fewer_cycles) is fewer_cycles and objective_name(fewer_cycles) == "fewer_cycles"
    for bad in ("latency", 3, None):
        with pytest.raises(ValueError, match="objective must be one of"):
            make_objective(bad)


@settings(max_examples=50, deadline=None)
@given(st.floats(1, 1e9), st.floats(1, 1e9), st.floats(1, 1e9), st.floats(1, 1e9))
def test_edp_is_the_product_and_weighted_is_linear(c, e, dc, de):
    cost, dense = {"cycles": c, "energy_pj": e}, {"cycles": dc, "energy_pj": de}
    assert Metric("edp")(cost, dense) == c * e
    both = Weighted({"cycles": 1, "energy": 1})(cost, dense)
    assert both == pytest.approx(c / dc + e / de)


# -------------------------------------------------------------------------------- constraints


def test_thresholds():
    assert MinAccuracy(0.8).threshold(0.95) == 0.8
    assert MaxDrop(1.5).threshold(0.9) == pytest.approx(0.885)
    assert MaxDrop(1.0, reference=0.7).threshold(0.9) == pytest.approx(0.69)
    assert "1.5 points" in MaxDrop(1.5).describe() and "0.8000" in MinAccuracy(0.8).describe()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MinAccuracy(80), "value.*80"),
        (lambda: MinAccuracy("0.8"), "value.*'0.8'"),
        (lambda: MaxDrop(-1), "points.*-1"),
        (lambda: MaxDrop(101), "points.*101"),
        (lambda: MaxDrop(1, reference=1.2), "reference.*1.2"),
        (lambda: check_constraint(0.9), "constraint.*0.9"),
        (lambda: check_accuracy(math.nan, "accuracy"), "accuracy.*nan"),
        (lambda: check_accuracy(True, "accuracy"), "accuracy.*True"),
    ],
)
def test_bad_constraints_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()
