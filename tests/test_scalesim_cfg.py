"""SCALE-Sim .cfg files: v2 and v3 read into Hardware with SCALE-Sim's units; written cfgs read back."""

from __future__ import annotations

import configparser
import dataclasses
import math
from pathlib import Path

import pytest

from accelsim.arch.hardware import HardwareError, list_presets, load_hardware
from accelsim.arch.scalesim_cfg import format_cfg, parse_cfg, read_cfg, write_scalesim
from workloads.importers.scalesim_topology import ExportFormatError
from workloads.zoo import get_network

# SCALE-Sim v2's default configs/scale.cfg shape (no [layout], no [sparsity], no UseRamulatorTrace),
# with the defaults docs cite for our scalesim_32x32 preset: 32x32 os, 64 kB SRAMs, 64 words/cycle.
V2_CFG = """[general]
run_name = scale_example_run_32x32_os

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:    64
FilterSramSzkB:   64
OfmapSramSzkB:    64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 64
Dataflow : os
MemoryBanks:   1

[run_presets]
InterfaceBandwidth: USER
"""


def test_v2_default_cfg_is_the_scalesim_32x32_preset() -> None:
    cfg = parse_cfg(V2_CFG, "scale.cfg")
    preset = load_hardware("scalesim_32x32")
    assert cfg.hardware.name == "scale_example_run_32x32_os"
    assert cfg.hardware.replace("name", preset.name) == preset
    assert cfg.notes == ()


def test_units_are_one_byte_words_and_kb_of_1024_words() -> None:
    text = V2_CFG.replace("ArrayHeight:    32", "ArrayHeight: 8").replace(
        "IfmapSramSzkB:    64", "IfmapSramSzkB: 3"
    )
    hw = parse_cfg(text.replace("Bandwidth : 64", "Bandwidth : 10"), "s.cfg").hardware
    assert (hw.pe.rows, hw.pe.cols, hw.pe.dataflow) == (8, 32, "os")
    assert hw.buffers.capacity_bytes("ifmap") == 3 * 1024
    assert hw.word_bytes("ifmap") == hw.word_bytes("filter") == hw.word_bytes("ofmap") == 1
    assert hw.dram.bandwidth_bytes_per_cycle == 10.0


def test_v3_cfg_with_every_section_and_calc_bandwidth() -> None:
    text, _ = format_cfg(load_hardware("scalesim_32x32").replace("dram.bandwidth_bytes_per_cycle", math.inf))
    assert "InterfaceBandwidth : CALC" in text and "[sparsity]" in text and "[layout]" in text
    cfg = parse_cfg(text.replace("SparsitySupport : false", "SparsitySupport : true"), "v3.cfg")
    assert math.isinf(cfg.hardware.dram.bandwidth_bytes_per_cycle)
    assert any("SparsitySupport" in note for note in cfg.notes)


def test_only_the_first_of_several_bandwidths_is_used_like_scalesim() -> None:
    cfg = parse_cfg(V2_CFG.replace("Bandwidth : 64", "Bandwidth : 16, 32"), "s.cfg")
    assert cfg.hardware.dram.bandwidth_bytes_per_cycle == 16.0
    assert cfg.notes == ("Bandwidth: SCALE-Sim uses only the first value, 16 words/cycle",)


@pytest.mark.parametrize(
    "edit, needle",
    [
        (
            ("ArrayHeight:    32", "ArrayHeight: -3"),
            "bad.cfg:5: ArrayHeight: must be a positive integer, got '-3'",
        ),
        (
            ("ArrayWidth:     32", "ArrayWidth: many"),
            "bad.cfg:6: ArrayWidth: must be a positive integer, got 'many'",
        ),
        (("Dataflow : os", "Dataflow : rs"), "bad.cfg:14: Dataflow: must be one of ws, os, is, got 'rs'"),
        (("Bandwidth : 64", "Bandwidth : fast"), "bad.cfg:13: Bandwidth: must be a positive integer number"),
        (("Bandwidth : 64\n", ""), "bad.cfg: [architecture_presets] Bandwidth: missing required key"),
        (
            ("InterfaceBandwidth: USER", "InterfaceBandwidth: AUTO"),
            "bad.cfg:18: InterfaceBandwidth: must be one of",
        ),
        (
            ("MemoryBanks:   1", "MemoryBanks: 1\nArrayWidth: 4"),
            "bad.cfg:16: ArrayWidth: duplicate key (first on line 6)",
        ),
        (
            ("MemoryBanks:   1", "ArrayHieght: 4"),
            "bad.cfg:15: ArrayHieght: unknown key in [architecture_presets]",
        ),
        (("[run_presets]", "[run_preset]"), "bad.cfg:17: unknown section [run_preset]"),
        (("[general]\n", ""), "bad.cfg:1: run_name: a key before any [section]"),
        (
            ("MemoryBanks:   1", "MemoryBanks"),
            "bad.cfg:15: expected 'Key : value' or '[section]', got 'MemoryBanks'",
        ),
    ],
)
def test_malformed_cfg_names_file_line_and_key(edit: tuple[str, str], needle: str) -> None:
    assert edit[0] in V2_CFG
    with pytest.raises(HardwareError) as info:
        parse_cfg(V2_CFG.replace(*edit), "bad.cfg")
    assert needle in str(info.value)


