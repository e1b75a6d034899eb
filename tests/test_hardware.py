"""Hardware: presets, YAML round trip, replace, and strict validation errors."""

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch.hardware import (
    DATAFLOWS,
    DATATYPE_BYTES,
    DRAM,
    Buffer,
    Buffers,
    Datatypes,
    Hardware,
    HardwareError,
    PEArray,
    Power,
    PowerPolicy,
    list_presets,
    load_hardware,
)

PRESETS = ["cloud_128x128", "edge_16x16", "scalesim_32x32", "tpu_v1_like"]

GOOD = """\
name: tiny
clock_mhz: 500
pe:
  rows: 4
  cols: 4
  dataflow: os
buffers:
  ifmap:
    size_bytes: 1024
    read_bytes_per_cycle: 4
    write_bytes_per_cycle: 4
  filter:
    size_bytes: 1024
    read_bytes_per_cycle: 4
    write_bytes_per_cycle: 4
  ofmap:
    size_bytes: 1024
    read_bytes_per_cycle: 4
    write_bytes_per_cycle: 4
dram:
  bandwidth_bytes_per_cycle: 8
  latency_cycles: 10
datatypes:
  ifmap: int8
  filter: int8
  ofmap: int8
  accum: int32
"""


def test_presets_listed_and_load():
    assert set(PRESETS) <= set(list_presets())
    for name in list_presets():
        hw = load_hardware(name)
        assert hw.name == name
        assert hw.power.pe_array.policy == hw.power.buffers.policy == hw.power.dram.policy == "never"


@pytest.mark.parametrize("name", PRESETS)
def test_preset_yaml_round_trip(name):
    hw = load_hardware(name)
    again = Hardware.from_yaml(hw.to_yaml())
    assert again == hw
    assert again.content_hash() == hw.content_hash()


def test_scalesim_preset_mirrors_scale_cfg():
    hw = load_hardware("scalesim_32x32")
    assert (hw.pe.rows, hw.pe.cols, hw.pe.dataflow) == (32, 32, "os")
    assert [hw.buffers.capacity_bytes(op) for op in ("ifmap", "filter", "ofmap")] == [64 * 1024] * 3
    assert hw.word_bytes("ifmap") == 1 and hw.dram.bandwidth_bytes_per_cycle == 64.0


def test_tpu_preset_numbers():
    hw = load_hardware("tpu_v1_like")
    assert (hw.pe.rows, hw.pe.cols, hw.pe.dataflow, hw.clock_mhz) == (256, 256, "ws", 700.0)
    assert hw.buffers.capacity_bytes("ifmap") == 24 * 1024 * 1024
    assert hw.dram.bandwidth_bytes_per_cycle == pytest.approx(34e9 / 700e6, rel=1e-3)


