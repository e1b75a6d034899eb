"""Hardware as data: frozen nested dataclasses, strict YAML in and out, presets by name.

Every field name carries its unit (``size_bytes``, ``clock_mhz``, ``latency_cycles``).
Validation happens once, at construction; errors are :class:`HardwareError` and read like
``edge.yaml:7: buffers.ifmap.size_bytes: must be a positive integer, got -4``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from accelsim.arch.dataflow import DATAFLOWS, OPERANDS
from accelsim.arch.hardware_fields import (
    MAX_BANKS,
    MAX_BUFFER_BYTES,
    MAX_CLOCK_MHZ,
    MAX_LATENCY_CYCLES,
    MAX_NM_GROUP,
    MAX_PE_DIM,
    MAX_PORT_BYTES_PER_CYCLE,
    index_bits as _index_bits,
    mac_bits as _mac_bits,
    name as _name,
    nonneg_int as _nonneg_int,
    one_of as _one_of,
    pair_of_positive_ints as _pair_of_positive_ints,
    positive_float as _positive_float,
    positive_int as _positive_int,
    positive_or_unbounded as _positive_or_unbounded,
    split as _split,
    upto as _upto,
)
from accelsim.arch.hardware_schema import (
    CrossFieldError as _StyleError,
    HardwareError,
    build,
    checked_field as _f,
    nested_field as _sub,
    plain_dict,
    validate_fields as _validate,
)
from accelsim.arch.precision import (
    DATATYPE_ALIASES,
    DATATYPE_BITS,
    DATATYPE_BYTES,
    PRECISION_MODES,
    check_precision,
    stream_cycles,
)
from workloads import strict_yaml
from workloads.quoting import short
from workloads.sparsity import NM, Block, Dense, Structure, Unstructured

__all__ = [
    "HardwareError",
    "PEArray",
    "Buffer",
    "Buffers",
    "DRAM",
    "Datatypes",
    "PowerPolicy",
    "Power",
    "Hardware",
    "load_hardware",
    "list_presets",
    "DATAFLOWS",
    "DATATYPE_BITS",
    "DATATYPE_BYTES",
    "PRECISION_MODES",
    "POLICIES",
    "OPERANDS",
    "SparseOperand",
    "Sparsity",
    "SPARSE_MODES",
    "SPARSE_FORMATS",
    "Memory",
    "MEMORY_MODELS",
]

POLICIES = ("never", "gate_after")
_BUFFER_NAMES = {"ifmap": "ifmap_sram", "filter": "filter_sram", "ofmap": "ofmap_sram"}
SPARSE_MODES = ("none", "gating", "skipping")
SPARSE_FORMATS = ("dense", "csr", "bitmap", "bsr", "nm")
MEMORY_MODELS = ("reuse", "scalesim")


# ---------------------------------------------------------------- dataclasses
@dataclass(frozen=True)
class PEArray:
    rows: int = _f(_upto(_positive_int, MAX_PE_DIM))
    cols: int = _f(_upto(_positive_int, MAX_PE_DIM))
    dataflow: str = _f(_one_of(DATAFLOWS))
    # Omitted from to_dict/YAML while default, so every fixed-precision preset keeps its content hash.
    precision: str = _f(_one_of(PRECISION_MODES), default="fixed", omit_default=True)
    mac_bits: int = _f(_mac_bits, default=8, omit_default=True)

    def __post_init__(self):
        _validate(self)

    @property
    def num_pes(self) -> int:
        return self.rows * self.cols

    def stream_cycles(self, steps: int, operand_bits: int, weight_bits: int) -> int:
        """Cycles of ``steps`` streamed MAC steps at this array's precision mode."""
        return stream_cycles(self.precision, self.mac_bits, steps, operand_bits, weight_bits)


@dataclass(frozen=True, kw_only=True)
class Buffer:
    size_bytes: int = _f(_upto(_positive_int, MAX_BUFFER_BYTES))
    banks: int = _f(_upto(_positive_int, MAX_BANKS), default=1)
    read_bytes_per_cycle: int = _f(_upto(_positive_int, MAX_PORT_BYTES_PER_CYCLE))
    write_bytes_per_cycle: int = _f(_upto(_positive_int, MAX_PORT_BYTES_PER_CYCLE))

    def __post_init__(self):
        _validate(self)


