"""Energy as an action table (Accelergy style): the simulator counts, a table prices.

Units, fixed here once: dynamic energy in pJ per action (``mac`` per MAC, SRAM/DRAM ``read`` and
``write`` per byte), leakage in mW per (component, power state), transitions (``wake``) in pJ.
Tables live as YAML in ``accelsim/energy_tables/`` and are resolved for a :class:`Hardware`,
because costs depend on its MAC precision, buffer sizes and array size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import NoReturn

from accelsim.arch.area import AREA_KEYS, Area, pe_register_bits, resolve_area
from accelsim.arch.hardware import DATATYPE_BITS, DATATYPE_BYTES, Buffer, Hardware
from workloads import strict_yaml
from workloads.quoting import short

__all__ = [
    "EnergyEntry",
    "EnergyTable",
    "EnergyTableError",
    "MissingEnergyError",
    "load_energy_table",
    "list_energy_tables",
    "COMPONENTS",
    "STATES",
]

STATES = ("active", "idle", "sleep")
COMPONENTS = ("pe_array", "vector_unit", "ifmap_sram", "filter_sram", "ofmap_sram", "glb", "dram")
_MAC_ACTIONS = ("mac", "mac_gated", "mac_skipped")


class EnergyTableError(ValueError):
    """Malformed energy table YAML; names table, path (component/action) and value."""


class MissingEnergyError(KeyError):
    """A (component, action) or (component, state) the table does not price."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class EnergyEntry:
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class EnergyTable:
    name: str
    actions: Mapping  # (component, action) -> EnergyEntry in pJ per action
    leakage: Mapping  # (component, state) -> EnergyEntry in mW
    transitions: Mapping  # (component, "wake") -> EnergyEntry in pJ
    area: Area | None = None  # the hardware's area from the same table (`accelsim.arch.area`)

    def __post_init__(self):
        for attr in ("actions", "leakage", "transitions"):
            object.__setattr__(self, attr, MappingProxyType(dict(getattr(self, attr))))

    def _get(self, mapping, component, key, what):
        try:
            return mapping[(component, key)]
        except KeyError:
            known = sorted({c for c, _ in mapping})
            raise MissingEnergyError(
                "energy table "
                f"{short(self.name)} has no {what} for component {short(component)}, {short(key)} "
                f"(components: {', '.join(known)})"
            ) from None

    def energy_pj(self, component: str, action: str) -> float:
        return self._get(self.actions, component, action, "action").value

    def source(self, component: str, action: str) -> str:
        return self._get(self.actions, component, action, "action").source

    def leak_mw(self, component: str, state: str) -> float:
        return self._get(self.leakage, component, state, "leakage state").value

    def transition_pj(self, component: str, transition: str = "wake") -> float:
        return self._get(self.transitions, component, transition, "transition").value

    def entries(self) -> Iterator[tuple[str, str, float, str, str]]:
        """Rows ``(component, action, value, unit, source)``; leakage rows use action
        ``leak_<state>`` (mW), transitions their name (pJ)."""
        for (c, a), e in self.actions.items():
            yield c, a, e.value, e.unit, e.source
        for (c, s), e in self.leakage.items():
            yield c, f"leak_{s}", e.value, e.unit, e.source
        for (c, t), e in self.transitions.items():
            yield c, t, e.value, e.unit, e.source

    def total_energy_pj(self, counts: Mapping) -> float:
        """Sum of count x pJ/action over ``counts`` ((component, action) -> count)."""
        return math.fsum(n * self.energy_pj(c, a) for (c, a), n in counts.items() if n)

    def leakage_energy_pj(self, residency_cycles: Mapping, clock_mhz: float) -> float:
        """E[pJ] = P[mW] * t[s] * 1e9 with t = cycles / (clock_mhz * 1e6)."""
        if not clock_mhz > 0:
            raise ValueError(f"clock_mhz must be positive, got {short(clock_mhz)}")
        return math.fsum(
            self.leak_mw(c, s) * n * 1e3 / clock_mhz for (c, s), n in residency_cycles.items() if n
        )


# ---------------------------------------------------------------- YAML reading
def _tables_dir():
    return resources.files("accelsim.arch").joinpath("energy_tables")


def list_energy_tables() -> list[str]:
    return sorted(p.name[:-5] for p in _tables_dir().iterdir() if p.name.endswith(".yaml"))


