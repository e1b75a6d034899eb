"""The search space of a mask search: per-layer genes (granularity, sparsity, bit widths) and plan -> masks.

A *gene* is ``(option label, sparsity)``; ``DENSE = ("dense", 0.0)`` leaves a layer untouched. In a
space with bit widths (``SearchSpace(..., bits=(8, 4, 2))``) a gene may also carry them,
``(label, sparsity, weight_bits, activation_bits)`` (None: unquantized); a :class:`Gene` without
widths *is* the 2-tuple, so pruning-only plans, their records and reports are unchanged. A
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
from typing import cast

from numpy.typing import ArrayLike

from pruning._checks import check_fraction, weighted_layer
from pruning.channels import channel_groups
from pruning.granularity import GRANULARITY_TYPES, NM, Block, Channel, Granularity, as_granularity
from pruning.importance import Importance, magnitude_l1
from pruning.layer_option import LayerOption, check_width
from pruning.masks import Masks
from pruning.methods import prune
from pruning.selection import GranularitySpec
from workloads.network import Network
from workloads.quantization import LayerBits
from workloads.sparsity import parse


class Gene(tuple):  # a 2- or 4-tuple (see the class doc), so not tuple[str, float]
    """One layer's choice: ``(label, sparsity)``, or ``(label, sparsity, weight_bits, activation_bits)``
    when it names a width. Without widths it is the plain 2-tuple (equal, same hash, same repr), so a
    pruning-only gene compares and prints as it always did."""

    __slots__ = ()

    def __new__(
        cls, label: str, sparsity: float, weight_bits: int | None = None, activation_bits: int | None = None
    ) -> Gene:
        if weight_bits is None and activation_bits is None:
            return super().__new__(cls, (label, sparsity))
        return super().__new__(cls, (label, sparsity, weight_bits, activation_bits))

    def __getnewargs__(self) -> tuple[object, ...]:  # pickle and copy rebuild through __new__
        return tuple(self)

    @classmethod
    def of(cls, gene: Sequence[object]) -> Gene:
        """A 2- or 4-sequence as a Gene (unchecked; `SearchSpace.check_gene` checks)."""
        return cls(*gene)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        return cast(str, self[0])

    @property
    def sparsity(self) -> float:
        return cast(float, self[1])

    @property
    def weight_bits(self) -> int | None:
        return cast("int | None", self[2]) if len(self) > 2 else None

    @property
    def activation_bits(self) -> int | None:
        return cast("int | None", self[3]) if len(self) > 2 else None

    def with_bits(self, weight_bits: int | None, activation_bits: int | None) -> Gene:
        return Gene(self.label, self.sparsity, weight_bits, activation_bits)


Plan = tuple[Gene, ...]
DENSE: Gene = Gene("dense", 0.0)


def gene_fields(gene: Sequence[object]) -> tuple[str, float, int | None, int | None]:
    """``(label, sparsity, weight_bits, activation_bits)`` of a 2- or 4-tuple gene."""
    g = Gene.of(gene)
    return g.label, g.sparsity, g.weight_bits, g.activation_bits


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
        bits: Sequence[int] | None = None,
    ) -> None:
        self.network = network
        self.widths = _check_widths(bits)
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
        """Every gene layer ``name`` may take, dense first, then option by option in ascending sparsity;
        with widths, each of those at every (weight, activation) width pair, unquantized included."""
        pruning = (DENSE,) + tuple(
            Gene(label, s) for label in self.allowed[name] for s in self.options[label].levels
        )
        widths = (None, *self.widths) if self.widths else (None,)
        return tuple(g.with_bits(w, a) for g in pruning for w in widths for a in widths)

    def uniform_plan(self, label: str, sparsity: float, width: int | None = None) -> Plan:
        """``label`` at ``sparsity`` on every layer it applies to (the others stay dense), and with
        ``width`` every layer's weights and input activations at that width."""
        if label == DENSE[0] and sparsity == DENSE[1]:
            return self.normalize(tuple(DENSE.with_bits(width, width) for _ in self.layers))
        if label not in self.options or sparsity not in self.options[label].levels:
            levels = self.options[label].levels if label in self.options else ()
            raise ValueError(
                f"search: uniform plan {label!r} at {sparsity!r} is not an option; options {list(self.options)}"
                + (f", levels {levels}" if levels else "")
            )
        return self.normalize(
            tuple(
                (Gene(label, sparsity) if label in self.allowed[n] else DENSE).with_bits(width, width)
                for n in self.layers
            )
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

    def lower_widths(self, width: int | None) -> tuple[int, ...]:
        """The widths of the space below ``width`` (all of them below unquantized), widest first."""
        return tuple(w for w in self.widths if width is None or w < width)

    def check_gene(self, name: str, gene: object) -> Gene:
        """``gene`` as a :class:`Gene`, if layer ``name`` may take it; else a ValueError."""
        if not isinstance(gene, (tuple, list)) or len(gene) not in (2, 4):
            raise ValueError(
                f"search: layer {name!r}: a gene is (granularity label, sparsity) or (label, sparsity, "
                f"weight_bits, activation_bits), got {gene!r}"
            )
        label, sparsity = gene[0], gene[1]
        widths = tuple(gene[2:]) if len(gene) == 4 else (None, None)
        for field, width in zip(("weight_bits", "activation_bits"), widths):
            if width is not None and width not in self.widths:
                raise ValueError(
                    f"search: layer {name!r}: {field} {width!r} is not one of the space's widths "
                    f"{list(self.widths)}"
                )
        w, a = cast("tuple[int | None, int | None]", widths)
        if label == DENSE[0]:
            if sparsity != DENSE[1]:
                raise ValueError(f"search: layer {name!r}: a dense gene has sparsity 0.0, got {sparsity!r}")
            return DENSE.with_bits(w, a)
        if label not in self.allowed[name]:
            raise ValueError(
                f"search: layer {name!r}: granularity {label!r} is not one of {self.allowed[name]}"
            )
        if sparsity not in self.options[label].levels:
            raise ValueError(
                f"search: layer {name!r}: {label} sparsity {sparsity!r} is not one of {self.options[label].levels}"
            )
        return Gene(label, float(sparsity), w, a)

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
                    genes[i] = Gene("channel", top, genes[i].weight_bits, genes[i].activation_bits)
        return tuple(genes)

    def describe(self, plan: Plan) -> dict[str, dict[str, str | float | int | None]]:
        return {name: describe_gene(gene, bool(self.widths)) for name, gene in zip(self.layers, plan)}

    def bits(self, plan: Plan) -> dict[str, LayerBits]:
        """The layers of ``plan`` that name a width, as ``workloads.quantization.LayerBits``."""
        out = {}
        for name, gene in zip(self.layers, self.normalize(plan)):
            if gene.weight_bits is not None or gene.activation_bits is not None:
                out[name] = LayerBits(weights=gene.weight_bits, activations=gene.activation_bits)
        return out

    # ------------------------------------------------------------------ masks

    def masks(self, plan: Plan) -> Masks:
        """Masks of every weighted layer of the network for ``plan`` (unsearched layers stay dense)."""
        plan = self.normalize(plan)
        overrides: dict[str, LayerOption] = {
            name: self.options[gene.label].layer_option(gene.sparsity)
            for name, gene in zip(self.layers, plan)
            if gene.label != "dense"
        }
        return prune(
            self.network, self.weights, amount=0.0, granularity="unstructured",
            importance=self.importance, overrides=overrides, layers=self.layers,
        )  # fmt: skip

    def macs_density(self, masks: Masks) -> float:
        """Kept fraction of the searched layers' dense MACs (each layer weighted by its MACs)."""
        total = sum(self._dense_macs.values())
        return sum(self._dense_macs[n] * masks.density_of(n) for n in self.layers) / total


def describe_gene(gene: Sequence[object], widths: bool = False) -> dict[str, str | float | int | None]:
    """A gene's named fields; its widths too when it has them or ``widths`` (a space with widths)."""
    label, sparsity, w, a = gene_fields(gene)
    out: dict[str, str | float | int | None] = {"granularity": label, "sparsity": sparsity}
    if widths or w is not None or a is not None:
        out.update(weight_bits=w, activation_bits=a)
    return out


def _check_widths(bits: object) -> tuple[int, ...]:
    """The space's widths, widest first; none (a pruning-only space) for None."""
    if bits is None:
        return ()
    if isinstance(bits, (str, bytes)) or not isinstance(bits, Iterable):
        raise ValueError(f"search: bits must be a sequence of widths, e.g. (8, 4, 2), got {bits!r}")
    widths = [check_width("search", "bits", w) for w in bits]
    if not widths or len(set(widths)) != len(widths):
        raise ValueError(f"search: bits must name at least one width, each once, got {list(widths)}")
    return tuple(sorted(cast("list[int]", widths), reverse=True))


__all__ = [
    "Gene",
    "describe_gene",
    "gene_fields",
    "Plan",
    "DENSE",
    "DEFAULT_LADDER",
    "DEFAULT_GRANULARITIES",
    "parse_granularity_label",
    "Option",
    "SearchSpace",
]