@dataclass(frozen=True)
class Buffers:
    ifmap: Buffer | None = _sub(Buffer, default=None)
    filter: Buffer | None = _sub(Buffer, default=None)
    ofmap: Buffer | None = _sub(Buffer, default=None)
    glb: Buffer | None = _sub(Buffer, default=None)
    glb_split: tuple = _f(_split, default=(1 / 3, 1 / 3, 1 / 3))

    def __post_init__(self):
        _validate(self)
        dedicated = [self.ifmap, self.filter, self.ofmap]
        if self.glb is not None and any(b is not None for b in dedicated):
            raise _StyleError("give either the dedicated buffers (ifmap, filter, ofmap) or one glb, not both")
        if self.glb is None and any(b is None for b in dedicated):
            missing = [n for n, b in zip(OPERANDS, dedicated) if b is None]
            raise _StyleError(f"missing dedicated buffer(s) {', '.join(missing)} (or give one unified glb)")

    @property
    def unified(self) -> bool:
        return self.glb is not None

    def _operand(self, operand):
        if operand not in OPERANDS:
            raise KeyError(f"unknown operand {short(operand)}; expected one of {', '.join(OPERANDS)}")
        return operand

    def for_operand(self, operand: str) -> Buffer:
        if self.glb is not None:  # unified
            return self.glb
        return getattr(self, self._operand(operand))

    def capacity_bytes(self, operand: str) -> int:
        operand = self._operand(operand)
        if self.glb is not None:  # unified
            return int(math.floor(self.glb.size_bytes * self.glb_split[OPERANDS.index(operand)]))
        return getattr(self, operand).size_bytes

    def buffer_name(self, operand: str) -> str:
        operand = self._operand(operand)
        return "glb" if self.unified else _BUFFER_NAMES[operand]

    def components(self) -> dict[str, Buffer]:
        """Energy-table component name -> Buffer, for the buffers present."""
        if self.glb is not None:  # unified
            return {"glb": self.glb}
        return {_BUFFER_NAMES[op]: getattr(self, op) for op in OPERANDS}


@dataclass(frozen=True)
class DRAM:
    bandwidth_bytes_per_cycle: float = _f(_positive_or_unbounded)
    latency_cycles: int = _f(_upto(_nonneg_int, MAX_LATENCY_CYCLES))

    def __post_init__(self):
        _validate(self)


@dataclass(frozen=True)
class Datatypes:
    ifmap: str = _f(_one_of(tuple(DATATYPE_BITS)))
    filter: str = _f(_one_of(tuple(DATATYPE_BITS)))
    ofmap: str = _f(_one_of(tuple(DATATYPE_BITS)))
    accum: str = _f(_one_of(tuple(DATATYPE_BITS)))

    def __post_init__(self):
        _validate(self)

    def _type(self, operand: str) -> str:
        if operand not in ("ifmap", "filter", "ofmap", "accum"):
            raise KeyError(f"unknown operand {short(operand)}; expected ifmap, filter, ofmap or accum")
        return getattr(self, operand)

    def bits(self, operand: str) -> int:
        return DATATYPE_BITS[self._type(operand)]

    def bytes(self, operand: str) -> float:
        return DATATYPE_BYTES[self._type(operand)]

    @property
    def mac(self) -> str:
        """MAC precision: the wider of ifmap/filter; on a tie a floating type wins, else ifmap."""
        a, b = self.ifmap, self.filter
        if DATATYPE_BITS[b] > DATATYPE_BITS[a]:
            return b
        if DATATYPE_BITS[b] == DATATYPE_BITS[a] and a.startswith("int") and not b.startswith("int"):
            return b
        return a


@dataclass(frozen=True)
class PowerPolicy:
    policy: str = _f(_one_of(POLICIES), default="never")
    idle_cycles_to_gate: int = _f(_upto(_nonneg_int, MAX_LATENCY_CYCLES), default=0)
    wake_latency_cycles: int = _f(_upto(_nonneg_int, MAX_LATENCY_CYCLES), default=0)

    def __post_init__(self):
        _validate(self)


@dataclass(frozen=True)
class Power:
    pe_array: PowerPolicy = _sub(PowerPolicy, default=PowerPolicy())
    buffers: PowerPolicy = _sub(PowerPolicy, default=PowerPolicy())
    dram: PowerPolicy = _sub(PowerPolicy, default=PowerPolicy())

    def __post_init__(self):
        _validate(self)


