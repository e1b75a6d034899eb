"""Channel groups: which weights must lose channel ``c`` together so the network stays shape-consistent.

A *producer* is a layer with weights that creates a channel space: a Linear, or a Conv2d that is not
depthwise. Channel ``c`` of a space flows forward through

- Pool layers and depthwise convs (which keep ``c`` as their own channel ``c``; a depthwise conv's
  filter row ``c`` is removed with it: it is a *passthrough*),
- ``Add`` joins: every tensor summed by an Add must keep the same channels, so all spaces meeting at
  an Add are merged. A group is therefore a connected component of producers through Adds (in a
  ResNet stage: the stem or downsample conv and the last conv of every block).

and ends at *consumers*, the producers reading the space, which lose their input channel ``c``: in
a conv the column(s) of ``c`` in each filter (grouped convs map ``c`` to its group), in a Linear that
flattens a (C, H, W) map the ``H*W`` consecutive features of ``c`` (C-major flattening).

A group is not prunable (``prunable=False``, with ``reason``) when a channel would leave the part of
the graph this model covers: it is a network output (the classifier's classes), it feeds a
MatMul/Softmax/LayerNorm (mixes channels or normalises over them), a weighted layer with several
inputs reads it, or a consumer's width does not match it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np

from pruning._checks import weighted_layer
from workloads.layers import Add, Conv2d, Linear, Pool
from workloads.network import Network


@dataclass(frozen=True)
class Consumer:
    """A layer reading the group's channels; ``span`` features per channel (H*W after a flatten)."""

    name: str
    span: int = 1


@dataclass(frozen=True)
class ChannelGroup:
    """Layers coupled by one channel space; see the module docstring."""

    channels: int
    producers: tuple[str, ...]
    passthrough: tuple[str, ...]
    consumers: tuple[Consumer, ...]
    joins: tuple[str, ...]
    prunable: bool
    reason: str | None = None

    @property
    def members(self) -> tuple[str, ...]:
        """Every weighted layer whose mask changes when a channel of this group is removed."""
        return self.producers + self.passthrough + tuple(c.name for c in self.consumers)


def _is_producer(layer: object) -> TypeGuard[Conv2d | Linear]:
    return isinstance(layer, Linear) or (isinstance(layer, Conv2d) and not layer.is_depthwise)


def _out_channels(layer: Conv2d | Linear) -> int:
    return layer.out_channels if isinstance(layer, Conv2d) else layer.out_features