def test_missing_cfg_file_is_a_hardware_error(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match="nope.cfg: cannot read SCALE-Sim cfg"):
        read_cfg(tmp_path / "nope.cfg")


def _scalesim_reads(text: str) -> dict[str, str]:
    """What SCALE-Sim 3.0.0's scale_config.read_conf_file reads, read the way it does (configparser)."""
    config = configparser.ConfigParser()
    config.read_string(text)
    keys = {
        "general": ["run_name"],
        "run_presets": ["InterfaceBandwidth", "UseRamulatorTrace"],
        "architecture_presets": [
            "ArrayHeight",
            "ArrayWidth",
            "ifmapsramszkB",
            "filtersramszkB",
            "ofmapsramszkB",
            "IfmapOffset",
            "FilterOffset",
            "OfmapOffset",
            "Dataflow",
            "ReadRequestBuffer",
            "WriteRequestBuffer",
            "Bandwidth",
        ],
        "layout": [
            "IfmapCustomLayout",
            "FilterCustomLayout",
            "IfmapSRAMBankBandwidth",
            "IfmapSRAMBankNum",
            "IfmapSRAMBankPort",
            "FilterSRAMBankBandwidth",
            "FilterSRAMBankNum",
            "FilterSRAMBankPort",
        ],
        "sparsity": ["SparsitySupport"],
    }
    return {key.lower(): config.get(section, key) for section, names in keys.items() for key in names}


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_writes_a_cfg_scalesim_can_parse_and_we_read_back(preset: str) -> None:
    hw = load_hardware(preset)
    text, notes = format_cfg(hw)
    seen = _scalesim_reads(text)
    assert (int(seen["arrayheight"]), int(seen["arraywidth"]), seen["dataflow"]) == (
        hw.pe.rows,
        hw.pe.cols,
        hw.pe.dataflow,
    )
    back = parse_cfg(text, f"{preset}.cfg").hardware
    assert back.pe == dataclasses.replace(hw.pe, precision="fixed")  # SCALE-Sim has no precision modes
    assert (hw.pe.precision != "fixed") == any("pe.precision" in note for note in notes)
    for operand in ("ifmap", "filter", "ofmap"):
        words = hw.buffers.capacity_bytes(operand) // hw.word_bytes(operand)
        assert int(seen[f"{operand}sramszkb"]) == words // 1024
        assert back.buffers.capacity_bytes(operand) == words // 1024 * 1024
    assert int(seen["bandwidth"]) == int(hw.dram.bandwidth_bytes_per_cycle // hw.word_bytes("ifmap"))
    assert notes[-1] == "SCALE-Sim models no clock, DRAM latency, power states or energy"


def test_a_buffer_below_one_kb_of_words_cannot_be_written() -> None:
    hw = load_hardware("scalesim_32x32").replace("buffers.filter.size_bytes", 512)
    with pytest.raises(ExportFormatError, match="filter buffer holds 512 words"):
        format_cfg(hw)


def test_write_scalesim_writes_three_files_and_the_command(tmp_path: Path) -> None:
    files = write_scalesim(get_network("lenet5"), load_hardware("scalesim_32x32"), tmp_path / "out")
    assert read_cfg(files.cfg).hardware.name == "lenet5"
    assert Path(files.topology).read_text().count("\n") == 1 + 5  # header + conv1, conv2, fc1..fc3
    assert Path(files.layout).read_text().count("\n") == 1 + 5
    command = files.command("py", "res")
    assert command[:3] == ["py", "-m", "scalesim.scale"] and command[command.index("-c") + 1] == files.cfg
    assert "left out 2 layer(s): pool1, pool2" in files.notes[0]
