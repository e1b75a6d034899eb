"""The per-layer option: what one layer is given (a sparsity structure, an amount and bit widths).

``LayerOption`` is the typed value ``prune`` overrides and search plans hand over; fields left None
take the call's defaults (for the widths: keep the layer as it is, unquantized). ``prune`` reads the
structure and amount; the widths travel to the simulator and the accuracy oracle as
``workloads.quantization.LayerBits``. It grows by fields, so callers build it by keyword.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from pruning.granularity import NM, Granularity, as_granularity
from workloads.sparsity import from_fields

#: A float is a fraction of the units, an int a count (as in PyTorch).
Amount = float | int

#: The fields of the named-field spelling (`LayerOption.from_mapping`), as YAML plans write them.
MAPPING_FIELDS = ("amount", "granularity", "block_shape", "n", "m", "weight_bits", "activation_bits")
#: Bit widths a layer option may name (as `workloads.quantization.LayerBits` accepts).
MIN_WIDTH, MAX_WIDTH = 2, 16


def check_width(owner: str, field: str, value: object) -> int | None:
    """``value`` as a bit width (an int in [2, 16]) or None; a ValueError naming ``field`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_WIDTH <= value <= MAX_WIDTH:
        raise ValueError(
            f"{owner}: {field} must be an int bit width in [{MIN_WIDTH}, {MAX_WIDTH}] or None, got {value!r}"
        )
    return value


@dataclass(frozen=True, kw_only=True)
class LayerOption:
    """``structure`` pruned to ``amount`` (None: the call's default for either), weights held at
    ``weight_bits`` and the layer's input activations at ``activation_bits`` (None: unquantized). N:M
    takes no amount: its pattern fixes the density."""

    structure: Granularity | None = None
    amount: Amount | None = None
    weight_bits: int | None = None
    activation_bits: int | None = None

    def __post_init__(self) -> None:
        check_width("LayerOption", "weight_bits", self.weight_bits)
        check_width("LayerOption", "activation_bits", self.activation_bits)
        if self.structure is not None:
            object.__setattr__(self, "structure", as_granularity(self.structure))
        if isinstance(self.structure, NM) and self.amount is not None:
            raise ValueError(f"amount does not apply to N:M (its density is n/m), got amount={self.amount!r}")

    @classmethod
    def from_mapping(cls, spec: Mapping[str, object]) -> LayerOption:
        """From the named-field spelling: ``{"granularity": "nm", "n": 2, "m": 4}``, ``{"amount": 0.3}``,
        ``{"granularity": "block", "block_shape": (4, 4), "amount": 0.5}`` (a structure or a label is
        also accepted as ``granularity``)."""
        unknown = sorted(set(spec) - set(MAPPING_FIELDS), key=str)
        if unknown:
            raise ValueError(f"unknown fields {unknown}; allowed: {list(MAPPING_FIELDS)}")
        shape_fields = {k: spec[k] for k in ("block_shape", "n", "m") if spec.get(k) is not None}
        kind = spec.get("granularity")
        structure: Granularity | None = None
        if shape_fields:
            built = from_fields("unstructured" if kind is None else kind, **shape_fields)
            structure = as_granularity(built)
        elif kind is not None:
            structure = as_granularity(kind)
        # `prune` checks the amount against the layer it lands on, naming both.
        return cls(
            structure=structure,
            amount=cast("Amount | None", spec.get("amount")),
            weight_bits=cast("int | None", spec.get("weight_bits")),
            activation_bits=cast("int | None", spec.get("activation_bits")),
        )


__all__ = ["Amount", "LayerOption", "MAPPING_FIELDS", "check_width"]