def test_load_by_path(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(GOOD)
    hw = load_hardware(str(p))
    assert hw == Hardware.from_yaml(GOOD)
    assert hw.clock_mhz == 500.0 and isinstance(hw.clock_mhz, float)
    assert hw.buffers.ifmap.banks == 1


def test_unknown_preset():
    with pytest.raises(HardwareError, match="no_such_preset"):
        load_hardware("no_such_preset")


def test_glb_style_capacity_and_names():
    hw = load_hardware("cloud_128x128")
    assert hw.buffers.unified
    assert hw.buffers.buffer_name("filter") == "glb"
    assert hw.buffers.capacity_bytes("ofmap") == int(hw.buffers.glb.size_bytes * 0.2)
    assert hw.buffers.for_operand("ifmap") is hw.buffers.glb
    edge = load_hardware("edge_16x16")
    assert [edge.buffers.buffer_name(o) for o in ("ifmap", "filter", "ofmap")] == [
        "ifmap_sram",
        "filter_sram",
        "ofmap_sram",
    ]
    assert edge.buffers.for_operand("filter") is edge.buffers.filter


def test_glb_split_floors():
    b = Buffers(glb=Buffer(size_bytes=10, read_bytes_per_cycle=1, write_bytes_per_cycle=1))
    assert [b.capacity_bytes(o) for o in ("ifmap", "filter", "ofmap")] == [3, 3, 3]


def test_buffers_need_exactly_one_style():
    buf = Buffer(size_bytes=8, read_bytes_per_cycle=1, write_bytes_per_cycle=1)
    with pytest.raises(HardwareError, match="either"):
        Buffers(ifmap=buf, filter=buf, ofmap=buf, glb=buf)
    with pytest.raises(HardwareError, match="missing dedicated"):
        Buffers(ifmap=buf)


def test_mac_precision_is_wider_operand():
    assert Datatypes("int8", "int16", "int8", "int32").mac == "int16"
    assert Datatypes("fp32", "int8", "fp32", "fp32").mac == "fp32"
    assert Datatypes("int8", "int8", "int8", "int32").mac == "int8"


def test_replace_returns_new_object_and_keeps_old():
    hw = load_hardware("edge_16x16")
    before = hw.to_dict()
    new = hw.replace("buffers.ifmap.size_bytes", 256 * 1024)
    assert new is not hw
    assert new.buffers.ifmap.size_bytes == 256 * 1024
    assert hw.buffers.ifmap.size_bytes == 64 * 1024 and hw.to_dict() == before
    assert hw.replace("pe.dataflow", "ws").pe.dataflow == "ws"
    assert new.content_hash() != hw.content_hash()


def test_replace_errors():
    hw = load_hardware("edge_16x16")
    with pytest.raises(HardwareError, match=r"buffers\.ifmap\.size_bytes.*-4"):
        hw.replace("buffers.ifmap.size_bytes", -4)
    with pytest.raises(HardwareError, match="pe.dataflow.*'xs'"):
        hw.replace("pe.dataflow", "xs")
    with pytest.raises(HardwareError, match=r"pe\.colz"):
        hw.replace("pe.colz", 3)
    with pytest.raises(HardwareError, match=r"buffers\.glb\.size_bytes"):
        hw.replace("buffers.glb.size_bytes", 3)


def test_frozen():
    hw = load_hardware("edge_16x16")
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.pe.rows = 3


def test_direct_construction_validates():
    with pytest.raises(HardwareError, match="rows.*True"):
        PEArray(True, 4, "os")
    with pytest.raises(HardwareError, match="bandwidth_bytes_per_cycle"):
        DRAM(0, 1)


def _bad(old, new, count=1):
    assert old in GOOD
    return GOOD.replace(old, new, count)


@pytest.mark.parametrize(
    "text, pattern",
    [
        (
            _bad("  rows: 4\n", "  rows: 4\n  rowz: 4\n"),
            r"tiny\.yaml:5: pe\.rowz: unknown key 'rowz'.*rows, cols, dataflow",
        ),
        (
            _bad("  cols: 4\n", "  cols: 4\n  rows: 8\n"),
            r"tiny\.yaml:6: duplicate key 'rows'.*line 4.*line 6",
        ),
        (
            _bad("size_bytes: 1024", "size_bytes: -4"),
            r"tiny\.yaml:9: buffers\.ifmap\.size_bytes: must be a positive integer, got -4",
        ),
        (_bad("size_bytes: 1024", "size_bytes: 0"), r"tiny\.yaml:9: buffers\.ifmap\.size_bytes: .*got 0"),
        (_bad("rows: 4", "rows: four"), r"tiny\.yaml:4: pe\.rows: must be a positive integer, got 'four'"),
        (_bad("rows: 4", "rows: true"), r"tiny\.yaml:4: pe\.rows: must be a positive integer, got True"),
        (_bad("rows: 4", "rows: 4.0"), r"tiny\.yaml:4: pe\.rows: .*got 4\.0"),
        (
            _bad("dataflow: os", "dataflow: rs"),
            r"tiny\.yaml:6: pe\.dataflow: must be one of ws, os, is, got 'rs'",
        ),
        (
            _bad("filter: int8", "filter: int1"),
            r"tiny\.yaml:\d+: datatypes\.filter: must be one of .*got 'int1'",
        ),
        (_bad("  latency_cycles: 10\n", ""), r"tiny\.yaml:\d+: dram\.latency_cycles: missing required key"),
        (_bad("clock_mhz: 500", "clock_mhz: -1"), r"tiny\.yaml:2: clock_mhz: .*got -1"),
        (
            _bad("bandwidth_bytes_per_cycle: 8", "bandwidth_bytes_per_cycle: false"),
            r"tiny\.yaml:\d+: dram\.bandwidth_bytes_per_cycle: .*got False",
        ),
        (
            _bad("latency_cycles: 10", "latency_cycles: -1"),
            r"dram\.latency_cycles: must be a non-negative integer, got -1",
        ),
        (
            _bad("pe:\n  rows: 4\n  cols: 4\n  dataflow: os\n", "pe: 3\n"),
            r"tiny\.yaml:\d+: pe: must be a mapping, got 3",
        ),
        (
            GOOD + "power:\n  dram: {policy: sometimes}\n",
            r"tiny\.yaml:\d+: power\.dram\.policy: must be one of never, gate_after, got 'sometimes'",
        ),
        (GOOD + "buffers2: 1\n", r"tiny\.yaml:\d+: buffers2: unknown key"),
        ("name: [unclosed\n", r"tiny\.yaml:\d+: invalid YAML"),
    ],
)
def test_malformed_yaml_named_errors(tmp_path, text, pattern):
    p = tmp_path / "tiny.yaml"
    p.write_text(text)
    with pytest.raises(HardwareError, match=pattern):
        load_hardware(str(p))


def test_error_without_file_has_source_and_no_line():
    d = Hardware.from_yaml(GOOD).to_dict()
    d["pe"]["rows"] = -2
    with pytest.raises(HardwareError, match=r"^mydict: pe\.rows: must be a positive integer, got -2$"):
        Hardware.from_dict(d, source="mydict")


def test_both_buffer_styles_in_yaml_error():
    text = GOOD.replace(
        "dram:\n", "  glb: {size_bytes: 9, read_bytes_per_cycle: 1, write_bytes_per_cycle: 1}\ndram:\n"
    )
    with pytest.raises(HardwareError, match=r"tiny\.yaml:\d+: buffers: give either"):
        Hardware.from_yaml(text, source="tiny.yaml")


# ---------------------------------------------------------------- property: round trip
_pos = st.integers(1, 1 << 30)
_buffer = st.builds(
    lambda s, b, r, w: Buffer(size_bytes=s, banks=b, read_bytes_per_cycle=r, write_bytes_per_cycle=w),
    _pos,
    st.integers(1, 64),
    _pos,
    _pos,
)
_split = (
    st.tuples(st.integers(0, 100), st.integers(0, 100))
    .filter(lambda t: sum(t) <= 100)
    .map(lambda t: (t[0] / 100, t[1] / 100, (100 - t[0] - t[1]) / 100))
)
_buffers = st.one_of(
    st.builds(lambda a, b, c: Buffers(ifmap=a, filter=b, ofmap=c), _buffer, _buffer, _buffer),
    st.builds(lambda g, s: Buffers(glb=g, glb_split=s), _buffer, _split),
)
_dtype = st.sampled_from(sorted(DATATYPE_BYTES))
_policy = st.builds(
    PowerPolicy, st.sampled_from(["never", "gate_after"]), st.integers(0, 10**6), st.integers(0, 10**4)
)
_pos_float = st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False)  # within the physical bounds
_hardware = st.builds(
    Hardware,
    name=st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
    ).filter(str.strip),
    clock_mhz=_pos_float,
    pe=st.builds(PEArray, st.integers(1, 512), st.integers(1, 512), st.sampled_from(DATAFLOWS)),
    buffers=_buffers,
    dram=st.builds(DRAM, _pos_float, st.integers(0, 10**4)),
    datatypes=st.builds(Datatypes, _dtype, _dtype, _dtype, _dtype),
    power=st.builds(Power, _policy, _policy, _policy),
    energy_table=st.sampled_from(["horowitz_45nm", "eyeriss_ratios"]),
)


@settings(max_examples=150, deadline=None)
@given(_hardware)
def test_yaml_round_trip_property(hw):
    again = Hardware.from_yaml(hw.to_yaml())
    assert again == hw
    assert again.content_hash() == hw.content_hash()
    assert Hardware.from_dict(hw.to_dict()) == hw