class _Spaces:
    """Union-find over channel spaces, each carrying what was learned about it."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.info: list[dict] = []

    def new(self, channels: int, order: int) -> int:
        self.parent.append(len(self.parent))
        self.info.append(
            {"channels": channels, "order": order, "producers": [], "passthrough": [], "consumers": [],
             "joins": [], "blocked": []}
        )  # fmt: skip
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> int:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Keep the earlier space as root so group order follows the network.
            if self.info[rb]["order"] < self.info[ra]["order"]:
                ra, rb = rb, ra
            self.parent[rb] = ra
            for key in ("producers", "passthrough", "consumers", "joins", "blocked"):
                self.info[ra][key] += self.info[rb][key]
            if not self.info[ra]["channels"]:
                # A space no producer owns (0) adopts the producer's width; the join is already blocked.
                self.info[ra]["channels"] = self.info[rb]["channels"]
            elif self.info[rb]["channels"] and self.info[rb]["channels"] != self.info[ra]["channels"]:
                self.info[ra]["blocked"].append(
                    f"joined spaces have {self.info[ra]['channels']} and {self.info[rb]['channels']} channels"
                )
        return ra


def channel_groups(network: Network) -> tuple[ChannelGroup, ...]:
    """Every channel group of ``network`` that has a producer, in network order."""
    spaces = _Spaces()
    space_of: dict[str, int] = {}
    position = {name: i for i, name in enumerate(network.layer_names)}
    for name in network.layer_names:
        layer = network[name]
        preds = network.predecessors(name)
        inputs = [space_of[p] for p in preds]
        if _is_producer(layer):
            if len(inputs) == 1:
                spaces.info[spaces.find(inputs[0])]["consumers"].append(name)
            for i in inputs if len(inputs) > 1 else ():
                spaces.info[spaces.find(i)]["blocked"].append(f"weighted layer {name!r} has several inputs")
            space_of[name] = spaces.new(_out_channels(layer), position[name])
            spaces.info[space_of[name]]["producers"].append(name)
        elif isinstance(layer, (Pool, Conv2d)) and len(inputs) == 1:  # Conv2d here is depthwise
            space_of[name] = inputs[0]
            if isinstance(layer, Conv2d):
                spaces.info[spaces.find(inputs[0])]["passthrough"].append(name)
        elif isinstance(layer, Add) and inputs:
            root = inputs[0]
            for i in inputs[1:]:
                root = spaces.union(root, i)
            spaces.info[spaces.find(root)]["joins"].append(name)
            space_of[name] = root
        else:
            # MatMul/Softmax/LayerNorm, or a pass-through layer reading the network input: its
            # output is a space no producer owns, and the spaces it reads cannot lose channels.
            for i in inputs:
                spaces.info[spaces.find(i)]["blocked"].append(f"feeds {type(layer).__name__} {name!r}")
            space_of[name] = spaces.new(0, position[name])
            if isinstance(layer, Conv2d):
                spaces.info[space_of[name]]["passthrough"].append(name)
        if not network.successors(name):
            spaces.info[spaces.find(space_of[name])]["blocked"].append(f"{name!r} is a network output")

    groups = []
    roots = sorted({spaces.find(i) for i in range(len(spaces.parent))}, key=lambda r: spaces.info[r]["order"])
    for root in roots:
        info = spaces.info[root]
        if not info["producers"]:
            continue
        channels = info["channels"]
        blocked = list(info["blocked"])
        consumers = []
        for cname in sorted(info["consumers"], key=position.__getitem__):
            consumer = weighted_layer(network, cname)
            width = consumer.in_channels if isinstance(consumer, Conv2d) else consumer.in_features
            if width % channels or (isinstance(consumer, Conv2d) and width != channels):
                blocked.append(
                    f"consumer {cname!r} reads {width} features, not a multiple of {channels} channels"
                )
                span = 1
            else:
                span = width // channels
            consumers.append(Consumer(cname, span))
        for pname in info["passthrough"]:
            depthwise = network[pname]
            # channel_groups lists only Conv2d layers as passthrough.
            assert isinstance(depthwise, Conv2d)
            if depthwise.out_channels != channels:
                blocked.append(f"depthwise {pname!r} has {depthwise.out_channels} channels, not {channels}")
        groups.append(
            ChannelGroup(
                channels=channels,
                producers=tuple(sorted(info["producers"], key=position.__getitem__)),
                passthrough=tuple(sorted(info["passthrough"], key=position.__getitem__)),
                consumers=tuple(consumers),
                joins=tuple(sorted(info["joins"], key=position.__getitem__)),
                prunable=not blocked,
                reason="; ".join(blocked) if blocked else None,
            )
        )
    return tuple(groups)


def group_of(groups: tuple[ChannelGroup, ...]) -> dict[str, ChannelGroup]:
    """Producer or passthrough layer name -> the group whose channels it produces."""
    return {name: g for g in groups for name in g.producers + g.passthrough}


# ------------------------------------------------------------------------------- masks per role


def _row_mask(keep: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(keep.reshape(-1, *([1] * (len(shape) - 1))), shape)


def consumer_mask(layer: Conv2d | Linear, keep: np.ndarray, span: int) -> np.ndarray:
    """Mask of ``layer``'s weight keeping only input channels where ``keep`` (length = channels)."""
    shape = layer.weight_shape
    if isinstance(layer, Linear):
        return np.broadcast_to(np.repeat(keep, span)[None, :], shape)
    out_per_group = layer.out_channels // layer.groups
    in_per_group = layer.in_channels // layer.groups
    # Output channel o of a grouped conv reads input channels [g*in_per_group, (g+1)*in_per_group).
    index = (np.arange(layer.out_channels) // out_per_group)[:, None] * in_per_group + np.arange(in_per_group)
    return np.broadcast_to(keep[index][:, :, None, None], shape)


def group_masks(network: Network, group: ChannelGroup, keep: np.ndarray) -> dict[str, np.ndarray]:
    """Structural masks of every member of ``group`` when only channels where ``keep`` survive."""
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (group.channels,):
        raise ValueError(
            f"channel group {group.producers}: keep must have shape ({group.channels},), got {keep.shape}"
        )
    masks = {
        name: _row_mask(keep, weighted_layer(network, name).weight_shape)
        for name in group.producers + group.passthrough
    }
    for consumer in group.consumers:
        masks[consumer.name] = consumer_mask(weighted_layer(network, consumer.name), keep, consumer.span)
    return masks


def removed_channels(network: Network, group: ChannelGroup, masks: Mapping[str, np.ndarray]) -> np.ndarray:
    """Bool per channel: True where every producer's row is fully pruned (unmasked producers keep all)."""
    removed = np.ones(group.channels, dtype=bool)
    for name in group.producers:
        if name in masks:
            removed &= ~np.asarray(masks[name]).reshape(group.channels, -1).any(axis=1)
        else:
            removed[:] = False
    return removed


def channel_consistency_problems(network: Network, masks: Mapping[str, np.ndarray]) -> list[str]:
    """Why ``masks`` could not be realised by physically removing channels; empty when consistent.

    A channel is removed when every producer of its group prunes its whole row; then every
    passthrough row and every consumer slice of that channel must be fully pruned too. (The
    converse is not required: a consumer may zero a live channel's column by unstructured pruning.)
    """
    problems = []
    for name, mask in masks.items():
        shape = network[name].weight_shape if name in network else None
        if shape is None:
            problems.append(f"mask for {name!r}, which is not a weighted layer of {network.name!r}")
        elif tuple(shape) != np.shape(mask):
            problems.append(f"layer {name!r}: mask shape {np.shape(mask)} != weight shape {shape}")
    if problems:
        return problems
    for group in channel_groups(network):
        removed = removed_channels(network, group, masks)
        if not removed.any():
            continue
        if not group.prunable:
            problems.append(
                f"channels {np.flatnonzero(removed).tolist()[:8]} of producers {list(group.producers)} are removed "
                f"but the group is not prunable ({group.reason})"
            )
        required = group_masks(network, group, ~removed)
        for name, needed in required.items():
            if name in group.producers:
                continue
            actual = (
                np.asarray(masks[name], dtype=bool) if name in masks else np.ones(needed.shape, dtype=bool)
            )
            leaked = actual & ~needed
            if leaked.any():
                problems.append(
                    f"layer {name!r}: keeps {int(leaked.sum())} weights of channels removed from producers "
                    f"{list(group.producers)}"
                )
    return problems


def check_channel_consistency(network: Network, masks: Mapping[str, np.ndarray]) -> None:
    """Raise ValueError listing every problem ``channel_consistency_problems`` finds."""
    problems = channel_consistency_problems(network, masks)
    if problems:
        raise ValueError(f"masks are not channel-consistent on {network.name!r}:\n  " + "\n  ".join(problems))


__all__ = [
    "Consumer",
    "ChannelGroup",
    "channel_groups",
    "group_of",
    "group_masks",
    "consumer_mask",
    "removed_channels",
    "channel_consistency_problems",
    "check_channel_consistency",
]
