"""Area from the energy table (accelsim.arch.area) and the array-size-dependent actions it prices."""

from __future__ import annotations

import math

import pytest

from accelsim import simulate
from accelsim.arch.energy import EnergyTableError, load_energy_table
from accelsim.arch.hardware import load_hardware
from accelsim.timing.actions import array_actions
from accelsim.timing.mapping import map_layer
from accelsim.timing.report import Report
from workloads.layers import Linear
from workloads.network import Network

EDGE = load_hardware("edge_16x16")


def _area(hw, table="horowitz_45nm"):
    return load_energy_table(table, hw).area


def test_pe_array_area_is_linear_in_pes_and_grows_with_precision():
    small, big = _area(EDGE), _area(EDGE.replace("pe.rows", 64))
    assert big.components["pe_array"].value_mm2 == pytest.approx(4 * small.components["pe_array"].value_mm2)
    assert big.pe_um2 == small.pe_um2
    wide = _area(EDGE.replace("datatypes.ifmap", "fp16").replace("datatypes.filter", "fp16"))
    assert wide.pe_um2 > small.pe_um2
    # The vector unit has one lane per column; DRAM is off chip.
    assert _area(EDGE.replace("pe.cols", 32)).components["vector_unit"].value_mm2 == pytest.approx(
        2 * small.components["vector_unit"].value_mm2
    )
    assert "dram" not in small.components


def test_sram_area_grows_with_size_and_banks():
    base = _area(EDGE).components["ifmap_sram"].value_mm2
    bigger = _area(EDGE.replace("buffers.ifmap.size_bytes", 4 * 65536)).components["ifmap_sram"].value_mm2
    banked = _area(EDGE.replace("buffers.ifmap.banks", 4)).components["ifmap_sram"].value_mm2
    assert bigger > 3 * base * 0.9 and banked > base


def test_every_area_figure_names_its_source_and_ratio_tables_reuse_the_base():
    area = _area(EDGE)
    assert all(entry.source.strip() for entry in area.components.values())
    assert _area(EDGE, "eyeriss_ratios") == area


def test_report_area_is_the_sum_and_survives_json():
    report = simulate("lenet5", EDGE, mode="analytical")
    assert report.area_mm2 == pytest.approx(_area(EDGE).total_mm2)
    assert Report.from_json(report.to_json()).area_mm2 == report.area_mm2
    assert report.edap_j_s_mm2 == pytest.approx(report.edp_j_s * report.area_mm2)
    assert report.runs_per_s_per_mm2 == pytest.approx(1 / (report.seconds * report.area_mm2))


def test_a_malformed_area_entry_is_named(tmp_path, monkeypatch):
    from accelsim.arch import energy

    src = (energy._tables_dir() / "horowitz_45nm.yaml").read_text()
    bad = src.replace("name: horowitz_45nm", "name: bad_area").replace(
        "unit: um^2 per bit", "unit: mm^2 per bit"
    )
    (tmp_path / "bad_area.yaml").write_text(bad)
    monkeypatch.setattr(energy, "_tables_dir", lambda: tmp_path)
    load_energy_table.cache_clear()
    with pytest.raises(EnergyTableError, match=r"bad_area\.yaml:\d+: table bad_area: area\.register\.unit"):
        load_energy_table("bad_area", EDGE)
    load_energy_table.cache_clear()


# -- what the array's size costs ------------------------------------------------------------
def test_array_actions_count_clock_forwarding_and_partial_sums():
    layer = Linear("fc", 64, 16, tokens=16)  # ws on 16x16: 4 row folds of the reduction
    hw = EDGE.replace("pe.dataflow", "ws")
    mapping = map_layer(layer, hw)
    counts = array_actions(mapping, hw, output_words=16 * 16)
    assert counts[("pe_array", "clock")] == 16 * 16 * mapping.compute_cycles
    # int8 input (1 B) moves one PE per MAC, and so does the int32 partial sum (4 B).
    sram = sum(mapping.sram_reads.values()) + sum(mapping.sram_writes.values())  # 1-byte words
    assert counts[("pe_array", "forward")] == layer.macs * (1 + 4) + sram * (16 + 16) / 4
    # Each output leaves the array once per row fold; all but the first are accumulated.
    assert counts[("pe_array", "accumulate")] == 16 * 16 * (4 - 1)
    assert ("pe_array", "accumulate") not in array_actions(map_layer(layer, EDGE), EDGE, output_words=16 * 16)


def test_a_small_layer_costs_more_per_mac_on_a_bigger_array():
    net = Network.sequential("one", [Linear("fc", 16, 16, tokens=16)])

    def array_pj_per_mac(size):
        hw = EDGE.replace("pe.rows", size).replace("pe.cols", size)
        report = simulate(net, hw, mode="analytical")
        energy = report.dynamic_energy_pj
        return math.fsum(v for (c, a), v in energy.items() if c == "pe_array" and a != "mac") / report.macs

    assert array_pj_per_mac(16) < array_pj_per_mac(64) < array_pj_per_mac(256)
