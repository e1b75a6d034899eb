"""Pruning plans of design points: validation, the masks a plan stands for, and its flat columns.

A plan is plain data, the arguments of one `pruning.prune` call on seeded stand-in weights::

    {granularity: unstructured, amount: 0.5}                 # scope: local, seed: 0 by default
    {granularity: block, amount: 0.5, block_shape: [4, 4]}
    {granularity: nm, n: 2, m: 4}                             # N:M fixes the density: no amount
    {granularity: channel, amount: 0.3, scope: global, seed: 1}
    {granularity: channel, amount: 0.3, compact: false}      # keep layers at their specified size

`granularity` takes the sparsity kinds pruning makes (`workloads.sparsity.PRUNED_KINDS`); `plan_structure`
gives the typed structure a plan names. `amount` follows `pruning.prune` (a float is a fraction in
[0, 1], an int a count of units). `seed` seeds `workloads.models.init_weights` (He-initialised
weights: magnitude pruning of those is the usual stand-in for trained weights at zoo scale).
`compact` (default true) lets layers whose masks empty whole channels run without them
(`accelsim.sparse.compaction`, `simulate(..., compact_channels=...)`); false shows what the hardware
makes of the masks alone. `check_plan` fills in the defaults, so plans that mean the same hash
the same.

`plan_masks` prunes only the layers the structure can tile (`prunable_layers`): a block shape
or an N:M group that does not divide a layer's GEMM view leaves that layer dense, as sparse
hardware would run it. `pruning` is imported lazily: validating a plan does not load it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from workloads.network import Network
from workloads.quoting import short
from workloads.sparsity import NM, PARAMETERS, PRUNED_KINDS, Structure, from_fields

__all__ = [
    "PlanError",
    "PLAN_FIELDS",
    "PLAN_GRANULARITIES",
    "PLAN_SCOPES",
    "PLAN_COLUMNS",
    "check_plan",
    "check_plan_fits",
    "plan_structure",
    "prunable_layers",
    "plan_masks",
    "plan_columns",
]

PLAN_GRANULARITIES = PRUNED_KINDS
PLAN_SCOPES = ("local", "global")
PLAN_FIELDS = ("granularity", "amount", "block_shape", "n", "m", "scope", "seed", "compact")
#: The flat record columns of a plan (`plan_columns`), in this order.
PLAN_COLUMNS = tuple(f"pruning.{name}" for name in PLAN_FIELDS)
_DEFAULTS = {"scope": "local", "seed": 0, "compact": True}
# Which granularity takes which field: given for another granularity, a field is an error. N:M
# takes no amount: its pattern fixes the density.
_TAKES = {kind: {*PARAMETERS[kind], *(() if kind == "nm" else ("amount",))} for kind in PLAN_GRANULARITIES}


class PlanError(ValueError):
    """A malformed plan. `field` is the offending key (``block_shape``), `problem` the message
    without the ``pruning.<field>: `` prefix that `str()` carries."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"pruning.{field}: {problem}" if field else f"pruning: {problem}")
        self.field, self.problem = field, problem


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_plan(plan: Any) -> dict[str, Any] | None:
    """The validated, canonical form of `plan` (defaults filled in, lists for pairs), or None."""
    if plan is None:
        return None
    if not isinstance(plan, Mapping):
        raise PlanError(
            "", f"must be a mapping like {{granularity: unstructured, amount: 0.5}}, got {short(plan)}"
        )
    for key in plan:
        if key not in PLAN_FIELDS:
            raise PlanError(str(key), f"unknown field; allowed: {', '.join(PLAN_FIELDS)}")
    granularity = plan.get("granularity")
    if granularity not in PLAN_GRANULARITIES:
        raise PlanError(
            "granularity", f"must be one of {', '.join(PLAN_GRANULARITIES)}, got {short(granularity)}"
        )
    takes = _TAKES[granularity]
    for key in ("amount", "block_shape", "n", "m"):
        if key in plan and key not in takes:
            why = " (n:m fixes the density at n/m)" if granularity == "nm" and key == "amount" else ""
            raise PlanError(key, f"does not apply to granularity {granularity}{why}; leave it out")
        if key in takes and plan.get(key) is None:
            raise PlanError(key, f"granularity {granularity} needs {key}")
    out: dict[str, Any] = {"granularity": granularity}
    if "amount" in takes:
        amount = plan["amount"]
        ok = (isinstance(amount, float) and math.isfinite(amount) and 0.0 <= amount <= 1.0) or (
            _is_int(amount) and amount >= 0
        )
        if not ok:
            raise PlanError(
                "amount", f"must be a fraction in [0, 1] or a non-negative count, got {short(amount)}"
            )
        out["amount"] = amount
    if "block_shape" in takes:
        shape = plan["block_shape"]
        if not (
            isinstance(shape, (list, tuple)) and len(shape) == 2 and all(_is_int(v) and v >= 1 for v in shape)
        ):
            raise PlanError("block_shape", f"must be [rows, cols], two integers >= 1, got {short(shape)}")
        out["block_shape"] = [int(shape[0]), int(shape[1])]
    if granularity == "nm":
        n, m = plan["n"], plan["m"]
        if not (_is_int(m) and m >= 1):
            raise PlanError("m", f"must be an integer >= 1, got {short(m)}")
        if not (_is_int(n) and 0 <= n <= m):
            raise PlanError("n", f"must be an integer in 0..m={m}, got {short(n)}")
        out.update(n=n, m=m)
    scope = plan.get("scope", _DEFAULTS["scope"])
    if scope not in PLAN_SCOPES:
        raise PlanError("scope", f"must be one of {', '.join(PLAN_SCOPES)}, got {short(scope)}")
    seed = plan.get("seed", _DEFAULTS["seed"])
    if not (_is_int(seed) and seed >= 0):
        raise PlanError("seed", f"must be an integer >= 0 (it seeds the stand-in weights), got {short(seed)}")
    compact = plan.get("compact", _DEFAULTS["compact"])
    if not isinstance(compact, bool):
        raise PlanError(
            "compact",
            f"must be true or false (run layers without their emptied channels), got {short(compact)}",
        )
    out.update(scope=scope, seed=seed, compact=compact)
    return out


