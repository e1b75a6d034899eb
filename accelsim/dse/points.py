"""A design point: what to simulate (network + params, hardware, mode, optional pruning plan).

A point is identified by the sha256 of its canonical JSON (sorted keys, no whitespace), so the
same point hashes the same in every process and every run; the results store is keyed by it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from accelsim.arch.hardware import Hardware, load_hardware
from accelsim.dse.plans import check_plan

__all__ = ["Point", "POINT_SCHEMA", "canonical_json", "flatten_hardware"]

#: Part of every hash: bump it when the meaning of a field changes, so old store rows stop matching.
#: (Plans got `pruning`'s granularity names before any plan point could be evaluated or stored, so
#: that change kept schema 1, and with it the keys of all dense points.)
POINT_SCHEMA = 1


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the byte-stable form that hashes are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _plain(value: Any, where: str) -> Any:
    """A JSON-normalised deep copy (tuples become lists); rejects what JSON cannot round-trip."""
    try:
        return json.loads(canonical_json(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: must be JSON-serialisable plain data, got {value!r} ({exc})") from None


@dataclass(frozen=True, eq=False)
class Point:
    """One design point. Construction validates; equality and hashing go by `key`.

    - `network`: zoo name; `network_params`: keyword arguments for its builder (e.g. input_hw).
    - `hardware`: a `Hardware`, its `to_dict()` form, or a preset name / YAML path.
    - `mode`: simulation mode (checked against `accelsim.timing.simulate.MODES`).
    - `pruning`: optional plan ``{granularity, amount, block_shape, n, m, scope, seed}`` (see
      `accelsim.dse.plans`; stored with its defaults filled in); `masks_hash`: optional content
      hash of a concrete `Masks` (hashed and stored only: `evaluate` cannot rebuild the masks).
      Both are part of the key; a point with neither is dense.
    Treat the dict fields as read-only: the key is computed once, at construction.
    """

    network: str
    hardware: Hardware
    mode: str = "analytical"
    network_params: Mapping[str, Any] = field(default_factory=dict)
    pruning: Mapping[str, Any] | None = None
    masks_hash: str | None = None
    key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from accelsim.timing.simulate import MODES  # read at call time: other modes register there

        if not isinstance(self.network, str) or not self.network:
            raise ValueError(f"network: must be a non-empty zoo name, got {self.network!r}")
        hardware = self.hardware
        if isinstance(hardware, str):
            hardware = load_hardware(hardware)
        elif isinstance(hardware, Mapping):
            hardware = Hardware.from_dict(dict(hardware), source="point hardware")
        elif not isinstance(hardware, Hardware):
            raise ValueError(
                f"hardware: must be a Hardware, its dict or a preset name, got {type(hardware).__name__}"
            )
        object.__setattr__(self, "hardware", hardware)
        if self.mode not in MODES:
            raise ValueError(f"mode: unknown simulation mode {self.mode!r}; choose one of {list(MODES)}")
        if not isinstance(self.network_params, Mapping):
            raise ValueError(f"network_params: must be a mapping, got {self.network_params!r}")
        object.__setattr__(self, "network_params", _plain(dict(self.network_params), "network_params"))
        object.__setattr__(self, "pruning", check_plan(self.pruning))
        if self.masks_hash is not None and not (
            isinstance(self.masks_hash, str)
            and len(self.masks_hash) == 64
            and all(c in "0123456789abcdef" for c in self.masks_hash)
        ):
            raise ValueError(
                f"masks_hash: must be a 64-digit lowercase sha256 hex digest, got {self.masks_hash!r}"
            )
        digest = hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()
        object.__setattr__(self, "key", digest)

    # ---- identity -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    @property
    def is_sparse(self) -> bool:
        return self.pruning is not None or self.masks_hash is not None

    # ---- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": POINT_SCHEMA,
            "network": self.network,
            "network_params": self.network_params,
            "hardware": self.hardware.to_dict(),
            "mode": self.mode,
            "pruning": self.pruning,
            "masks_hash": self.masks_hash,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Point:
        if data.get("schema") != POINT_SCHEMA:
            raise ValueError(f"point schema {data.get('schema')!r} is not {POINT_SCHEMA}")
        return cls(
            network=data["network"],
            hardware=data["hardware"],
            mode=data["mode"],
            network_params=data.get("network_params") or {},
            pruning=data.get("pruning"),
            masks_hash=data.get("masks_hash"),
        )

    def describe(self) -> dict[str, Any]:
        """The flat, scalar columns that identify this point in a record (no results)."""
        row = {
            "point_key": self.key,
            "network": self.network,
            "network_params": canonical_json(self.network_params),
            "mode": self.mode,
            "pruning": canonical_json(self.pruning) if self.pruning is not None else "",
            "masks_hash": self.masks_hash or "",
            "hardware": self.hardware.name,
            "hardware_hash": self.hardware.content_hash(),
        }
        row.update(flatten_hardware(self.hardware))
        return row


def flatten_hardware(hardware: Hardware) -> dict[str, Any]:
    """Hardware fields as dotted-path columns (``pe.rows``), the same paths `Hardware.replace` and
    sweep axes use; lists become canonical JSON so every value is a scalar. `name` is left out
    (records carry it as ``hardware``)."""
    out: dict[str, Any] = {}

    def walk(node: Mapping, prefix: str) -> None:
        for key, value in node.items():
            path = f"{prefix}{key}"
            if isinstance(value, Mapping):
                walk(value, path + ".")
            elif isinstance(value, (list, tuple)):
                out[path] = canonical_json(list(value))
            else:
                out[path] = value

    data = hardware.to_dict()
    data.pop("name", None)
    walk(data, "")
    return out
