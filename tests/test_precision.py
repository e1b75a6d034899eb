"""Bit widths priced by the simulator (issue 15): sub-byte datatypes, precision modes, their energy.

Expected figures are hand calculations from Horowitz (ISSCC 2014) as tabulated in
energy_tables/horowitz_45nm.yaml: an 8-bit multiply 0.2 pJ and add 0.03 pJ, multiplier energy
quadratic and adder energy linear in width, DRAM 1950 pJ per 64-bit access."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch.energy import load_energy_table
from accelsim.arch.hardware import DATATYPE_BITS, Hardware, HardwareError, load_hardware
from accelsim.cli.main import main
from accelsim.dse.sweep_config import SweepConfigError, parse_sweep
from accelsim.timing.actions import count_actions, price_actions
from accelsim.timing.mapping import map_layer
from accelsim.timing.report import Report
from accelsim.timing.simulate import simulate
from workloads.layers import Linear

DRAM_PJ_PER_BYTE = 1950 / 8  # Horowitz ISSCC 2014: 1.3-2.6 nJ per 64-bit access, midpoint
FC = Linear("fc", in_features=64, out_features=32, tokens=4)  # weights and inputs fit any buffer


def _with_types(hw: Hardware, weights: str, activations: str) -> Hardware:
    return hw.replace("datatypes.weights", weights).replace("datatypes.activations", activations)


def _energy(hw: Hardware) -> tuple[dict, dict]:
    mapping = map_layer(FC, hw)
    counts = count_actions(mapping, hw)
    return mapping.dram_read_bytes, price_actions(counts, load_energy_table(hw.energy_table, hw))


@pytest.mark.parametrize(
    ("bits", "mult_pj", "add_pj"),
    [(8, 0.2, 0.03), (4, 0.2 * (4 / 8) ** 2, 0.03 * 4 / 8), (2, 0.2 * (2 / 8) ** 2, 0.03 * 2 / 8)],
)
def test_mac_and_dram_energy_of_one_layer_match_the_hand_calculation(bits, mult_pj, add_pj):
    t = f"int{bits}"
    hw = _with_types(load_hardware("edge_16x16"), t, t)
    dram_read, energy = _energy(hw)
    macs = 64 * 32 * 4
    assert energy[("pe_array", "mac")] == pytest.approx(macs * (mult_pj + add_pj))
    # Weights and inputs are read from DRAM once, packed: words x bits / 8 bytes.
    assert dict(dram_read) == {"filter": 64 * 32 * bits // 8, "ifmap": 64 * 4 * bits // 8}
    assert energy[("dram", "read")] == pytest.approx((64 * 32 + 64 * 4) * bits / 8 * DRAM_PJ_PER_BYTE)


def test_int4_weights_halve_weight_traffic_and_sram_reads_against_int8():
    edge = load_hardware("edge_16x16")
    int8, int4 = (_with_types(edge, t, "int8") for t in ("int8", "int4"))
    (r8, e8), (r4, e4) = _energy(int8), _energy(int4)
    assert r4["filter"] * 2 == r8["filter"] and r4["ifmap"] == r8["ifmap"]
    # Same buffer size, so the same pJ per byte: half the bytes of weights, half their SRAM energy.
    assert e4[("filter_sram", "read")] == pytest.approx(e8[("filter_sram", "read")] / 2)
    assert e4[("ifmap_sram", "read")] == pytest.approx(e8[("ifmap_sram", "read")])


def test_sub_byte_transfers_round_up_to_whole_bytes():
    hw = load_hardware("edge_16x16").replace("datatypes.weights", "int4")
    assert hw.bytes_of("filter", 3) == 2 and hw.bytes_of("filter", 4) == 2 and hw.bytes_of("ifmap", 3) == 3
    assert hw.word_bytes("filter") == 0.5 and hw.datatypes.bits("filter") == 4


@pytest.mark.parametrize(("t", "ratio"), [("int8", 1), ("int4", 2), ("int2", 4)])
def test_packed_mode_divides_stream_cycles_by_the_packing(t, ratio):
    bitfusion = load_hardware("bitfusion_16x32")
    assert bitfusion.pe.precision == "packed" and bitfusion.pe.mac_bits == 8
    fixed = bitfusion.replace("pe.precision", "fixed")
    steps = map_layer(FC, fixed).compute_cycles - map_layer(FC, _with_types(fixed, t, t)).compute_cycles
    assert steps == 0  # a fixed array gains no time from narrow data
    base = map_layer(FC, fixed).compute_cycles
    packed = map_layer(FC, _with_types(bitfusion, t, t)).compute_cycles
    # ws on a 16x32 array: 64 x 32 weights are 4 folds of 16 rows, each streaming 4 tokens after
    # SCALE-Sim's ws fill and drain of 2 rows + cols - 2 cycles; packing shortens the stream only.
    folds, fill, tokens = 4, 2 * 16 + 32 - 2, 4
    assert base == folds * (fill + tokens)
    assert packed == folds * (fill + -(-tokens // ratio))


def test_packed_mode_speeds_a_network_up_monotonically_with_narrower_data():
    bitfusion = load_hardware("bitfusion_16x32")
    cycles = [
        simulate("lenet5", _with_types(bitfusion, t, t), mode="analytical").compute_cycles
        for t in ("int8", "int4", "int2")
    ]
    assert cycles[0] > cycles[1] > cycles[2]


@settings(max_examples=20, deadline=None)
@given(bits=st.sampled_from([2, 4, 8, 16]), steps=st.integers(1, 10_000))
def test_bit_serial_cycles_scale_with_weight_bits(bits, steps):
    serial = load_hardware("edge_16x16").replace("pe.mac_bits", 16).replace("pe.precision", "bit_serial")
    hw = serial.replace("datatypes.weights", f"int{bits}")
    # Stripes: mac_bits lanes each consume one weight bit per cycle, so a step takes bits/mac_bits.
    assert hw.pe.stream_cycles(steps, 8, bits) == -(-steps * bits // 16)
    assert hw.pe.stream_cycles(steps, 8, 2 * bits) >= hw.pe.stream_cycles(steps, 8, bits)


def test_fixed_presets_keep_their_serialised_form():
    edge = load_hardware("edge_16x16")
    assert "precision" not in edge.to_dict()["pe"] and "mac_bits" not in edge.to_dict()["pe"]
    packed = load_hardware("bitfusion_16x32")
    assert Hardware.from_yaml(packed.to_yaml()) == packed


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        ("datatypes.filter", "int1", ["datatypes.filter", "int1", "int2"]),
        ("datatypes.ifmap", "int3", ["datatypes.ifmap", "int3"]),
        ("pe.precision", "analog", ["pe.precision", "analog", "bit_serial"]),
        ("pe.mac_bits", 4, ["pe.mac_bits", "4"]),
    ],
)
def test_bad_widths_and_modes_are_named_errors(path, value, words):
    with pytest.raises(HardwareError) as info:
        load_hardware("edge_16x16").replace(path, value)
    assert all(w in str(info.value) for w in words)


@pytest.mark.parametrize(
    ("hw", "change", "words"),
    [
        ("bitfusion_16x32", ("datatypes.weights", "int16"), ["packed", "datatypes.filter=int16"]),
        ("bitfusion_16x32", ("datatypes.activations", "fp16"), ["integer", "datatypes.ifmap=fp16"]),
    ],
)
def test_a_width_the_array_mode_cannot_run_is_a_named_error(hw, change, words):
    with pytest.raises(HardwareError) as info:
        load_hardware(hw).replace(*change)
    assert all(w in str(info.value) for w in words)


def test_bit_serial_rejects_weights_wider_than_its_lanes():
    serial = load_hardware("edge_16x16").replace("pe.precision", "bit_serial")
    with pytest.raises(HardwareError, match="bit_serial.*int8.*int16"):
        serial.replace("datatypes.weights", "int16")


def test_cli_set_weights_to_int4_runs_and_prices_less_energy(tmp_path, capsys):
    args = ["simulate", "--network", "lenet5", "--hardware", "edge_16x16", "--mode", "analytical"]
    out8, out4 = tmp_path / "int8.json", tmp_path / "int4.json"
    assert main(args + ["--json", str(out8)]) == 0
    assert main(args + ["--set", "datatypes.weights=int4", "--json", str(out4)]) == 0
    int8, int4 = (Report.from_json(p.read_text()) for p in (out8, out4))
    assert int4.energy_pj < int8.energy_pj and int4.macs == int8.macs
    capsys.readouterr()
    assert main(args + ["--set", "datatypes.weights=int1"]) == 2
    err = capsys.readouterr().err
    assert "datatypes.filter" in err and "int1" in err and len(err.strip().splitlines()) == 1


def test_a_sweep_puts_bit_widths_on_an_axis():
    plan = parse_sweep(
        "hardware: bitfusion_16x32\n"
        "networks: [lenet5]\n"
        "modes: [analytical]\n"
        "grid:\n  datatypes.activations: [int8, int4, int2]\n  datatypes.weights: [int8, int4, int2]\n"
    )
    widths = [(p.hardware.datatypes.ifmap, p.hardware.datatypes.filter) for p in plan.points]
    assert len(widths) == 9 and set(widths) == {
        (a, w) for a in ("int8", "int4", "int2") for w in ("int8", "int4", "int2")
    }
    assert all(p.hardware.datatypes.ofmap == p.hardware.datatypes.ifmap for p in plan.points)


def test_a_sweep_width_the_array_cannot_run_names_the_combination():
    with pytest.raises(SweepConfigError, match="datatypes.weights.*int16"):
        parse_sweep(
            "hardware: bitfusion_16x32\nnetworks: [lenet5]\ngrid:\n  datatypes.weights: [int8, int16]\n"
        )


@settings(max_examples=50, deadline=None)
@given(t=st.sampled_from(sorted(DATATYPE_BITS)), words=st.integers(0, 1 << 40))
def test_bytes_of_packs_bits_and_stays_exact_for_byte_wide_types(t, words):
    hw = load_hardware("edge_16x16").replace("datatypes.weights", t)
    got = hw.bytes_of("filter", words)
    bits = int(t.removeprefix("int").removeprefix("fp").removeprefix("bf"))
    assert isinstance(got, int) and got * 8 >= words * bits > (got - 1) * 8
    if bits % 8 == 0:
        assert got == words * hw.word_bytes("filter") == words * bits // 8