def _read(name: str) -> _Doc:
    resource = _tables_dir().joinpath(f"{name}.yaml")
    if not resource.is_file():
        raise EnergyTableError(
            f"unknown energy table {short(name)}; available: {', '.join(list_energy_tables())}"
        )
    try:
        doc = strict_yaml.load(resource.read_text(encoding="utf-8"), f"energy_tables/{name}.yaml")
    except strict_yaml.StrictYAMLError as exc:
        raise EnergyTableError(str(exc)) from None
    return _Doc(name, doc)


class _Doc:
    """Strict accessor over a parsed table: every error names table, path, value and line."""

    def __init__(self, name, root):
        self.name, self.root = name, root

    def fail(self, node: object, key: object, path: str, msg: str) -> NoReturn:
        line = strict_yaml.line_of(node, key)
        loc = f"energy_tables/{self.name}.yaml" + (f":{line}" if line else "")
        raise EnergyTableError(f"{loc}: table {self.name}: {path}: {msg}")

    def mapping(self, node, key, path, allowed=None, required=()):
        if isinstance(node, dict):
            value = node.get(key)
        else:
            value = node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None
        if not isinstance(value, dict):
            self.fail(node, key, path, f"must be a mapping, got {short(value)}")
        for k in value:
            if allowed is not None and k not in allowed:
                self.fail(value, k, f"{path}.{k}", f"unknown key {short(k)}; allowed: {', '.join(allowed)}")
        for k in required:
            if k not in value:
                self.fail(value, None, f"{path}.{k}", "missing required key")
        return value

    def entry(self, node, key, path, unit, extra=()):
        """An ``{value, unit, source}`` mapping with the expected unit -> EnergyEntry."""
        e = self.mapping(
            node, key, path, ("value", "unit", "source") + tuple(extra), ("value", "unit", "source")
        )
        v = e["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            self.fail(e, "value", f"{path}.value", f"must be a non-negative number, got {short(v)}")
        if e["unit"] != unit:
            self.fail(e, "unit", f"{path}.unit", f"must be {short(unit)}, got {short(e['unit'])}")
        if not isinstance(e["source"], str) or not e["source"].strip():
            self.fail(e, "source", f"{path}.source", f"must be a non-empty string, got {short(e['source'])}")
        return EnergyEntry(float(v), unit, e["source"])


_ABSOLUTE_KEYS = ("name", "kind", "mac", "mac_variants", "array", "sram", "dram", "leakage", "wake", "area")
_ARRAY_KEYS = ("clock", "wire")
_RATIO_KEYS = ("name", "kind", "base", "ratios")


def _check_root(doc: _Doc, allowed):
    root = doc.root
    if not isinstance(root, dict):
        doc.fail(root, None, "<root>", f"must be a mapping, got {short(root)}")
    for k in root:
        if k not in allowed:
            doc.fail(root, k, k, f"unknown key {short(k)}; allowed: {', '.join(allowed)}")
    for k in allowed:
        if k not in root:
            doc.fail(root, None, k, "missing required key")
    if root["name"] != doc.name:
        doc.fail(
            root, "name", "name", f"must equal the file name {short(doc.name)}, got {short(root['name'])}"
        )


def _interp_log(anchors, size):
    """Linear in log(size) between anchors, clamped outside; anchors sorted by size."""
    sizes = [s for s, _ in anchors]
    if size <= sizes[0]:
        return anchors[0][1]
    if size >= sizes[-1]:
        return anchors[-1][1]
    for (s0, e0), (s1, e1) in zip(anchors, anchors[1:]):
        if s0 <= size <= s1:
            t = (math.log(size) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return e0 + t * (e1 - e0)
    raise AssertionError("unreachable")


def _resolve_absolute(doc: _Doc, hw: Hardware):
    _check_root(doc, _ABSOLUTE_KEYS)
    root = doc.root
    actions: dict[tuple[str, str], EnergyEntry] = {}
    leakage: dict[tuple[str, str], EnergyEntry] = {}
    transitions: dict[tuple[str, str], EnergyEntry] = {}
    mac_t = hw.datatypes.mac
    macs = doc.mapping(root, "mac", "mac", tuple(DATATYPE_BITS), tuple(DATATYPE_BITS))
    prec = doc.mapping(macs, mac_t, f"mac.{mac_t}", ("mult", "add"), ("mult", "add"))
    mult, add = (doc.entry(prec, k, f"mac.{mac_t}.{k}", "pJ") for k in ("mult", "add"))
    mac_pj = mult.value + add.value
    actions[("pe_array", "mac")] = EnergyEntry(
        mac_pj, "pJ/MAC", f"{mac_t} mult + add: {mult.source}; {add.source}"
    )
    variants = doc.mapping(root, "mac_variants", "mac_variants", _MAC_ACTIONS[1:], _MAC_ACTIONS[1:])
    for action in _MAC_ACTIONS[1:]:
        frac = doc.entry(variants, action, f"mac_variants.{action}", "fraction of mac")
        actions[("pe_array", action)] = EnergyEntry(
            frac.value * mac_pj, "pJ/MAC", f"{frac.value} x mac: {frac.source}"
        )

    # Pooling and residual adds are one accumulator-width add (or compare) per element.
    acc_t = hw.datatypes.accum
    acc = doc.mapping(macs, acc_t, f"mac.{acc_t}", ("mult", "add"), ("mult", "add"))
    acc_add = doc.entry(acc, "add", f"mac.{acc_t}.add", "pJ")
    actions[("vector_unit", "op")] = EnergyEntry(acc_add.value, "pJ/op", f"one {acc_t} add: {acc_add.source}")
    actions[("pe_array", "accumulate")] = EnergyEntry(
        acc_add.value, "pJ/add", f"one {acc_t} add per partial sum: {acc_add.source}"
    )
    area = resolve_area(doc, doc.mapping(root, "area", "area", AREA_KEYS, AREA_KEYS), hw)
    array = doc.mapping(root, "array", "array", _ARRAY_KEYS, _ARRAY_KEYS)
    clock = doc.entry(array, "clock", "array.clock", "fJ per register bit per cycle")
    bits = pe_register_bits(hw)
    actions[("pe_array", "clock")] = EnergyEntry(
        clock.value * bits / 1e3, "pJ/PE-cycle", f"{clock.value:g} fJ x {bits} register bits: {clock.source}"
    )
    wire = doc.entry(array, "wire", "array.wire", "fJ per bit per mm")
    pitch = area.pe_pitch_mm
    actions[("pe_array", "forward")] = EnergyEntry(
        8 * wire.value * pitch / 1e3,
        "pJ/B-hop",
        f"8 bits x {wire.value:g} fJ/bit/mm x PE pitch {pitch * 1e3:.1f} um (sqrt of the PE area): "
        f"{wire.source}",
    )

    sram = doc.mapping(root, "sram", "sram", ("anchors", "write_over_read"), ("anchors", "write_over_read"))
    raw = sram["anchors"]
    if not isinstance(raw, list) or not raw:
        doc.fail(sram, "anchors", "sram.anchors", f"must be a non-empty list, got {short(raw)}")
    anchors = []
    for i, node in enumerate(raw):
        e = doc.entry(raw, i, f"sram.anchors[{i}]", "pJ per 64-bit read", extra=("size_bytes",))
        size = node.get("size_bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            doc.fail(
                node,
                "size_bytes",
                f"sram.anchors[{i}].size_bytes",
                f"must be a positive integer, got {short(size)}",
            )
        anchors.append((size, e.value, e.source))
    anchors.sort()
    w_sram = doc.entry(sram, "write_over_read", "sram.write_over_read", "ratio")
    cite = "; ".join(s for _, _, s in anchors)
    for comp, buf in hw.buffers.components().items():
        per_bank = buf.size_bytes / buf.banks
        pj64 = _interp_log([(s, v) for s, v, _ in anchors], per_bank)
        src = f"log-linear interpolation in bank size ({per_bank:.0f} B -> {pj64:.4g} pJ/64b, /8 per byte) of: {cite}"
        actions[(comp, "read")] = EnergyEntry(pj64 / 8, "pJ/B", src)
        actions[(comp, "write")] = EnergyEntry(
            pj64 / 8 * w_sram.value, "pJ/B", f"{w_sram.value} x read: {w_sram.source}; {src}"
        )

    dram = doc.mapping(root, "dram", "dram", ("read", "write_over_read"), ("read", "write_over_read"))
    rd = doc.entry(dram, "read", "dram.read", "pJ per 64-bit access")
    w_dram = doc.entry(dram, "write_over_read", "dram.write_over_read", "ratio")
    actions[("dram", "read")] = EnergyEntry(rd.value / 8, "pJ/B", f"/8 per byte: {rd.source}")
    actions[("dram", "write")] = EnergyEntry(
        rd.value / 8 * w_dram.value, "pJ/B", f"{w_dram.value} x read: {w_dram.source}; {rd.source}"
    )

    _resolve_static(doc, hw, leakage, transitions)
    return EnergyTable(doc.name, actions, leakage, transitions, area)


_SCALE = {
    "pe_array": ("PE", lambda hw, buf: hw.pe.num_pes),
    "sram": ("KiB", lambda hw, buf: buf.size_bytes / 1024),
    "dram": (None, lambda hw, buf: 1),
}


def _resolve_static(doc: _Doc, hw: Hardware, leakage, transitions):
    """Leakage (mW) and wake (pJ), scaled by PE count or KiB of SRAM."""
    groups = tuple(_SCALE)
    leak = doc.mapping(doc.root, "leakage", "leakage", groups, groups)
    wake = doc.mapping(doc.root, "wake", "wake", groups, groups)
    targets: list[tuple[str, str, Buffer | None]] = [("pe_array", "pe_array", None), ("dram", "dram", None)]
    targets += [(comp, "sram", buf) for comp, buf in hw.buffers.components().items()]
    for comp, group, buf in targets:
        per, scale_of = _SCALE[group]
        scale = scale_of(hw, buf)
        suffix, how = (f" per {per}", f" x {scale:g} {per}") if per else ("", "")
        states = doc.mapping(leak, group, f"leakage.{group}", STATES, STATES)
        for state in STATES:
            e = doc.entry(states, state, f"leakage.{group}.{state}", "mW" + suffix)
            leakage[(comp, state)] = EnergyEntry(
                e.value * scale, "mW", f"{e.value} mW{suffix}{how}: {e.source}"
            )
        e = doc.entry(wake, group, f"wake.{group}", "pJ" + suffix)
        transitions[(comp, "wake")] = EnergyEntry(
            e.value * scale, "pJ", f"{e.value} pJ{suffix}{how}: {e.source}"
        )


def _resolve_ratio(doc: _Doc, hw: Hardware):
    _check_root(doc, _RATIO_KEYS)
    base_name = doc.root["base"]
    if base_name == doc.name or base_name not in list_energy_tables():
        doc.fail(doc.root, "base", "base", f"must name another energy table, got {short(base_name)}")
    base = load_energy_table(base_name, hw)
    keys = ("mac", "rf", "array", "buffer", "dram")
    ratios = doc.mapping(doc.root, "ratios", "ratios", keys, keys)
    r = {k: doc.entry(ratios, k, f"ratios.{k}", "x MAC") for k in keys}
    anchor = base.actions[("pe_array", "mac")]
    mac_pj = r["mac"].value * anchor.value
    word = DATATYPE_BYTES[hw.datatypes.mac]
    scale_src = f"scale: 1 MAC = {anchor.value:.4g} pJ ({base_name} {hw.datatypes.mac} MAC), word = {word} B"
    actions = {("pe_array", "mac"): EnergyEntry(mac_pj, "pJ/MAC", f"{r['mac'].source}; {scale_src}")}
    for action in _MAC_ACTIONS[1:]:
        frac = base.actions[("pe_array", action)].value / anchor.value if anchor.value else 0.0
        actions[("pe_array", action)] = EnergyEntry(frac * mac_pj, "pJ/MAC", base.source("pe_array", action))
    for shared in (("vector_unit", "op"), ("pe_array", "clock"), ("pe_array", "accumulate")):
        actions[shared] = base.actions[shared]
    hop = r["array"].value * mac_pj / word
    actions[("pe_array", "forward")] = EnergyEntry(
        hop, "pJ/B-hop", f"{r['array'].source} (used for every hop), per word / {word} B; {scale_src}"
    )
    for comp, key in [(c, "buffer") for c in hw.buffers.components()] + [("dram", "dram")]:
        per_byte = r[key].value * mac_pj / word
        for action in ("read", "write"):
            actions[(comp, action)] = EnergyEntry(
                per_byte, "pJ/B", f"{r[key].source}, per word / {word} B; {scale_src}"
            )
    return EnergyTable(doc.name, actions, base.leakage, base.transitions, base.area)


@functools.lru_cache(maxsize=512)
def load_energy_table(name: str, hardware: Hardware) -> EnergyTable:
    """Resolve table ``name`` for ``hardware`` (MAC precision, buffer and array sizes).

    Cached: tables are shipped package data and `Hardware` is frozen, and parsing the YAML
    dominated short simulations and sweeps."""
    doc = _read(name)
    kind = doc.root.get("kind") if isinstance(doc.root, dict) else None
    if kind == "absolute":
        return _resolve_absolute(doc, hardware)
    if kind == "ratio":
        return _resolve_ratio(doc, hardware)
    doc.fail(doc.root, "kind", "kind", f"must be 'absolute' or 'ratio', got {short(kind)}")
