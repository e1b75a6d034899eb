"""SCALE-Sim ``.cfg`` files both ways: read one into ``Hardware``, write ``Hardware`` as one.

SCALE-Sim's conventions (``scalesim/scale_config.py``, 3.0.0): words of 1 byte, SRAM sizes in kB
of 1024 words, ``Bandwidth`` in words per cycle used when ``InterfaceBandwidth`` is ``USER`` (only
its first comma-separated value; ``CALC`` means "whatever makes the run stall-free"). v2 files
lack the ``[layout]`` and ``[sparsity]`` sections and ``UseRamulatorTrace``; SCALE-Sim 3.0.0
requires them, so we read both and always write v3. Keys are case-insensitive, as in
``configparser``. The reader keeps line numbers, so errors read ``scale.cfg:7: ArrayHeight: ...``.

What a cfg does not say we take from the ``scalesim_32x32`` preset's reasoning: a 1 GHz clock,
no DRAM latency, int8 operands with int32 accumulators, SRAM read ports one word per array edge
PE and fill ports at the DRAM rate.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from accelsim.arch.hardware import DATAFLOWS, OPERANDS, Hardware, HardwareError
from workloads.importers.scalesim_topology import (
    ExportFormatError,
    format_layout,
    format_topology,
    network_rows,
)
from workloads.importers.text_file import read_text
from workloads.network import Network

__all__ = [
    "ScaleSimCfg",
    "ScaleSimFiles",
    "format_cfg",
    "parse_cfg",
    "read_cfg",
    "scalesim_hardware",
    "write_scalesim",
]

KB_WORDS = 1024
_ARCH = "architecture_presets"
# Keys SCALE-Sim reads that do not change its cycles or traffic counts; accepted and left alone.
_KNOWN = {
    "general": {"run_name"},
    _ARCH: {
        "arrayheight",
        "arraywidth",
        "ifmapsramszkb",
        "filtersramszkb",
        "ofmapsramszkb",
        "ifmapoffset",
        "filteroffset",
        "ofmapoffset",
        "bandwidth",
        "dataflow",
        "readrequestbuffer",
        "writerequestbuffer",
        "memorybanks",
    },
    "run_presets": {"interfacebandwidth", "useramulatortrace"},
    "network_presets": {"topologycsvloc"},
    "layout": {
        "ifmapcustomlayout",
        "ifmapsrambankbandwidth",
        "ifmapsrambanknum",
        "ifmapsrambankport",
        "filtercustomlayout",
        "filtersrambankbandwidth",
        "filtersrambanknum",
        "filtersrambankport",
    },
    "sparsity": {
        "sparsitysupport",
        "sparserep",
        "optimizedmapping",
        "blocksize",
        "randomnumbergeneratorseed",
    },
}


@dataclass(frozen=True)
class ScaleSimCfg:
    """A cfg read into ``Hardware``, with notes on the settings accelsim does not model."""

    hardware: Hardware
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Entry:
    value: str
    line: int
    key: str  # as written, for messages


def _sections(text: str, source: str) -> dict[str, dict[str, _Entry]]:
    sections: dict[str, dict[str, _Entry]] = {}
    current: dict[str, _Entry] | None = None
    section = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip()
            if name in sections:
                raise HardwareError(f"{source}:{number}: section [{name}] appears twice")
            if name not in _KNOWN:
                raise HardwareError(
                    f"{source}:{number}: unknown section [{name}]; SCALE-Sim's are "
                    + ", ".join(f"[{s}]" for s in _KNOWN)
                )
            section, current = name, {}
            sections[name] = current
            continue
        cut = min((i for i in (line.find(":"), line.find("=")) if i > 0), default=-1)
        if cut < 0:
            raise HardwareError(f"{source}:{number}: expected 'Key : value' or '[section]', got {line!r}")
        if current is None:
            raise HardwareError(f"{source}:{number}: {line[:cut].strip()}: a key before any [section]")
        key, value = line[:cut].strip(), line[cut + 1 :].strip()
        if key.lower() not in _KNOWN[section]:
            raise HardwareError(f"{source}:{number}: {key}: unknown key in [{section}]")
        if key.lower() in current:
            first = current[key.lower()].line
            raise HardwareError(f"{source}:{number}: {key}: duplicate key (first on line {first})")
        current[key.lower()] = _Entry(value, number, key)
    return sections


class _Reader:
    def __init__(self, sections: dict[str, dict[str, _Entry]], source: str) -> None:
        self.sections, self.source = sections, source

    def entry(self, section: str, key: str) -> _Entry:
        found = self.sections.get(section, {}).get(key.lower())
        if found is None:
            raise HardwareError(f"{self.source}: [{section}] {key}: missing required key")
        return found

    def has(self, section: str, key: str) -> bool:
        return key.lower() in self.sections.get(section, {})

    def positive_int(self, section: str, key: str) -> int:
        entry = self.entry(section, key)
        try:
            value = int(entry.value)
        except ValueError:
            value = 0
        if value < 1:
            raise HardwareError(
                f"{self.source}:{entry.line}: {entry.key}: must be a positive integer, got {entry.value!r}"
            )
        return value

    def choice(self, section: str, key: str, options: tuple[str, ...]) -> str:
        entry = self.entry(section, key)
        if entry.value not in options:
            raise HardwareError(
                f"{self.source}:{entry.line}: {entry.key}: must be one of {', '.join(options)}, "
                f"got {entry.value!r}"
            )
        return entry.value

    def flag(self, section: str, key: str) -> bool:
        return self.has(section, key) and self.entry(section, key).value.strip().lower() == "true"


def scalesim_hardware(
    name: str, rows: int, cols: int, dataflow: str, sram_kb: tuple[int, int, int], bandwidth_words: float
) -> Hardware:
    """The ``Hardware`` a SCALE-Sim cfg describes (``bandwidth_words = inf`` for ``CALC``)."""
    buffers = {}
    for operand, kb in zip(OPERANDS, sram_kb):
        size_bytes = kb * KB_WORDS
        # An unbounded channel fills a buffer in one cycle; a bounded one at the DRAM rate.
        fill = size_bytes if math.isinf(bandwidth_words) else max(1, int(bandwidth_words))
        edge = {"ifmap": rows, "filter": cols, "ofmap": cols}[operand]
        read, write = (fill, edge) if operand == "ofmap" else (edge, fill)
        buffers[operand] = {
            "size_bytes": size_bytes,
            "banks": 1,
            "read_bytes_per_cycle": read,
            "write_bytes_per_cycle": write,
        }
    return Hardware.from_dict(
        {
            "name": name,
            "clock_mhz": 1000.0,
            "pe": {"rows": rows, "cols": cols, "dataflow": dataflow},
            "buffers": buffers,
            "dram": {"bandwidth_bytes_per_cycle": float(bandwidth_words), "latency_cycles": 0},
            "datatypes": {"ifmap": "int8", "filter": "int8", "ofmap": "int8", "accum": "int32"},
        },
        source=name,
    )


def parse_cfg(text: str, source: str = "<string>") -> ScaleSimCfg:
    """``Hardware`` from cfg text; errors are ``HardwareError`` naming ``source``, line and key."""
    read = _Reader(_sections(text, source), source)
    notes: list[str] = []
    mode = read.choice("run_presets", "InterfaceBandwidth", ("USER", "CALC"))
    bandwidth = math.inf
    if mode == "USER":
        entry = read.entry(_ARCH, "Bandwidth")
        first, *rest = entry.value.split(",")
        try:
            bandwidth = float(int(first.strip()))
        except ValueError:
            bandwidth = 0.0
        if bandwidth < 1:
            raise HardwareError(
                f"{source}:{entry.line}: {entry.key}: must be a positive integer number of "
                f"words per cycle, got {entry.value!r}"
            )
        if rest:
            notes.append(f"{entry.key}: SCALE-Sim uses only the first value, {int(bandwidth)} words/cycle")
    name = read.entry("general", "run_name").value if read.has("general", "run_name") else ""
    name = name or os.path.splitext(os.path.basename(source))[0] or "scalesim"
    hardware = scalesim_hardware(
        name,
        read.positive_int(_ARCH, "ArrayHeight"),
        read.positive_int(_ARCH, "ArrayWidth"),
        read.choice(_ARCH, "Dataflow", DATAFLOWS),
        (
            read.positive_int(_ARCH, "IfmapSramSzkB"),
            read.positive_int(_ARCH, "FilterSramSzkB"),
            read.positive_int(_ARCH, "OfmapSramSzkB"),
        ),
        bandwidth,
    )
    if read.flag("sparsity", "SparsitySupport"):
        notes.append(
            "[sparsity] SparsitySupport is not imported: accelsim's sparse support is the hardware "
            "YAML's sparsity section"
        )
    if read.flag("layout", "IfmapCustomLayout") or read.flag("layout", "FilterCustomLayout"):
        notes.append("[layout] custom SRAM layouts are not modelled; read as plain buffers")
    if read.flag("run_presets", "UseRamulatorTrace"):
        notes.append("[run_presets] UseRamulatorTrace is not modelled; DRAM is a bandwidth and a latency")
    return ScaleSimCfg(hardware, tuple(notes))


def read_cfg(path: str | os.PathLike[str]) -> ScaleSimCfg:
    """Read a SCALE-Sim v2 or v3 ``.cfg`` file (see ``parse_cfg``)."""
    source, text = read_text(path, "SCALE-Sim cfg", HardwareError)
    return parse_cfg(text, source)


def _kb(hardware: Hardware, operand: str) -> int:
    words = hardware.buffers.capacity_bytes(operand) * 8 // hardware.datatypes.bits(operand)
    if words < KB_WORDS:
        raise ExportFormatError(
            f"{hardware.name}: {operand} buffer holds {words} words; SCALE-Sim's "
            f"smallest SRAM is 1 kB ({KB_WORDS} words)"
        )
    return words // KB_WORDS


def format_cfg(hardware: Hardware, run_name: str | None = None) -> tuple[str, list[str]]:
    """SCALE-Sim 3.0.0 cfg text for ``hardware`` and notes on what SCALE-Sim will not see.

    Sizes and bandwidth are converted to words of each operand's datatype; an unbounded DRAM
    becomes ``InterfaceBandwidth: CALC``. Cycles of a stall-free run depend only on the array and
    the dataflow, so those always carry over exactly.
    """
    sram_kb = [_kb(hardware, op) for op in OPERANDS]
    notes = []
    if any(hardware.buffers.capacity_bytes(op) % (KB_WORDS * hardware.word_bytes(op)) for op in OPERANDS):
        notes.append(f"SRAM sizes rounded down to whole kB of words: {', '.join(map(str, sram_kb))} kB")
    if hardware.buffers.unified:
        notes.append("the unified glb is written as three SRAMs of its split")
    bandwidth_bytes = hardware.dram.bandwidth_bytes_per_cycle
    mode, words = "CALC", 1
    if not math.isinf(bandwidth_bytes):
        mode, words = "USER", max(1, int(bandwidth_bytes // hardware.word_bytes("ifmap")))
        if words * hardware.word_bytes("ifmap") != bandwidth_bytes:
            notes.append(f"DRAM bandwidth rounded to {words} words/cycle")
    if any(hardware.word_bytes(op) != 1 for op in OPERANDS):
        notes.append("SCALE-Sim counts words, not bytes: its traffic figures are in words of each datatype")
    if hardware.sparsity.enabled:
        notes.append("hardware sparse support is not exported; SCALE-Sim runs the dense network")
    if hardware.pe.precision != "fixed":
        notes.append(
            f"pe.precision {hardware.pe.precision} is not exported; SCALE-Sim does one MAC per PE per cycle"
        )
    notes.append("SCALE-Sim models no clock, DRAM latency, power states or energy")
    run = run_name or hardware.name
    if any(c in run for c in "\n[]"):
        raise ExportFormatError(f"run_name: {run!r} cannot be written to a cfg")
    text = f"""[general]