def plan_structure(plan: Mapping[str, Any]) -> Structure:
    """The sparsity structure a checked plan names (``{granularity: nm, n: 2, m: 4}`` -> ``NM(2, 4)``)."""
    block_shape = plan.get("block_shape")
    return from_fields(
        plan["granularity"],
        block_shape=None if block_shape is None else tuple(block_shape),
        n=plan.get("n"),
        m=plan.get("m"),
    )


def prunable_layers(network: Network, structure: Structure) -> list[str]:
    """The weighted layers of `network` that `structure` fits: all of them, except that a block
    shape must tile a layer's GEMM view (out, in*kh*kw) and N:M's `m` divide its reduction."""
    out = []
    for layer in network.layers():
        shape = getattr(layer, "weight_shape", None)
        if shape is None:
            continue
        try:
            structure.check_shape(layer.name, tuple(shape))
        except ValueError:
            continue
        out.append(layer.name)
    return out


def _plan_layers(network: Network, plan: Mapping[str, Any]) -> list[str]:
    layers = prunable_layers(network, plan_structure(plan))
    if not layers:
        field = {"block": "block_shape", "nm": "m"}.get(plan["granularity"], "granularity")
        raise PlanError(
            field,
            f"{short(plan.get(field))} fits no weighted layer of {short(network.name)}: "
            "the plan prunes nothing",
        )
    return layers


def check_plan_fits(network: Network, plan: Any) -> None:
    """Raise `PlanError` if a (valid) plan can prune no layer of `network`."""
    plan = check_plan(plan)
    if plan is not None:
        _plan_layers(network, plan)


def plan_masks(network: Network, weights: Mapping[str, Any], plan: Any, *, importance: Any = None) -> Any:
    """`pruning.Masks` for every weighted layer of `network`: `plan` applied to `weights` (the
    layers `prunable_layers` leaves out stay dense). `importance` defaults to `pruning.prune`'s
    (L1 magnitude). The plan's `seed` is not used here: it is for making `weights`; nor is
    `compact`, which is for `simulate`."""
    from pruning import as_granularity, prune

    plan = check_plan(plan)
    if plan is None:
        raise ValueError("plan_masks: no plan (None means dense: no masks)")
    structure = plan_structure(plan)
    options = {} if importance is None else {"importance": importance}
    amount = None if isinstance(structure, NM) else plan["amount"]
    return prune(
        network,
        weights,
        amount=amount,
        granularity=as_granularity(structure),
        scope=plan["scope"],
        layers=_plan_layers(network, plan),
        **options,
    )


def plan_columns(plan: Mapping[str, Any] | None) -> dict[str, Any]:
    """`PLAN_COLUMNS` for a record: the plan's fields (None where a field does not apply, the
    block shape as canonical JSON); a dense point has granularity ``dense`` and amount 0.0."""
    if plan is None:
        return {**dict.fromkeys(PLAN_COLUMNS), "pruning.granularity": "dense", "pruning.amount": 0.0}
    row = {f"pruning.{name}": plan.get(name) for name in PLAN_FIELDS}
    if row["pruning.block_shape"] is not None:
        row["pruning.block_shape"] = "[{},{}]".format(*row["pruning.block_shape"])
    return row
