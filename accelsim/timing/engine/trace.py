"""The tile-level timeline of a run (`trace=True`): it grows with folds, never with cycles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Activity:
    component: str  # "pe_array", "vector_unit", "load_ifmap", "load_filter", "write_back"
    layer: str
    fold: int
    start_cycle: int
    end_cycle: int


@dataclass(frozen=True)
class PowerInterval:
    component: str
    state: str  # "active", "idle" or "sleep"
    start_cycle: int
    end_cycle: int


@dataclass(frozen=True)
class Trace:
    """Activities per component, power-state intervals and buffer occupancy change points."""

    layers: tuple[str, ...]
    layer_end_cycles: tuple[int, ...]  # the PE-array span of layer i ends here
    activities: tuple[Activity, ...]
    power: tuple[PowerInterval, ...]
    occupancy: dict  # buffer -> ((cycle, bytes), ...)
    capacity_bytes: dict  # buffer -> size in bytes

    def events(self) -> list[tuple[str, int]]:
        """`(event, cycle)` pairs, e.g. `("load_ifmap L0#1 start", 4)`, sorted by cycle then name:
        the form the tiny-scenario tests assert on."""
        out = []
        for a in self.activities:
            tag = f"{a.component} {a.layer}#{a.fold}"
            out.append((f"{tag} start", a.start_cycle))
            out.append((f"{tag} end", a.end_cycle))
        for p in self.power:
            out.append((f"{p.component} {p.state}", p.start_cycle))
        return sorted(out, key=lambda e: (e[1], e[0]))
