"""The search space of a mask search: per-layer genes (granularity option, sparsity) and plan -> masks.

A *gene* is ``(option label, sparsity)``; ``DENSE = ("dense", 0.0)`` leaves a layer untouched. A
*plan* is a tuple of genes, one per searched layer in network order, so plans are hashable and
compare by value. An :class:`Option` is a granularity with the sparsity levels it may take: the
``ladder`` for unstructured, block and channel pruning, and the single level ``1 - n/m`` for N:M.

Masks are a pure function of the plan: every layer is pruned from the *dense* weights by ``prune``
with its own override (magnitude importance by default), so a plan always gives the same masks, a
higher sparsity of one option only removes more of that layer (ties broken by position), and changing a layer's
granularity never has to "revive" anything.

A channel gene also removes the matching inputs of the layers reading those channels; a reader
with its own gene counts them toward its own sparsity (``prune``'s amount is a total), so more
channel pruning upstream can leave it fewer weights of its own to prune. Plans are independent
(each is pruned from dense), so this is not a revival within a pruning run.

Channel genes couple layers: producers sharing a channel group (through residual adds) must remove
the same channels, so :meth:`SearchSpace.normalize` gives every channel gene of a group the group's
largest channel sparsity. Options that cannot apply to a layer (a block that does not tile it, an
``m`` that does not divide its reduction, channels that would leave the network) are not offered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from numpy.typing import ArrayLike

from pruning._checks import check_fraction, weighted_layer
from pruning.channels import channel_groups
from pruning.granularity import GRANULARITY_TYPES, NM, Block, Channel, Granularity, as_granularity
from pruning.importance import Importance, magnitude_l1
from pruning.layer_option import LayerOption
from pruning.masks import Masks
from pruning.methods import prune
from pruning.selection import GranularitySpec
from workloads.network import Network
from workloads.sparsity import parse

Gene = tuple[str, float]
Plan = tuple[Gene, ...]
DENSE: Gene = ("dense", 0.0)

DEFAULT_LADDER = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
DEFAULT_GRANULARITIES = ("unstructured", Block((4, 4)), NM(2, 4))


def parse_granularity_label(text: object) -> Granularity:
    """The granularity a label names (``"block4x4"`` -> ``Block((4, 4))``); ``dense`` prunes nothing."""
    try:
        structure = parse(text)
    except ValueError:
        structure = None
    if not isinstance(structure, GRANULARITY_TYPES):
        raise ValueError(
            "granularity label must be unstructured, channel, block<rows>x<cols> or nm<n>:<m> "
            f"(e.g. block4x4, nm2:4), got {text!r}"
        )
    return structure


def _check_ladder(ladder: Iterable[object]) -> tuple[float, ...]:
    values = [check_fraction("search", "ladder level", v) for v in ladder]
    if not values:
        raise ValueError("search: ladder must hold at least one sparsity level")
    if any(v <= 0.0 or v >= 1.0 for v in values):
        raise ValueError(f"search: ladder levels must be in (0, 1), got {values}")
    if sorted(set(values)) != values:
        raise ValueError(f"search: ladder must be strictly increasing, got {values}")
    return tuple(values)


@dataclass(frozen=True)
class Option:
    """A granularity and the sparsity levels (ascending, in (0, 1)) the search may give it."""

    granularity: Granularity
    levels: tuple[float, ...]

    def __post_init__(self) -> None:
        gran = self.granularity
        if not isinstance(gran, GRANULARITY_TYPES):
            raise ValueError(f"search: Option granularity must be a granularity object, got {gran!r}")
        levels = _check_ladder(self.levels if isinstance(self.levels, (tuple, list)) else [self.levels])
        if isinstance(gran, NM):
            # The N:M pattern fixes the density, so its one level is 1 - n/m and nothing else.
            if not 0 < gran.n < gran.m:
                raise ValueError(
                    f"search: N:M option {gran!r} must prune something and keep something: 0 < n < m"
                )
            if levels != (1.0 - gran.n / gran.m,):
                raise ValueError(
                    f"search: N:M option {gran!r} has the one level {1.0 - gran.n / gran.m}, got {levels}"
                )
        object.__setattr__(self, "levels", levels)

    @property
    def label(self) -> str:
        return self.granularity.label

    @classmethod
    def make(cls, spec: Option | GranularitySpec, ladder: Sequence[float] = DEFAULT_LADDER) -> Option:
        """From an ``Option``, a granularity object, or a label (``"unstructured"``, ``"block4x4"``)."""
        if isinstance(spec, Option):
            return spec
        gran = as_granularity(spec)
        if isinstance(gran, NM):
            if not 0 < gran.n < gran.m:
                raise ValueError(
                    f"search: N:M option {gran!r} must prune something and keep something: 0 < n < m"
                )
            return cls(gran, (1.0 - gran.n / gran.m,))
        return cls(gran, _check_ladder(ladder))

    def layer_option(self, sparsity: float) -> LayerOption:
        """What ``prune`` gives a layer with this option at ``sparsity`` (N:M's pattern fixes its own)."""
        amount = None if isinstance(self.granularity, NM) else sparsity
        return LayerOption(structure=self.granularity, amount=amount)


def _applies(option: Option, network: Network, name: str, prunable_channels: set[str]) -> bool:
    gran = option.granularity
    shape = tuple(weighted_layer(network, name).weight_shape)
    try:
        gran.check_shape(name, shape)
    except ValueError:
        return False
    if isinstance(gran, Channel):
        return name in prunable_channels
    return True


class SearchSpace:
    """Searched layers, the options each may take, and the plan -> masks map (see the module doc)."""

    def __init__(
        self,
        network: Network,
        weights: Mapping[str, ArrayLike],
        *,
        granularities: Sequence[Option | GranularitySpec] | Option | GranularitySpec = DEFAULT_GRANULARITIES,
        ladder: Sequence[float] = DEFAULT_LADDER,
        layers: Iterable[str] | None = None,
        importance: Importance = magnitude_l1,
    ) -> None:
        self.network = network
        self.weights = weights
        self.importance = importance
        if isinstance(granularities, Iterable) and not isinstance(granularities, str):
            specs: list[Option | GranularitySpec] = list(granularities)
        else:
            specs = [granularities]
        options = [Option.make(spec, ladder) for spec in specs]
        if not options:
            raise ValueError("search: granularities must name at least one granularity")
        labels = [o.label for o in options]
        if len(set(labels)) != len(labels):
            raise ValueError(f"search: granularities repeat an option: {labels}")
        self.options: dict[str, Option] = {o.label: o for o in options}

        weighted = [layer.name for layer in network if layer.weight_shape is not None]
        if layers is None:
            chosen = weighted
        else:
            wanted = {layers} if isinstance(layers, str) else set(layers)
            for name in sorted(wanted, key=str):
                if name not in weighted:
                    raise ValueError(f"search: layers: {name!r} is not a weighted layer of {network.name!r}")
            chosen = [name for name in weighted if name in wanted]
        for name in chosen:
            if name not in weights:
                raise ValueError(f"search: weights have no entry for layer {name!r}")

        groups = channel_groups(network)
        prunable = {p for g in groups if g.prunable for p in g.producers}
        self._channel_groups = [g.producers for g in groups if g.prunable and len(g.producers) > 1]
        self.allowed: dict[str, tuple[str, ...]] = {
            name: tuple(o.label for o in options if _applies(o, network, name, prunable)) for name in chosen
        }
        self.layers: tuple[str, ...] = tuple(name for name in chosen if self.allowed[name])
        if not self.layers:
            raise ValueError(f"search: no option of {labels} applies to any layer of {network.name!r}")
        self._index = {name: i for i, name in enumerate(self.layers)}
        self._dense_macs = {name: max(int(network[name].macs), 1) for name in self.layers}

    # ------------------------------------------------------------------ genes and plans

    @property
    def dense_plan(self) -> Plan:
        return tuple(DENSE for _ in self.layers)

    def choices(self, name: str) -> tuple[Gene, ...]:
        """Every gene layer ``name`` may take, dense first, then option by option in ascending sparsity."""
        return (DENSE,) + tuple(
            (label, s) for label in self.allowed[name] for s in self.options[label].levels
        )

    def uniform_plan(self, label: str, sparsity: float) -> Plan:
        """``label`` at ``sparsity`` on every layer it applies to; the others stay dense."""
        if label not in self.options or sparsity not in self.options[label].levels:
            levels = self.options[label].levels if label in self.options else ()
            raise ValueError(
                f"search: uniform plan {label!r} at {sparsity!r} is not an option; options {list(self.options)}"
                + (f", levels {levels}" if levels else "")
            )
        return self.normalize(
            tuple((label, sparsity) if label in self.allowed[n] else DENSE for n in self.layers)
        )

    def with_gene(self, plan: Plan, name: str, gene: Gene) -> Plan:
        genes = list(plan)
        genes[self._index[name]] = gene
        return self.normalize(tuple(genes))

    def next_level(self, gene: Gene, label: str) -> float | None:
        """The smallest level of option ``label`` strictly above ``gene``'s sparsity, if any."""
        for level in self.options[label].levels:
            if level > gene[1] + 1e-12:
                return level
        return None

    def check_gene(self, name: str, gene: object) -> Gene:
        """``gene`` as a ``(label, sparsity)`` tuple, if layer ``name`` may take it; else a ValueError."""
        if not isinstance(gene, (tuple, list)) or len(gene) != 2:
            raise ValueError(f"search: layer {name!r}: a gene is (granularity label, sparsity), got {gene!r}")
        label, sparsity = gene
        if label == DENSE[0]:
            if sparsity != DENSE[1]:
                raise ValueError(f"search: layer {name!r}: a dense gene has sparsity 0.0, got {sparsity!r}")
            return DENSE
        if label not in self.allowed[name]:
            raise ValueError(
                f"search: layer {name!r}: granularity {label!r} is not one of {self.allowed[name]}"
            )
        if sparsity not in self.options[label].levels:
            raise ValueError(
                f"search: layer {name!r}: {label} sparsity {sparsity!r} is not one of {self.options[label].levels}"
            )
        return (label, float(sparsity))

    def normalize(self, plan: Plan) -> Plan:
        """A checked plan whose coupled channel genes share one sparsity (the group's largest), as ``prune`` needs."""
        if not isinstance(plan, (tuple, list)) or len(plan) != len(self.layers):
            size = len(plan) if isinstance(plan, (tuple, list)) else type(plan).__name__
            raise ValueError(f"search: a plan needs {len(self.layers)} genes, got {size}")
        genes = [self.check_gene(name, gene) for name, gene in zip(self.layers, plan)]
        for producers in self._channel_groups:
            idx = [
                self._index[p]
                for p in producers
                if p in self._index and genes[self._index[p]][0] == "channel"
            ]
            if len(idx) > 1:
                top = max(genes[i][1] for i in idx)
                for i in idx:
                    genes[i] = ("channel", top)
        return tuple(genes)

    def describe(self, plan: Plan) -> dict[str, dict[str, str | float]]:
        return {name: {"granularity": g, "sparsity": s} for name, (g, s) in zip(self.layers, plan)}

    # ------------------------------------------------------------------ masks

    def masks(self, plan: Plan) -> Masks:
        """Masks of every weighted layer of the network for ``plan`` (unsearched layers stay dense)."""
        plan = self.normalize(plan)
        overrides: dict[str, LayerOption] = {
            name: self.options[label].layer_option(sparsity)
            for name, (label, sparsity) in zip(self.layers, plan)
            if label != "dense"
        }
        return prune(
            self.network, self.weights, amount=0.0, granularity="unstructured",
            importance=self.importance, overrides=overrides, layers=self.layers,
        )  # fmt: skip

    def macs_density(self, masks: Masks) -> float:
        """Kept fraction of the searched layers' dense MACs (each layer weighted by its MACs)."""
        total = sum(self._dense_macs.values())
        return sum(self._dense_macs[n] * masks.density_of(n) for n in self.layers) / total


__all__ = [
    "Gene",
    "Plan",
    "DENSE",
    "DEFAULT_LADDER",
    "DEFAULT_GRANULARITIES",
    "parse_granularity_label",
    "Option",
    "SearchSpace",
]
