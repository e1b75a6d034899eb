"""Mask computation: pure ``compute_mask`` per layer, ``compute_global_masks`` across layers, and ``prune``.

Semantics of ``amount`` (a float is a fraction, an int a count, as in PyTorch):

- It is the *total* number of units the layer (or the global pool) should have pruned, and units
  that are already pruned count toward it. Pruning to 0.5 and then to 0.7 gives 0.7, not 0.85.
  This is ``torch.ao.pruning``'s ``sparsity_level`` and what a schedule's ``sparsity_at(step)``
  means; note ``torch.nn.utils.prune``'s PruningContainer instead applies a new amount to the
  weights still unpruned.
- Never revive: the new mask is ``current & selection``, and already-pruned units are selected
  first, so asking for less than is already pruned changes nothing.
- A unit (block, channel) counts as already pruned only when all its weights are pruned; a
  partially pruned unit is scored on its surviving weights.
- Units are ranked by score, ties broken by position (lower index pruned first): deterministic.

Global selection ranks all units of the pooled layers against one threshold after dividing each
layer's unit scores by the mean score of its surviving units (``normalize="mean"``), so a layer's
scale (fan-in, initialisation, activation magnitude) does not decide how much of it is pruned;
``"max"``, ``"l2"`` and ``None`` (raw scores, like ``torch.nn.utils.prune.global_unstructured``) are
also offered. A global amount counts units over the pool (weights, for unstructured).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pruning._checks import amount_to_count, check_int, weighted_layer
from pruning.channels import ChannelGroup, channel_groups, group_masks
from pruning.granularity import NM, Channel, Granularity, as_granularity, expand, pattern_mask, unit_scores
from pruning.importance import Importance, magnitude_l1
from pruning.layer_option import Amount, LayerOption
from pruning.masks import Masks
from workloads.network import Network

#: What ``prune`` and ``compute_mask`` take as a granularity: a structure or its label (``"block4x4"``).
GranularitySpec = Granularity | str
#: A per-layer override: the typed option, or its named-field spelling (`LayerOption.from_mapping`).
Override = LayerOption | Mapping[str, object]

NORMALIZATIONS = ("mean", "max", "l2", None)


# ----------------------------------------------------------------------------------- per layer


def _check_scores(name: str, scores: ArrayLike, current: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 0:
        raise ValueError(f"layer {name!r}: scores must be an array of the weight shape, got a scalar")
    if not np.isfinite(s).all():
        raise ValueError(f"layer {name!r}: scores contain NaN or inf")
    if current is None:
        mask = np.ones(s.shape, dtype=bool)
    else:
        mask = np.asarray(current)
        if mask.dtype != np.bool_:
            raise ValueError(f"layer {name!r}: current mask must have dtype bool, got {mask.dtype}")
        if mask.shape != s.shape:
            raise ValueError(f"layer {name!r}: current mask shape {mask.shape} != scores shape {s.shape}")
    return s, mask


def select_units(unit_scores: np.ndarray, alive: np.ndarray, count: int) -> np.ndarray:
    """Keep-flags after pruning ``count`` units: dead units first, then lowest score, then lowest index."""
    order = np.lexsort((np.arange(unit_scores.size), unit_scores, alive))
    keep = alive.copy()
    keep[order[:count]] = False
    return keep


def compute_mask(
    scores: ArrayLike,
    current_mask: ArrayLike | None = None,
    *,
    amount: Amount | None,
    granularity: GranularitySpec = "unstructured",
    norm_power: int = 1,
    name: str = "<layer>",
) -> np.ndarray:
    """The new bool mask of one layer: ``current_mask`` (default all-kept) with ``amount`` units pruned.

    Pure: inputs are not modified. Never revives (the result is a subset of ``current_mask``).
    ``amount`` must be ``None`` for ``NM``, whose pattern fixes the density. ``Channel`` prunes rows
    of this layer only; graph-coupled channel pruning is ``prune``'s job. ``name`` appears in errors.
    """
    gran = as_granularity(granularity)
    s, mask = _check_scores(name, scores, current_mask)
    gran.check_shape(name, s.shape)
    if isinstance(gran, NM):
        if amount is not None:
            raise ValueError(
                f"layer {name!r}: amount does not apply to N:M (its density is n/m), got {amount!r}"
            )
        return pattern_mask(gran, s, mask)
    units, alive = unit_scores(gran, s, mask, norm_power)
    count = amount_to_count(f"layer {name!r}", amount, units.size)
    return mask & expand(gran, select_units(units, alive, count), s.shape)


def _normalize(units: np.ndarray, alive: np.ndarray, how: str | None) -> np.ndarray:
    if how is None:
        return units
    live = units[alive]
    if how == "mean":
        scale = live.mean() if live.size else 0.0
    elif how == "max":
        scale = live.max() if live.size else 0.0
    else:
        scale = np.sqrt(np.square(live).sum())
    # An all-zero layer stays all zero rather than dividing by zero; it is pruned first either way.
    return units / scale if scale > 0 else units


def _check_normalize(normalize: object) -> None:
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")


def compute_global_masks(
    scores: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike] | None = None,
    *,
    amount: Amount,
    granularity: GranularitySpec = "unstructured",
    normalize: str | None = "mean",
    norm_power: int = 1,
) -> dict[str, np.ndarray]:
    """New masks for all layers of ``scores`` chosen against one threshold over normalised unit scores.

    ``amount`` counts units over the whole pool; already-pruned units count toward it (see module doc).
    """
    gran = as_granularity(granularity)
    if isinstance(gran, NM):
        raise ValueError("N:M fixes each group's density; it has no global selection (use scope='local')")
    _check_normalize(normalize)
    current = {} if current is None else current
    names = list(scores)
    per_layer = []
    for name in names:
        s, mask = _check_scores(name, scores[name], current.get(name))
        gran.check_shape(name, s.shape)
        units, alive = unit_scores(gran, s, mask, norm_power)
        per_layer.append((s.shape, mask, _normalize(units, alive, normalize), alive))
    if not per_layer:
        return {}
    all_units = np.concatenate([p[2] for p in per_layer])
    all_alive = np.concatenate([p[3] for p in per_layer])
    count = amount_to_count("global selection", amount, all_units.size)
    keep = select_units(all_units, all_alive, count)
    out, start = {}, 0
    for name, (shape, mask, units, _) in zip(names, per_layer):
        out[name] = mask & expand(gran, keep[start : start + units.size], shape)
        start += units.size
    return out


# ---------------------------------------------------------------------------------- network


@dataclass(frozen=True)
class LayerPlan:
    """What ``prune`` does to one layer: its amount and granularity, whether an override set them,
    and whether that override named the granularity."""

    amount: Amount | None
    granularity: Granularity
    overridden: bool = False
    granularity_given: bool = False


def _override_option(name: str, spec: Override) -> LayerOption:
    if isinstance(spec, LayerOption):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError(f"prune: overrides[{name!r}] must be a LayerOption or a dict, got {spec!r}")
    try:
        return LayerOption.from_mapping(spec)
    except ValueError as exc:
        raise ValueError(f"prune: overrides[{name!r}]: {exc}") from None


def plan_layers(
    network: Network,
    *,
    amount: Amount | None,
    granularity: GranularitySpec = "unstructured",
    overrides: Mapping[str, Override] | None = None,
    layers: Iterable[str] | None = None,
) -> dict[str, LayerPlan]:
    """Resolve defaults plus per-layer overrides into a validated plan for every layer to prune.

    An override's structure replaces the default granularity as a whole
    (``LayerOption(structure=NM(2, 4))``); giving only ``amount`` keeps the default granularity.
    N:M layers take no amount: the default amount is not applied to them.
    """
    weighted = [layer.name for layer in network if layer.weight_shape is not None]
    if layers is None:
        chosen = weighted
    else:
        chosen = list(layers)
        for name in chosen:
            if name not in network or network[name].weight_shape is None:
                raise ValueError(f"prune: layers: {name!r} is not a weighted layer of {network.name!r}")
    overrides = {} if overrides is None else overrides
    if not isinstance(overrides, Mapping):
        raise ValueError(
            f"prune: overrides must be a mapping layer -> LayerOption, got {type(overrides).__name__}"
        )
    for name in overrides:
        if name not in chosen:
            raise ValueError(
                f"prune: overrides: {name!r} is not a weighted layer being pruned in {network.name!r}"
            )
    options = {name: _override_option(name, spec) for name, spec in overrides.items()}
    default = as_granularity(granularity)
    plans = {}
    for name in chosen:
        option = options.get(name, LayerOption())
        gran = default if option.structure is None else option.structure
        gran.check_shape(name, tuple(weighted_layer(network, name).weight_shape))
        layer_amount = None if isinstance(gran, NM) else (amount if option.amount is None else option.amount)
        if layer_amount is None and not isinstance(gran, NM):
            raise ValueError(f"prune: layer {name!r}: amount is None but granularity {gran.kind!r} needs one")
        plans[name] = LayerPlan(layer_amount, gran, option != LayerOption(), option.structure is not None)
    return plans


def _channel_units(
    network: Network,
    group: ChannelGroup,
    scores: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    power: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel score (norm over the producers' and passthroughs' surviving rows) and liveness."""
    sums = np.zeros(group.channels)
    alive = np.zeros(group.channels, dtype=bool)
    for name in group.producers + group.passthrough:
        view_scores = np.where(masks[name], scores[name], 0.0).reshape(group.channels, -1)
        sums += view_scores.sum(axis=1)
        if name in group.producers:
            alive |= masks[name].reshape(group.channels, -1).any(axis=1)
    return (sums if power == 1 else np.power(sums, 1.0 / power)), alive


