"""Shared checks of the torch and ONNX importer tests: zoo equivalence and execute against torch."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from accelsim import simulate
from accelsim.timing.report import Report
from workloads.network import Network


def same_but_names(imported: Network, reference: Network) -> None:
    """Layer by layer in topological order, everything but the name; and the same edges."""
    assert len(imported) == len(reference)
    for a, b in zip(imported.layers(), reference.layers()):
        assert replace(a, name="x") == replace(b, name="x"), (a, b)
    rename = dict(zip(imported.layer_names, reference.layer_names))
    edges = {(rename[u], rename[v]) for u, v in imported.graph.edges}
    assert edges == set(reference.graph.edges)
    assert imported.total_macs == reference.total_macs


def _anonymous(report: Report) -> Report:
    layers = tuple(replace(layer, name=str(i)) for i, layer in enumerate(report.layers))
    return replace(report, network="net", layers=layers)


def same_reports(imported: Network, reference: Network, hardware: str) -> None:
    for mode in ("analytical", "event"):
        a = simulate(imported, hardware, mode=mode)
        b = simulate(reference, hardware, mode=mode)
        assert _anonymous(a) == _anonymous(b), mode
        assert a.cycles == b.cycles and a.energy_pj == b.energy_pj


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """Max abs difference over max abs value; ``execute`` keeps a Linear's token axis, torch does not."""
    assert actual.size == expected.size
    actual = actual.reshape(expected.shape)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))


def random_masks(
    network: Network, weights: dict[str, np.ndarray], density: float, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    return {
        layer.name: rng.random(weights[layer.name].shape) < density
        for layer in network.layers()
        if layer.weight_shape is not None
    }