run_name = {run}

[architecture_presets]
ArrayHeight : {hardware.pe.rows}
ArrayWidth : {hardware.pe.cols}
IfmapSramSzkB : {sram_kb[0]}
FilterSramSzkB : {sram_kb[1]}
OfmapSramSzkB : {sram_kb[2]}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {words}
Dataflow : {hardware.pe.dataflow}
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : {words}
IfmapSRAMBankNum : 1
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : {words}
FilterSRAMBankNum : 1
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : {mode}
UseRamulatorTrace : False
"""
    return text, notes


@dataclass(frozen=True)
class ScaleSimFiles:
    """What ``write_scalesim`` wrote, and the notes on what SCALE-Sim will not see."""

    cfg: str
    topology: str
    layout: str
    notes: tuple[str, ...]

    def command(self, python: str = "python", results: str = "results") -> list[str]:
        """The SCALE-Sim 3.0.0 command line that runs these files; reports land in ``results/<run_name>``."""
        return [
            python,
            "-m",
            "scalesim.scale",
            "-c",
            self.cfg,
            "-t",
            self.topology,
            "-l",
            self.layout,
            "-p",
            results,
            "-i",
            "conv",
        ]


def write_scalesim(network: Network, hardware: Hardware, directory: str | os.PathLike[str]) -> ScaleSimFiles:
    """Write ``scalesim.cfg``, ``topology.csv`` and ``layout.csv`` for ``network`` on ``hardware``.

    SCALE-Sim 3.0.0 runs them unchanged; its stall-free cycles per layer equal accelsim's compute
    cycles (the live round trip in tests/test_scalesim_xval.py holds this).
    """
    rows, topology_notes = network_rows(network)
    cfg_text, cfg_notes = format_cfg(hardware, run_name=network.name)
    os.makedirs(directory, exist_ok=True)
    files = ScaleSimFiles(
        cfg=os.path.join(directory, "scalesim.cfg"),
        topology=os.path.join(directory, "topology.csv"),
        layout=os.path.join(directory, "layout.csv"),
        notes=tuple(topology_notes + cfg_notes),
    )
    for path, text in (
        (files.cfg, cfg_text),
        (files.topology, format_topology(rows)),
        (files.layout, format_layout(rows)),
    ):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return files