def _channel_plan(
    plans: Mapping[str, LayerPlan], groups: tuple[ChannelGroup, ...]
) -> list[tuple[ChannelGroup, Amount | None, bool]]:
    """(group, amount, overridden) for each group to channel-prune; a group's producers must agree."""
    selected = []
    for group in groups:
        asking = {
            p: plans[p] for p in group.producers if p in plans and isinstance(plans[p].granularity, Channel)
        }
        if not asking:
            continue
        if not group.prunable:
            explicit = [p for p, plan in asking.items() if plan.granularity_given]
            if explicit:
                raise ValueError(
                    f"prune: layer {explicit[0]!r}: its channels cannot be pruned ({group.reason})"
                )
            continue  # a default granularity skips groups it cannot touch, e.g. the classifier's classes
        amounts = {p: plan.amount for p, plan in asking.items()}
        if len({repr(a) for a in amounts.values()}) > 1:
            raise ValueError(
                f"prune: producers {list(group.producers)} share channels (coupled through "
                f"{list(group.joins) or 'the graph'}) but ask for different amounts {amounts}; give them the same"
            )
        overridden = any(plan.overridden for plan in asking.values())
        selected.append((group, next(iter(amounts.values())), overridden))
    return selected


def _prune_channel_groups(
    network: Network,
    chosen: list[tuple[ChannelGroup, Amount | None, bool]],
    scores: Mapping[str, np.ndarray],
    masks: dict[str, np.ndarray],
    *,
    scope: str,
    amount: Amount | None,
    normalize: str | None,
    power: int,
) -> None:
    """AND the structural masks of the selected channel groups into ``masks`` (in place)."""
    units = [_channel_units(network, group, scores, masks, power) for group, _, _ in chosen]
    keeps: list[np.ndarray | None] = [None] * len(chosen)
    pooled = [i for i, (_, _, overridden) in enumerate(chosen) if scope == "global" and not overridden]
    if pooled:
        normed = [_normalize(*units[i], normalize) for i in pooled]
        total = sum(chosen[i][0].channels for i in pooled)
        keep_all = select_units(
            np.concatenate(normed),
            np.concatenate([units[i][1] for i in pooled]),
            amount_to_count("prune: global channel selection", amount, total),
        )
        for i, keep in zip(
            pooled, np.split(keep_all, np.cumsum([chosen[i][0].channels for i in pooled])[:-1])
        ):
            keeps[i] = keep
    for i, (group, group_amount, _) in enumerate(chosen):
        # Channels are ranked by the scores the call began with, so one group's choice never
        # depends on how much an upstream group of the same call removed: raising one layer's
        # channel amount only ever removes more weights, everywhere. Liveness is current: groups go
        # in network order, so channels upstream removals left with no inputs (a grouped conv's)
        # are seen, and removed first.
        group_scores = units[i][0]
        _, alive = _channel_units(network, group, scores, masks, power)
        group_keep = keeps[i]
        if group_keep is None:
            count = amount_to_count(
                f"prune: channel group {list(group.producers)}", group_amount, group.channels
            )
            group_keep = select_units(group_scores, alive, count)
        if alive.any() and not (group_keep & alive).any():
            # Removing every live channel of a group would cut the network in two: keep its best one.
            group_keep = np.zeros(group.channels, dtype=bool)
            group_keep[int(np.argmax(np.where(alive, group_scores, -np.inf)))] = True
        for name, structural in group_masks(network, group, group_keep).items():
            masks[name] = masks[name] & structural
    _remove_dead_channels(network, [group for group, _, _ in chosen], masks)


