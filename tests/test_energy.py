"""Energy tables: published figures reproduced, interpolation, units, sums and ratios."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch import energy
from accelsim.arch.energy import (
    EnergyEntry,
    EnergyTable,
    EnergyTableError,
    MissingEnergyError,
    list_energy_tables,
    load_energy_table,
)
from accelsim.arch.hardware import list_presets, load_hardware

EDGE = load_hardware("edge_16x16")
HOROWITZ = load_energy_table("horowitz_45nm", EDGE)


def _with_types(hw, a, w):
    return hw.replace("datatypes.ifmap", a).replace("datatypes.filter", w)


@pytest.mark.parametrize(
    "dtype, mac_pj",
    [
        ("int8", 0.2 + 0.03),
        ("int32", 3.1 + 0.1),
        ("fp16", 1.1 + 0.4),
        ("fp32", 3.7 + 0.9),
        ("bf16", 1.1 + 0.4),
        ("int16", 0.8 + 0.05),
    ],
)
def test_horowitz_mac(dtype, mac_pj):
    table = load_energy_table("horowitz_45nm", _with_types(EDGE, dtype, dtype))
    assert table.energy_pj("pe_array", "mac") == pytest.approx(mac_pj)


def test_int8_mac_is_023_pj():
    assert HOROWITZ.energy_pj("pe_array", "mac") == pytest.approx(0.23)
    assert 0 < HOROWITZ.energy_pj("pe_array", "mac_gated") < 0.5 * HOROWITZ.energy_pj("pe_array", "mac")
    assert HOROWITZ.energy_pj("pe_array", "mac_skipped") <= HOROWITZ.energy_pj("pe_array", "mac_gated")


def test_mac_uses_wider_operand():
    table = load_energy_table("horowitz_45nm", _with_types(EDGE, "int8", "fp32"))
    assert table.energy_pj("pe_array", "mac") == pytest.approx(4.6)


def _sram_pj_per_byte(size_bytes, banks=1):
    hw = EDGE.replace("buffers.ifmap.size_bytes", size_bytes).replace("buffers.ifmap.banks", banks)
    return load_energy_table("horowitz_45nm", hw).energy_pj("ifmap_sram", "read")


@pytest.mark.parametrize("size, pj64", [(8 * 1024, 10.0), (32 * 1024, 20.0), (1024 * 1024, 100.0)])
def test_sram_exact_at_anchors(size, pj64):
    assert _sram_pj_per_byte(size) == pytest.approx(pj64 / 8)


def test_sram_clamped_and_log_linear():
    assert _sram_pj_per_byte(1) == pytest.approx(10 / 8)
    assert _sram_pj_per_byte(64 * 1024 * 1024) == pytest.approx(100 / 8)
    # 16 KiB is halfway between 8 and 32 KiB in log size
    assert _sram_pj_per_byte(16 * 1024) == pytest.approx(15 / 8)
    # banks: the macro size is size / banks
    assert _sram_pj_per_byte(128 * 1024, banks=4) == pytest.approx(_sram_pj_per_byte(32 * 1024))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 1 << 26), st.integers(1, 1 << 26))
def test_sram_monotone_in_size(a, b):
    lo, hi = sorted((a, b))
    assert _sram_pj_per_byte(lo) <= _sram_pj_per_byte(hi)


def test_sram_write_equals_read_and_dram_midpoint():
    for comp in ("ifmap_sram", "filter_sram", "ofmap_sram"):
        assert HOROWITZ.energy_pj(comp, "write") == HOROWITZ.energy_pj(comp, "read")
    assert HOROWITZ.energy_pj("dram", "read") == pytest.approx(1950 / 8)
    assert HOROWITZ.energy_pj("dram", "write") == pytest.approx(1950 / 8)


def test_glb_component_for_unified_buffers():
    table = load_energy_table("horowitz_45nm", load_hardware("cloud_128x128"))
    assert table.energy_pj("glb", "read") > 0
    with pytest.raises(MissingEnergyError, match="ifmap_sram.*'read'"):
        table.energy_pj("ifmap_sram", "read")
    with pytest.raises(KeyError):
        table.energy_pj("pe_array", "fly")


@pytest.mark.parametrize("preset", ["cloud_128x128", "edge_16x16", "scalesim_32x32", "tpu_v1_like"])
@pytest.mark.parametrize("name", ["horowitz_45nm", "eyeriss_ratios"])
def test_every_entry_has_source_and_unit(preset, name):
    hw = load_hardware(preset)
    table = load_energy_table(name, hw)
    rows = list(table.entries())
    assert rows
    for component, action, value, unit, source in rows:
        assert isinstance(value, float) and value >= 0 and math.isfinite(value)
        assert unit.strip() and source.strip(), (component, action)
    comps = {"pe_array", "dram", *hw.buffers.components()}
    for comp in comps:
        for state in energy.STATES:
            assert table.leak_mw(comp, state) >= 0
        assert table.transition_pj(comp, "wake") >= 0
    for comp in comps - {"pe_array"}:
        assert {(comp, "read"), (comp, "write")} <= set(table.actions)
    assert {("pe_array", a) for a in ("mac", "mac_gated", "mac_skipped")} <= set(table.actions)


def test_list_energy_tables():
    assert {"horowitz_45nm", "eyeriss_ratios"} <= set(list_energy_tables())
    with pytest.raises(EnergyTableError, match="nope"):
        load_energy_table("nope", EDGE)


def test_total_energy_is_sum_of_count_times_cost():
    counts = {("pe_array", "mac"): 1000, ("ifmap_sram", "read"): 300, ("dram", "write"): 7.5}
    expected = sum(n * HOROWITZ.energy_pj(c, a) for (c, a), n in counts.items())
    assert HOROWITZ.total_energy_pj(counts) == pytest.approx(expected)
    assert HOROWITZ.total_energy_pj(counts) == pytest.approx(1000 * 0.23 + 300 * 4.5 + 7.5 * 243.75)
    assert HOROWITZ.total_energy_pj({}) == 0


def test_leakage_units():
    table = EnergyTable("unit", {}, {("x", "active"): EnergyEntry(1.0, "mW", "test")}, {})
    # 1 mW for 1e6 cycles at 1000 MHz = 1 ms -> 1e-6 J = 1e6 pJ
    assert table.leakage_energy_pj({("x", "active"): 10**6}, 1000) == pytest.approx(1e6)
    # same cycles at 500 MHz last twice as long
    assert table.leakage_energy_pj({("x", "active"): 10**6}, 500) == pytest.approx(2e6)
    with pytest.raises(MissingEnergyError):
        table.leakage_energy_pj({("x", "sleep"): 1}, 1000)


def test_leakage_scales_with_hardware():
    big = load_energy_table("horowitz_45nm", EDGE.replace("pe.rows", 32))
    assert big.leak_mw("pe_array", "active") == pytest.approx(2 * HOROWITZ.leak_mw("pe_array", "active"))
    assert HOROWITZ.leak_mw("ifmap_sram", "sleep") < HOROWITZ.leak_mw("ifmap_sram", "active")


@pytest.mark.parametrize("preset", list_presets())
def test_eyeriss_ratios(preset):
    hw = load_hardware(preset)
    table = load_energy_table("eyeriss_ratios", hw)
    mac = table.energy_pj("pe_array", "mac")
    word = (
        hw.datatypes.bytes("ifmap")
        if hw.datatypes.mac == hw.datatypes.ifmap
        else hw.datatypes.bytes("filter")
    )
    assert mac == pytest.approx(load_energy_table("horowitz_45nm", hw).energy_pj("pe_array", "mac"))
    assert table.energy_pj("dram", "read") * word / mac == pytest.approx(200)
    for comp in hw.buffers.components():
        assert table.energy_pj(comp, "read") * word / mac == pytest.approx(6)


def test_malformed_table_is_named(tmp_path, monkeypatch):
    text = tmp_path / "t.yaml"
    src = (energy._tables_dir() / "horowitz_45nm.yaml").read_text()
    bad = src.replace("name: horowitz_45nm", "name: broken").replace(
        "{value: 0.2, unit: pJ,", "{value: -0.2, unit: pJ,"
    )
    text.write_text(bad)
    (tmp_path / "dup.yaml").write_text(src.replace("name: horowitz_45nm", "name: dup\nname: dup"))
    (tmp_path / "unit.yaml").write_text(
        src.replace("name: horowitz_45nm", "name: unit").replace(
            "{value: 0.03, unit: pJ,", "{value: 0.03, unit: nJ,"
        )
    )
    (tmp_path / "broken.yaml").write_text(bad)
    monkeypatch.setattr(energy, "_tables_dir", lambda: tmp_path)
    with pytest.raises(
        EnergyTableError, match=r"broken\.yaml:\d+: table broken: mac\.int8\.mult\.value: .*-0\.2"
    ):
        load_energy_table("broken", EDGE)
    with pytest.raises(EnergyTableError, match=r"dup\.yaml:\d+: duplicate key 'name'"):
        load_energy_table("dup", EDGE)
    with pytest.raises(EnergyTableError, match=r"table unit: mac\.int8\.add\.unit: must be 'pJ', got 'nJ'"):
        load_energy_table("unit", EDGE)
