"""The bookkeeping under ``GraphBuilder``: what each tensor of the source graph is, and the network so far.

A front end names tensors by its own ids; ``GraphState`` records for each id the layer whose output
holds its data and its full shape (``Value``), drops the example's batch axis, follows views that
only change shapes (reshape, flatten) or move data (permute, slice), collects the layers, edges,
weights and notes, and finishes them into an ``Imported``. It knows no operation: turning ops into
layers (and fusing batch normalisation and activations) is ``builder.GraphBuilder``'s, which extends
this class. Kept apart so that the per-op rules read without the tensor plumbing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from workloads.importers.errors import ImportFormatError
from workloads.importers.imported import Imported
from workloads.layers import Layer
from workloads.network import NetworkBuilder


@dataclass(frozen=True)
class Value:
    """A tensor of the source graph: the layer whose output holds its data (``None`` for the network
    input) and its full shape; ``direct`` is False once a reshape or slice came between."""

    producer: str | None
    shape: tuple[int, ...]
    direct: bool = True


class GraphState:
    """The tensors and layers a graph has produced so far; ``uses`` counts each tensor id's consumers."""

    def __init__(self, name: str, *, batch: int, uses: Mapping[str, int], where: str) -> None:
        self._name = name
        self.batch = batch
        self.uses = uses
        self._where = where  # "node {id}" prefix source for messages, e.g. "model.onnx"
        self.values: dict[str, Value] = {}
        self.layers: dict[str, Layer] = {}
        self._edges: list[tuple[str, str]] = []
        self.weights: dict[str, np.ndarray] = {}
        self._notes: list[str] = []
        self.inexact: list[str] = []

    def lower(self, node: str, handler: Callable[[], None] | None, op: str, supported: Iterable[str]) -> None:
        """Run one operation's handler (``None``: an op outside the table, named with the ones in it);
        a layer rejecting the shapes it was given becomes an error naming the node."""
        if handler is None:
            raise self.error(node, f"unsupported op {op}; supported ops: {', '.join(sorted(supported))}")
        try:
            handler()
        except ImportFormatError:
            raise
        except ValueError as exc:
            raise self.error(node, str(exc)) from exc

    def error(self, node: str, message: str) -> ImportFormatError:
        return ImportFormatError(f"{self._where}: node {node!r}: {message}")

    def value(self, tid: str, node: str) -> Value:
        try:
            return self.values[tid]
        except KeyError:
            raise self.error(node, f"input {tid!r} is not produced by an earlier operation") from None

    def has(self, tid: str) -> bool:
        return tid in self.values

    def per_sample(self, shape: Sequence[int], node: str) -> tuple[int, ...]:
        """``shape`` without its batch axis (the first axis of the example's batch size)."""
        shape = tuple(int(d) for d in shape)
        if self.batch in shape:
            i = shape.index(self.batch)
            rest = shape[:i] + shape[i + 1 :]
            return rest if rest else (1,)
        if self.batch == 1:  # the batch axis was merged away (attention reshapes to (tokens, d))
            return shape
        raise self.error(node, f"shape {shape} has no batch axis of size {self.batch}")

    def sample_const(self, value: np.ndarray, shape: Sequence[int], node: str) -> np.ndarray:
        """A constant operand broadcast to ``shape`` and taken at batch index 0 (per sample)."""
        full = np.broadcast_to(np.asarray(value), tuple(shape))
        axis = tuple(shape).index(self.batch) if self.batch in shape else None
        if axis is None:
            raise self.error(node, f"constant operand of shape {np.shape(value)} has no batch axis")
        return np.take(full, 0, axis=axis).copy()

    def unique_name(self, name: str) -> str:
        """``name`` (dots stripped), suffixed ``_1``, ``_2``, ... when a layer already has it."""
        name = name.strip(".") or "layer"
        if name not in self.layers:
            return name
        i = 1
        while f"{name}_{i}" in self.layers:
            i += 1
        return f"{name}_{i}"

    def emit(self, layer: Layer, inputs: Sequence[Value], out: str, shape: Sequence[int]) -> Layer:
        """Record ``layer``, an edge from each input's producer, and ``out`` as its output of ``shape``."""
        self.layers[layer.name] = layer
        for v in inputs:
            if v.producer is not None and (v.producer, layer.name) not in self._edges:
                self._edges.append((v.producer, layer.name))
        self.values[out] = Value(layer.name, tuple(shape))
        return layer

    def note(self, message: str) -> None:
        if message not in self._notes:
            self._notes.append(message)

    # ------------------------------------------------------------------ sources and views

    def input(self, tid: str, shape: Sequence[int]) -> None:
        self.values[tid] = Value(None, tuple(int(d) for d in shape))

    def alias(self, out: str, x: str, shape: Sequence[int], node: str) -> None:
        """A view with a new shape and the same data order (reshape, flatten, dropout, identity)."""
        v = self.value(x, node)
        shape = tuple(int(d) for d in shape)
        self.values[out] = Value(v.producer, shape, v.direct and shape == v.shape)

    def reorder(self, out: str, x: str, shape: Sequence[int], node: str, what: str) -> None:
        """A view that moves or drops data (permute, slice, select): shapes follow, data does not."""
        self.alias(out, x, shape, node)
        self.values[out] = replace(self.values[out], direct=False)
        self.inexact.append(f"{node} ({what})")

    # ------------------------------------------------------------------ result

    def finish(self, *, with_weights: bool = True) -> Imported:
        if not self.layers:
            raise ImportFormatError(f"{self._where}: the graph has no layer this simulator models")
        network = NetworkBuilder(self._name)
        for name, layer in self.layers.items():  # creation order: every input exists already
            network.add(layer, inputs=[u for u, v in self._edges if v == name])
        notes = list(self._notes)
        if self.inexact:
            shown = ", ".join(self.inexact[:5]) + (", ..." if len(self.inexact) > 5 else "")
            notes.append(
                f"{len(self.inexact)} data-moving views are not layers ({shown}); shapes and MACs "
                "are exact, but execute() does not reproduce this model"
            )
        weights = self.weights if with_weights else None
        return Imported(network.build(), weights, tuple(notes))


__all__ = ["GraphState", "Value"]