@dataclass(frozen=True, kw_only=True)
class SparseOperand:
    """How the hardware treats the zeros of one operand (docs/model.md, "Sparsity").

    ``mode``: ``none`` (zeros are multiplied like any value), ``gating`` (a zero operand gates
    its MAC: energy ``mac_gated``, no time saved) or ``skipping`` (zeros are skipped: energy
    ``mac_skipped``, and each PE lane finishes when its own non-zero work does).
    ``format``: how the operand is stored and moved (``dense``, ``csr``, ``bitmap``, ``bsr`` with
    ``block`` = [rows, cols] of the GEMM view, ``nm`` with ``n`` of every ``m`` kept along the
    reduction). ``index_bits``: width of a stored index (CSR column / BSR block-column indices and
    row pointers; N:M in-group offsets use ceil(log2 m) bits). ``decode_cycles_per_fold``: cycles
    a non-empty fold spends decoding its compressed operand before it computes.
    """

    mode: str = _f(_one_of(SPARSE_MODES), default="none")
    format: str = _f(_one_of(SPARSE_FORMATS), default="dense")
    block: tuple = _f(_pair_of_positive_ints, default=(1, 1))
    n: int = _f(_upto(_positive_int, MAX_NM_GROUP), default=2)
    m: int = _f(_upto(_positive_int, MAX_NM_GROUP), default=4)
    index_bits: int = _f(_index_bits, default=16)
    decode_cycles_per_fold: int = _f(_upto(_nonneg_int, MAX_LATENCY_CYCLES), default=0)

    def __post_init__(self):
        _validate(self)
        if self.n > self.m:
            raise _StyleError(f"n must be <= m, got n={self.n}, m={self.m}")
        if self.format == "nm" and self.mode != "skipping":
            raise _StyleError(
                f"format nm is structured skipping hardware; it needs mode skipping, got {short(self.mode)}"
            )

    @property
    def structure(self) -> Structure:
        """The sparsity structure the format stores: none (dense), any (csr, bitmap), blocks or N:M."""
        if self.format == "bsr":
            return Block(tuple(self.block))
        if self.format == "nm":
            return NM(self.n, self.m)
        return Dense() if self.format == "dense" else Unstructured()

    @property
    def format_spec(self) -> str | Block | NM | None:
        """The spec `accelsim.sparse.formats.encode` takes (``None`` for dense)."""
        structure = self.structure
        if isinstance(structure, (Block, NM)):
            return structure
        return None if isinstance(structure, Dense) else self.format


@dataclass(frozen=True)
class Sparsity:
    """Sparse support per operand: the weights (``filter``) and the input activations (``ifmap``).
    Activations are never stored compressed here: ``ifmap.format`` must be ``dense``."""

    weights: SparseOperand = _sub(SparseOperand, default=SparseOperand())
    ifmap: SparseOperand = _sub(SparseOperand, default=SparseOperand())

    def __post_init__(self):
        _validate(self)
        if self.ifmap.format != "dense":
            raise _StyleError(
                "ifmap.format: compressed activations are not modelled, "
                f"got {short(self.ifmap.format)} (use dense with mode gating or skipping)"
            )

    @property
    def enabled(self) -> bool:
        return self != Sparsity()


@dataclass(frozen=True)
class Memory:
    """How DRAM traffic is scheduled (docs/model.md, "Data movement"): ``reuse`` picks each
    layer's loop order and buffer tiles to minimise DRAM traffic (`accelsim.timing.tiling`);
    ``scalesim`` reproduces SCALE-Sim 3.0.0's fold order and refetches (cross-validation)."""

    model: str = _f(_one_of(MEMORY_MODELS), default="reuse")

    def __post_init__(self):
        _validate(self)


