"""Bottleneck classification, shares and search budgets on hand-built reports."""

import pytest
from hypothesis import given, strategies as st

from accelsim.timing.bottleneck import (
    allocate_trials,
    bottlenecks,
    budget_weights,
    classify,
    render_markdown,
    search_order,
)
from accelsim.timing.report import LayerReport, Report


def layer(
    name: str, compute: int, stalls: dict[str, int], energy_pj: float, kind: str = "Conv2d"
) -> LayerReport:
    return LayerReport(
        name=name, kind=kind, unit="array", macs=compute, folds=1, cycles=compute + sum(stalls.values()),
        compute_cycles=compute, stall_cycles=stalls, mapping_efficiency=1.0, utilisation=1.0,
        sram_read_bytes={}, sram_write_bytes={}, dram_read_bytes={}, dram_write_bytes={}, action_counts={},
        dynamic_energy_pj={("pe", "mac"): energy_pj * 0.75}, residency_cycles={},
        leakage_energy_pj={"pe": energy_pj * 0.25},
    )  # fmt: skip


def report(*layers: LayerReport) -> Report:
    return Report(network="hand", hardware="hand", clock_mhz=100.0, mode="event", pe_count=4, layers=layers)


# conv1: 600 compute + 200 DRAM stalls = 800 cycles, 100 pJ  -> compute-bound
# conv2: 100 compute + 150 + 50 DRAM stalls = 300 cycles, 300 pJ -> memory-bound
# fc:    40 compute + 60 wake-up/dependency = 100 cycles, 600 pJ -> overhead-bound
HAND = report(
    layer("conv1", 600, {"dram_bandwidth": 200}, 100.0),
    layer("conv2", 100, {"dram_bandwidth": 150, "dram_latency": 50}, 300.0),
    layer("fc", 40, {"wake_up": 35, "dependency": 25}, 600.0, kind="Linear"),
)


def test_each_layer_is_classified_by_its_largest_part_with_shares_of_the_totals():
    records = bottlenecks(HAND)
    bounds = [(r.layer, r.bound) for r in records]
    assert bounds == [("conv1", "compute"), ("conv2", "memory"), ("fc", "overhead")]
    assert [r.cycle_share for r in records] == pytest.approx([800 / 1200, 300 / 1200, 100 / 1200])
    assert [r.energy_share for r in records] == pytest.approx([0.1, 0.3, 0.6])
    assert [r.memory_stall_cycles for r in records] == [200, 200, 0]
    assert [r.overhead_stall_cycles for r in records] == [0, 0, 60]
    assert records[2].edp_share == pytest.approx((100 / 1200 + 0.6) / 2)


def test_ties_resolve_to_compute_then_memory():
    assert classify(10, 10, 10) == "compute"
    assert classify(5, 10, 10) == "memory"
    assert classify(0, 0, 0) == "compute"


def test_budget_weights_follow_the_objective_and_renormalise_over_prunable_layers():
    records = bottlenecks(HAND)
    cycles = budget_weights(records, objective="cycles")
    assert cycles == pytest.approx({"conv1": 8 / 12, "conv2": 3 / 12, "fc": 1 / 12})
    edp = budget_weights(records)
    expected = {"conv1": (8 / 12 + 0.1) / 2, "conv2": (3 / 12 + 0.3) / 2, "fc": (1 / 12 + 0.6) / 2}
    assert edp == pytest.approx(expected)
    only_convs = budget_weights(records, objective="energy", layers=["conv1", "conv2"])
    assert only_convs == pytest.approx({"conv1": 0.25, "conv2": 0.75})
    assert search_order(edp) == ["conv1", "fc", "conv2"]  # 0.383, 0.342, 0.275


def test_edp_weight_is_the_first_order_sensitivity_of_edp():
    # Shrinking one layer's cycles and energy by a small fraction cuts total EDP by weight * fraction.
    records = bottlenecks(HAND)
    weights = budget_weights(records)
    base = HAND.cycles * HAND.energy_pj
    eps = 1e-6
    for r in records:
        cycles = HAND.cycles - eps * r.cycles
        energy = HAND.energy_pj - eps * r.energy_pj
        relative_cut = (base - cycles * energy) / base / eps
        assert relative_cut / 2 == pytest.approx(weights[r.layer], rel=1e-4)


def test_zero_shares_split_equally_and_bad_input_is_named():
    idle = report(layer("a", 0, {}, 0.0), layer("b", 0, {}, 0.0))
    assert budget_weights(bottlenecks(idle)) == {"a": 0.5, "b": 0.5}
    with pytest.raises(ValueError, match="objective must be one of .* got 'latency'"):
        budget_weights(bottlenecks(HAND), objective="latency")
    with pytest.raises(ValueError, match=r"layers \['pool9'\] are not in the records"):
        budget_weights(bottlenecks(HAND), layers=["pool9"])
    with pytest.raises(ValueError, match="total_trials must be an int >= 3 .* got 2"):
        allocate_trials({"a": 0.5, "b": 0.3, "c": 0.2}, 2)


def test_trials_are_proportional_with_a_floor_and_add_up():
    assert allocate_trials({"a": 0.5, "b": 0.3, "c": 0.2}, 13) == {"a": 6, "b": 4, "c": 3}
    # spare 10 -> exact 5, 3, 2: each plus the floor of 1.
    assert allocate_trials({"a": 0.7, "b": 0.2, "c": 0.1}, 3) == {"a": 1, "b": 1, "c": 1}


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), st.integers(0, 50), st.integers(0, 3))
def test_trial_counts_always_add_up_and_respect_the_floor(raw, extra, minimum):
    total = sum(raw)
    weights = {f"l{i}": (v / total if total else 1 / len(raw)) for i, v in enumerate(raw)}
    counts = allocate_trials(weights, minimum * len(raw) + extra, minimum=minimum)
    assert sum(counts.values()) == minimum * len(raw) + extra
    assert all(c >= minimum for c in counts.values())


def test_markdown_table_has_one_row_per_layer():
    text = render_markdown(bottlenecks(HAND))
    rows = text.strip().splitlines()
    assert len(rows) == 2 + 3
    assert rows[2].startswith("| conv1 | Conv2d | compute | 800 | 66.7% | 0.10 | 10.0% |")
    assert rows[4].startswith("| fc | Linear | overhead | 100 | 8.3% | 0.60 | 60.0% |")


def test_on_a_simulated_dense_run_the_shares_add_up():
    from accelsim.arch.hardware import load_hardware
    from accelsim.timing.simulate import simulate
    from workloads.models import lenet_network

    dense = simulate(lenet_network(), load_hardware("edge_16x16"), mode="analytical")
    records = bottlenecks(dense)
    assert [r.layer for r in records] == [layer.name for layer in dense.layers]
    assert sum(r.cycle_share for r in records) == pytest.approx(1.0)
    assert sum(r.energy_share for r in records) == pytest.approx(1.0)
    assert sum(budget_weights(records).values()) == pytest.approx(1.0)
