"""End-to-end analytical simulation: totals, energy accounting and report round trips."""

import json
import math

import pytest

from accelsim.arch.energy import load_energy_table
from accelsim.arch.hardware import load_hardware
from accelsim.timing.report import Report
from accelsim.timing.simulate import simulate
from workloads.zoo import get_network, list_networks


@pytest.fixture(scope="module")
def resnet18_report():
    return simulate(get_network("resnet18", input_hw=(32, 32)), load_hardware("scalesim_32x32"))


def test_every_zoo_network_simulates_on_every_preset():
    from accelsim.arch.hardware import list_presets

    for preset in list_presets():
        hardware = load_hardware(preset)
        for name in list_networks():
            network = get_network(name)
            report = simulate(network, hardware, mode="analytical")
            assert report.macs == network.total_macs, (name, preset)
            assert report.cycles >= report.compute_cycles > 0


def test_totals_are_sums_of_layers(resnet18_report):
    report = resnet18_report
    assert report.cycles == sum(layer.cycles for layer in report.layers)
    assert math.isclose(report.energy_pj, sum(layer.energy_pj for layer in report.layers), rel_tol=1e-12)
    assert report.cycles == report.compute_cycles + sum(report.stall_cycles.values())


def test_energy_is_counts_times_table(resnet18_report):
    hardware = load_hardware("scalesim_32x32")
    table = load_energy_table(hardware.energy_table, hardware)
    for layer in resnet18_report.layers:
        for key, count in layer.action_counts.items():
            assert layer.dynamic_energy_pj[key] == pytest.approx(count * table.energy_pj(*key))
    macs = resnet18_report.action_counts[("pe_array", "mac")]
    assert macs == sum(l.macs for l in resnet18_report.layers if l.unit == "array")


def test_dram_bytes_are_priced_at_dram_cost(resnet18_report):
    counts = resnet18_report.action_counts
    moved = sum(sum(l.dram_read_bytes.values()) for l in resnet18_report.layers)
    assert counts[("dram", "read")] == moved


def test_json_round_trip_is_exact(resnet18_report):
    text = resnet18_report.to_json()
    again = Report.from_json(text)
    assert again == resnet18_report
    assert json.loads(again.to_json()) == json.loads(text)


def test_records_have_one_row_per_layer_with_units_in_names(resnet18_report):
    rows = resnet18_report.to_records()
    assert [r["layer"] for r in rows] == [l.name for l in resnet18_report.layers]
    assert {"cycles", "compute_cycles", "stall_dram_bandwidth_cycles", "energy_pj", "dram_bytes"} <= set(
        rows[0]
    )


def test_reports_add(resnet18_report):
    other = simulate(get_network("lenet5"), load_hardware("scalesim_32x32"))
    total = resnet18_report + other
    assert total.cycles == resnet18_report.cycles + other.cycles
    assert total.energy_pj == pytest.approx(resnet18_report.energy_pj + other.energy_pj)


def test_more_bandwidth_never_slows_down():
    network = get_network("alexnet")
    slow = load_hardware("scalesim_32x32").replace("dram.bandwidth_bytes_per_cycle", 1)
    fast = slow.replace("dram.bandwidth_bytes_per_cycle", 64)
    assert simulate(network, fast).cycles <= simulate(network, slow).cycles
    assert simulate(network, fast).compute_cycles == simulate(network, slow).compute_cycles


def test_same_inputs_give_identical_reports():
    network = get_network("mobilenet_v2", input_hw=(64, 64))
    a = simulate(network, "edge_16x16")
    b = simulate(network, "edge_16x16")
    assert a.to_json() == b.to_json()


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="'cycle'"):
        simulate("lenet5", "edge_16x16", mode="cycle")


def test_event_is_the_default_mode_and_only_it_traces():
    from accelsim.arch.hardware import PowerPolicy

    hardware = load_hardware("scalesim_32x32").replace(
        "power.pe_array", PowerPolicy("gate_after", idle_cycles_to_gate=8, wake_latency_cycles=5)
    )
    report = simulate(get_network("lenet5"), hardware, trace=True)
    assert report.mode == "event" and report.trace is not None
    assert report.stall_cycles["wake_up"] > 0
    assert report.residency_cycles[("pe_array", "sleep")] > 0
    assert report.action_counts[("pe_array", "wake")] >= 1
    assert Report.from_json(report.to_json()) == report  # the trace is not serialised
    with pytest.raises(ValueError, match="trace"):
        simulate("lenet5", hardware, mode="analytical", trace=True)