@dataclass(frozen=True)
class Hardware:
    name: str = _f(_name)
    clock_mhz: float = _f(_upto(_positive_float, MAX_CLOCK_MHZ))
    pe: PEArray = _sub(PEArray)
    buffers: Buffers = _sub(Buffers)
    dram: DRAM = _sub(DRAM)
    datatypes: Datatypes = _sub(Datatypes)
    power: Power = _sub(Power, default=Power())
    energy_table: str = _f(_name, default="horowitz_45nm")
    # Omitted from to_dict/YAML while it is the default, so dense presets keep their content hash.
    sparsity: Sparsity = _sub(Sparsity, default=Sparsity(), omit_default=True)
    memory: Memory = _sub(Memory, default=Memory(), omit_default=True)

    def __post_init__(self):
        _validate(self)
        for f in dataclasses.fields(self):
            if "cls" in f.metadata and getattr(self, f.name) is None:
                raise HardwareError(f"Hardware.{f.name}: required, got None")
        check_precision(self.pe.precision, self.pe.mac_bits, self.datatypes.ifmap, self.datatypes.filter)

    def word_bytes(self, operand: str) -> float:
        """Bytes per word of ``operand``: an int for byte-wide types, a fraction below a byte."""
        return self.datatypes.bytes(operand)

    def bytes_of(self, operand: str, words: int) -> int:
        """Bytes one transfer of ``words`` words of ``operand`` moves: whole bytes, packed bits."""
        return -(-words * self.datatypes.bits(operand) // 8)

    # -------------------------------------------------------------- serialisation
    def to_dict(self) -> dict:
        return plain_dict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    @classmethod
    def from_dict(cls, d, source: str = "<dict>") -> Hardware:
        return build(cls, d, source, "", None, None)

    @classmethod
    def from_yaml(cls, text: str, source: str = "<string>") -> Hardware:
        try:
            data = strict_yaml.load(text, source)
        except strict_yaml.StrictYAMLError as exc:
            raise HardwareError(str(exc)) from None
        return cls.from_dict(data, source=source)

    def content_hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def replace(self, dotted_path: str, value: Any) -> Hardware:
        """A validated copy with ``dotted_path`` (or a `DATATYPE_ALIASES` name) set to ``value``
        (``None`` removes an optional part)."""
        targets = DATATYPE_ALIASES.get(dotted_path) if isinstance(dotted_path, str) else None
        if targets is None:
            return self._replace_one(dotted_path, value)
        d = self.to_dict()
        for target in targets:
            d["datatypes"][target.split(".")[1]] = value
        return Hardware.from_dict(d, source=f"{self.name} (replace {dotted_path})")

    def _replace_one(self, dotted_path: str, value: Any) -> Hardware:
        d = self.to_dict()
        parts = dotted_path.split(".") if isinstance(dotted_path, str) else []
        node, cls, obj = d, Hardware, self
        for i, part in enumerate(parts):
            fields = {f.name: f for f in dataclasses.fields(cls)} if cls is not None else {}
            if part not in fields:
                raise HardwareError(
                    f"{self.name}: replace: unknown path {short(dotted_path)} "
                    f"({short(part)} is not one of {', '.join(fields) or 'nothing'})"
                )
            f = fields[part]
            sub_cls = f.metadata.get("cls")
            if i == len(parts) - 1:
                if value is None:
                    node.pop(part, None)
                else:
                    node[part] = plain_dict(value) if dataclasses.is_dataclass(value) else value
                break
            current = getattr(obj, part) if obj is not None else None
            if sub_cls is not None and part not in node and current is not None:
                node[part] = plain_dict(current)  # a part omitted from to_dict as default
            if sub_cls is None or part not in node:
                raise HardwareError(
                    f"{self.name}: replace: unknown path {short(dotted_path)} "
                    f"({'.'.join(parts[: i + 1])} is not present)"
                )
            node, cls, obj = node[part], sub_cls, current
        else:
            raise HardwareError(f"{self.name}: replace: unknown path {short(dotted_path)}")
        return Hardware.from_dict(d, source=f"{self.name} (replace {dotted_path})")


# ---------------------------------------------------------------- presets
def _preset_dir():
    return resources.files("accelsim.arch").joinpath("presets")


def list_presets() -> list[str]:
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def load_hardware(name_or_path) -> Hardware:
    """Load a preset by name (``"edge_16x16"``) or a hardware YAML file by path.

    A path is anything ending in ``.yaml``/``.yml`` or containing a directory separator; any other
    text is a preset name, so a file in the working directory named like a preset never shadows it
    (write ``./edge_16x16`` to load such a file)."""
    try:
        text = os.fspath(name_or_path)
    except TypeError:
        raise HardwareError(
            f"hardware: expected a preset name or a path, got {short(name_or_path)}"
        ) from None
    if not isinstance(text, str):
        text = os.fsdecode(text)
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    if text.endswith((".yaml", ".yml")) or any(sep in text for sep in separators):
        try:
            with open(text, encoding="utf-8") as fh:
                content = fh.read(strict_yaml.MAX_TEXT_CHARS + 1)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
            raise HardwareError(f"{text}: cannot read hardware file: {reason}") from None
        return Hardware.from_yaml(content, source=text)
    if text not in list_presets():
        hint = f" (to load the file {short(text)}, write ./{text})" if os.path.exists(text) else ""
        raise HardwareError(
            f"unknown hardware preset {short(text)}; available: {', '.join(list_presets())}{hint}"
        )
    resource = _preset_dir().joinpath(f"{text}.yaml")
    return Hardware.from_yaml(resource.read_text(encoding="utf-8"), source=f"presets/{text}.yaml")
