"""Network pruning: ``prune`` resolves defaults and per-layer overrides into plans and prunes every layer.

This module works at the level of a ``Network``: ``plan_layers`` validates what each weighted layer
gets, channel granularity prunes whole channel groups coupled through the graph (a producer's output
channels with its consumers' inputs), and ``prune`` scores the weights with an ``Importance`` and
applies the array-level selection of ``pruning.selection`` (``compute_mask``, ``compute_global_masks``,
where the semantics of ``amount``, "never revive" and global normalisation are spelled out). Those
names are re-exported here, where they have always been importable from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pruning._checks import amount_to_count, check_int, weighted_layer
from pruning.channels import ChannelGroup, channel_groups, group_masks
from pruning.granularity import NM, Channel, Granularity, as_granularity
from pruning.importance import Importance, magnitude_l1
from pruning.layer_option import Amount, LayerOption
from pruning.masks import Masks
from pruning.selection import (
    NORMALIZATIONS,
    GranularitySpec,
    check_normalize,
    compute_global_masks,
    compute_mask,
    normalize_units,
    select_units,
)
from workloads.network import Network

#: A per-layer override: the typed option, or its named-field spelling (`LayerOption.from_mapping`).
Override = LayerOption | Mapping[str, object]


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
        normed = [normalize_units(*units[i], normalize) for i in pooled]
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
    check_normalize(normalize)
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
    "GranularitySpec",
    "Override",
    "LayerPlan",
    "compute_mask",
    "compute_global_masks",
    "select_units",
    "plan_layers",
    "prune",
]