def _remove_dead_channels(network: Network, groups: list[ChannelGroup], masks: dict[str, np.ndarray]) -> None:
    """A channel whose producers lost every weight (e.g. a grouped conv whose inputs were all
    pruned upstream) is dead: remove it from its consumers too, until nothing changes."""
    changed = True
    while changed:
        changed = False
        for group in groups:
            alive = np.zeros(group.channels, dtype=bool)
            for name in group.producers:
                alive |= masks[name].reshape(group.channels, -1).any(axis=1)
            for name, structural in group_masks(network, group, alive).items():
                pruned = masks[name] & structural
                if not np.array_equal(pruned, masks[name]):
                    masks[name] = pruned
                    changed = True


def prune(
    network: Network,
    weights: Mapping[str, ArrayLike],
    *,
    amount: Amount | None,
    granularity: GranularitySpec = "unstructured",
    importance: Importance = magnitude_l1,
    scope: str = "local",
    current: Masks | None = None,
    overrides: Mapping[str, Override] | None = None,
    layers: Iterable[str] | None = None,
    normalize: str | None = "mean",
    grads: Mapping[str, ArrayLike] | None = None,
    activations: Mapping[str, ArrayLike] | None = None,
    rng: int | np.random.Generator | None = None,
) -> Masks:
    """Masks for every weighted layer of ``network``: ``current`` (default dense) pruned further.

    Defaults (``amount``, ``granularity``: a structure such as ``Block((4, 4))`` or its label
    ``"block4x4"``) apply to ``layers`` (default: all weighted layers);
    ``overrides={layer: LayerOption(structure=..., amount=...)}`` set single layers (the
    named-field spelling ``{"granularity": "nm", "n": 2, "m": 4}`` is read as one).
    ``importance`` scores the weights (``grads``, ``activations``, ``rng`` are passed to
    it). Channel granularity prunes whole channel groups (see ``pruning.channels``): the group's
    consumers lose the matching inputs even if they are not in ``layers``.

    ``scope="global"`` pools the layers that use the default settings (overridden layers are pruned
    locally) and selects their units against one threshold; channel groups are pooled per group.
    Order: channel groups first, then the other granularities on top, each counting what earlier
    steps already pruned toward its amount.
    """
    if scope not in ("local", "global"):
        raise ValueError(f"prune: scope must be 'local' or 'global', got {scope!r}")
    _check_normalize(normalize)
    power = check_int("prune", "importance.norm_power", getattr(importance, "norm_power", 1), minimum=1)
    plans = plan_layers(network, amount=amount, granularity=granularity, overrides=overrides, layers=layers)

    base = Masks.dense(network) if current is None else current
    base.check_network(network)
    # Layers absent from ``current`` start dense.
    masks = {
        layer.name: np.array(base[layer.name])
        if layer.name in base
        else np.ones(layer.weight_shape, dtype=bool)
        for layer in network
        if layer.weight_shape is not None
    }

    chosen = _channel_plan(plans, channel_groups(network))
    needed = {name for name, plan in plans.items() if not isinstance(plan.granularity, Channel)}
    needed |= {name for group, _, _ in chosen for name in group.producers + group.passthrough}
    scores = _score(
        importance, weights, network, sorted(needed), grads=grads, activations=activations, rng=rng
    )

    # Channel groups first: their removal is structural and the later steps count it.
    if chosen:
        _prune_channel_groups(
            network, chosen, scores, masks, scope=scope, amount=amount, normalize=normalize, power=power
        )

    rest = {name: plan for name, plan in plans.items() if not isinstance(plan.granularity, Channel)}
    pooled = []
    if scope == "global":
        default_gran = as_granularity(granularity)
        # A default amount of None has already been refused for every non-N:M layer using it.
        if not isinstance(default_gran, NM) and amount is not None:
            pooled = [name for name, plan in rest.items() if not plan.overridden]
    if pooled and amount is not None:
        new = compute_global_masks(
            {name: scores[name] for name in pooled}, {name: masks[name] for name in pooled},
            amount=amount, granularity=default_gran, normalize=normalize, norm_power=power,
        )  # fmt: skip
        masks.update(new)
    for name, plan in rest.items():
        if name in pooled:
            continue
        masks[name] = compute_mask(
            scores[name],
            masks[name],
            amount=plan.amount,
            granularity=plan.granularity,
            norm_power=power,
            name=name,
        )
    return Masks(masks)


