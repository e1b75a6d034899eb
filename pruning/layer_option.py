"""The per-layer option: what one layer is given (a sparsity structure and an amount).

``LayerOption`` is the typed value ``prune`` overrides and search plans hand over; fields left None
take the call's defaults. It grows by fields (weight and activation bit widths are next, see
DESIGN.md "layer option"), so callers build it by keyword.
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
MAPPING_FIELDS = ("amount", "granularity", "block_shape", "n", "m")


@dataclass(frozen=True, kw_only=True)
class LayerOption:
    """``structure`` pruned to ``amount`` (None: the call's default for either). N:M takes no amount:
    its pattern fixes the density."""

    structure: Granularity | None = None
    amount: Amount | None = None

    def __post_init__(self) -> None:
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
        return cls(structure=structure, amount=cast("Amount | None", spec.get("amount")))


__all__ = ["Amount", "LayerOption", "MAPPING_FIELDS"]
