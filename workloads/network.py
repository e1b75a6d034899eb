"""A network: a name and a DAG of uniquely named layers, iterated in a stable topological order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import networkx as nx

from workloads.layers import LAYER_TYPES, Layer


class Network:
    """An immutable DAG of layers; node ``name`` carries attribute ``layer`` with ``layer.name == name``.

    The graph is copied and frozen on construction so a caller's later edits cannot leak in.
    Order is the lexicographic topological sort keyed by insertion index, so a chain iterates in
    construction order and branches resolve the same way on every run.
    """

    __slots__ = ("_graph", "_index", "_name", "_order")

    def __init__(self, name: str, graph: nx.DiGraph) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"network name must be a non-empty str, got {name!r}")
        if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
            raise ValueError(
                f"network {name!r}: graph must be a networkx DiGraph, got {type(graph).__name__}"
            )
        for node, data in graph.nodes(data=True):
            layer = data.get("layer")
            if not isinstance(layer, LAYER_TYPES):
                raise ValueError(f"network {name!r}: node {node!r} has no layer attribute (got {layer!r})")
            if layer.name != node:
                raise ValueError(f"network {name!r}: node {node!r} holds a layer named {layer.name!r}")
        if not nx.is_directed_acyclic_graph(graph):
            cycle = nx.find_cycle(graph)
            raise ValueError(f"network {name!r}: graph has a cycle {cycle}")
        self._name = name
        self._graph = nx.freeze(graph.copy())
        insertion = {node: i for i, node in enumerate(self._graph.nodes)}
        self._order: tuple[str, ...] = tuple(
            nx.lexicographical_topological_sort(self._graph, key=insertion.__getitem__)
        )
        self._index = insertion

    # ------------------------------------------------------------------ builders

    @classmethod
    def sequential(cls, name: str, layers: Iterable[Layer]) -> Network:
        """A chain: each layer feeds the next."""
        builder = NetworkBuilder(name)
        for layer in layers:
            builder.add(layer)
        return builder.build()

    # ------------------------------------------------------------------ access

    @property
    def name(self) -> str:
        return self._name

    @property
    def graph(self) -> nx.DiGraph:
        """The frozen graph; mutating it raises ``networkx.NetworkXError``."""
        return self._graph

    @property
    def layer_names(self) -> list[str]:
        return list(self._order)

    def layers(self) -> list[Layer]:
        return [self._graph.nodes[n]["layer"] for n in self._order]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers())

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, name: str) -> Layer:
        try:
            return self._graph.nodes[name]["layer"]
        except KeyError:
            raise KeyError(f"network {self._name!r} has no layer {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def predecessors(self, name: str) -> list[str]:
        self[name]  # raises a KeyError naming the layer
        return sorted(self._graph.predecessors(name), key=self._index.__getitem__)

    def successors(self, name: str) -> list[str]:
        self[name]
        return sorted(self._graph.successors(name), key=self._index.__getitem__)

    # ------------------------------------------------------------------ totals

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers())

    @property
    def total_ops(self) -> int:
        return sum(layer.ops for layer in self.layers())

    @property
    def total_weights(self) -> int:
        return sum(layer.weight_count for layer in self.layers())

    def __repr__(self) -> str:
        return f"Network({self._name!r}, {len(self)} layers, {self.total_macs:,} MACs)"


class NetworkBuilder:
    """Grows a DAG one layer at a time; ``add`` defaults its input to the previously added layer."""

    __slots__ = ("_graph", "_last", "_name")

    def __init__(self, name: str) -> None:
        self._name = name
        self._graph = nx.DiGraph()
        self._last: str | None = None

    def add(self, layer: Layer, inputs: Sequence[str] | str | None = None) -> str:
        """Add ``layer`` fed by ``inputs`` (names; default: the last added layer; ``()`` = a source)."""
        if not isinstance(layer, LAYER_TYPES):
            raise ValueError(f"network {self._name!r}: not a layer: {layer!r}")
        if layer.name in self._graph:
            raise ValueError(f"network {self._name!r}: duplicate layer name {layer.name!r}")
        if inputs is None:
            inputs = () if self._last is None else (self._last,)
        elif isinstance(inputs, str):
            inputs = (inputs,)
        for src in inputs:
            if src not in self._graph:
                raise ValueError(f"network {self._name!r}: layer {layer.name!r} input {src!r} is not defined")
        self._graph.add_node(layer.name, layer=layer)
        for src in inputs:
            self._graph.add_edge(src, layer.name)
        self._last = layer.name
        return layer.name

    @property
    def last(self) -> str | None:
        return self._last

    def build(self) -> Network:
        return Network(self._name, self._graph)


__all__ = ["Network", "NetworkBuilder"]