def _score(
    importance: Importance,
    weights: Mapping[str, ArrayLike],
    network: Network,
    names: list[str],
    *,
    grads: Mapping[str, ArrayLike] | None,
    activations: Mapping[str, ArrayLike] | None,
    rng: int | np.random.Generator | None,
) -> dict[str, np.ndarray]:
    if not names:
        return {}
    subset = {}
    for name in names:
        if name not in weights:
            raise ValueError(f"prune: weights have no entry for layer {name!r}")
        w = np.asarray(weights[name])
        shape = tuple(weighted_layer(network, name).weight_shape)
        if w.shape != shape:
            raise ValueError(f"prune: layer {name!r}: weight shape {w.shape} != {shape}")
        subset[name] = w
    scores = importance(subset, grads=grads, activations=activations, rng=rng)
    for name in names:
        if name not in scores or np.shape(scores[name]) != subset[name].shape:
            raise ValueError(
                f"prune: importance {importance!r} returned no scores of shape {subset[name].shape} for {name!r}"
            )
    return {name: np.asarray(scores[name], dtype=np.float64) for name in names}


__all__ = [
    "NORMALIZATIONS",
    "LayerPlan",
    "compute_mask",
    "compute_global_masks",
    "select_units",
    "plan_layers",
    "prune",
]
