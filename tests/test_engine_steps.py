"""Closed-form steps over folds that differ (`accelsim.timing.engine.coalesce`) change nothing.

Sparse masks give every fold its own compute cycles and bytes, so steady runs of identical folds
are short and the engine advances most folds by closed-form steps instead. Reports (to_json) and
traces must equal those of the fold-by-fold run (`_coalesce=False`): for real masks on zoo
networks and presets (bitmap skipping, N:M, dense hardware) with and without power gating, and for
random folds that all differ on random hardware (contention, latency, gating, a unified buffer).
"""

import math
from functools import partial

import engine_hardware
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch.hardware import load_hardware
from accelsim.timing.engine import run_engine
from accelsim.timing.mapping import LayerMapping, map_layer
from accelsim.timing.simulate import simulate
from accelsim.timing.sparse_model import SparseLayerModel
from workloads.zoo import get_network

NETWORKS = {"lenet5": {}, "resnet18": {"input_hw": (48, 48)}}
PRESETS = ("sparse_edge_16x16", "nm_tensor_32x32", "scalesim_32x32")
GATED = {
    "pe_array": {"policy": "gate_after", "idle_cycles_to_gate": 2, "wake_latency_cycles": 3},
    "buffers": {"policy": "gate_after", "idle_cycles_to_gate": 20, "wake_latency_cycles": 4},
    "dram": {"policy": "gate_after", "idle_cycles_to_gate": 6, "wake_latency_cycles": 9},
}


def _weighted(network):
    return [
        layer for layer in network.layers() if layer.gemm is not None and getattr(layer, "weight_shape", None)
    ]


def _masks(network, hardware, seed=0):
    """Random masks; 2:4 along the reduction (where 4 divides it) for N:M hardware."""
    rng = np.random.default_rng(seed)
    masks = {}
    for layer in _weighted(network):
        shape = tuple(layer.weight_shape)
        rows, cols = shape[0], math.prod(shape[1:])
        if hardware.sparsity.weights.format == "nm" and cols % 4 == 0:
            # Keep 0, 1 or 2 of each group of 4: every output channel gets its own count.
            keep = rng.integers(0, 3, size=(rows, cols // 4, 1))
            ranks = rng.random((rows, cols // 4, 4)).argsort(axis=2).argsort(axis=2)
            masks[layer.name] = (ranks < keep).reshape(shape)
        else:
            masks[layer.name] = rng.random(shape) < rng.uniform(0.2, 0.6)
    return masks


def _hardware(preset, gated):
    hardware = load_hardware(preset)
    if gated:
        for component, policy in GATED.items():
            hardware = hardware.replace(f"power.{component}", policy)
    return hardware


@pytest.mark.parametrize("gated", [False, True], ids=["never", "gated"])
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_sparse_masks_report_and_trace_equal_fold_by_fold(name, preset, gated):
    network = get_network(name, **NETWORKS[name])
    hardware = _hardware(preset, gated)
    masks = _masks(network, hardware)
    dense = simulate(network, hardware, _coalesce=False)
    fast = simulate(network, hardware, masks=masks, baseline=dense, trace=True)
    stepped = simulate(network, hardware, masks=masks, baseline=dense, trace=True, _coalesce=False)
    assert fast.to_json() == stepped.to_json()
    assert fast.trace == stepped.trace
    assert fast.trace.events() == stepped.trace.events()
    plain = simulate(network, hardware, masks=masks, baseline=dense, explain=False)
    reference = simulate(network, hardware, masks=masks, baseline=dense, explain=False, _coalesce=False)
    assert plain.to_json() == reference.to_json()


def test_sparse_folds_are_stepped_not_simulated():
    """The comparison above is not vacuous: on bitmap hardware the masks make folds differ from
    their neighbours, and the engine still advances nearly all of them without events."""
    network = get_network("resnet18", input_hw=(48, 48))
    hardware = load_hardware("sparse_edge_16x16")
    masks = _masks(network, hardware)
    layers = network.layers()
    mappings = [
        SparseLayerModel(layer, hardware, masks[layer.name]).map()
        if layer.name in masks
        else map_layer(layer, hardware)
        for layer in layers
    ]
    names = [layer.name for layer in layers]
    assert (
        sum(len(m.tiles) for m in mappings) > 2 * sum(len(map_layer(l, hardware).tiles) for l in layers) // 3
    )
    for trace in (False, True):
        fast = run_engine(mappings, names, hardware, trace=trace)
        stepped = run_engine(mappings, names, hardware, trace=trace, coalesce=False)
        assert fast == stepped
        assert fast.trace == stepped.trace
        assert fast.coalesced_folds > 0.9 * sum(m.folds for m in mappings)


# Folds that all differ from their neighbours (so no run of identical folds to coalesce), with
# compute and bytes from idle-channel to bandwidth-bound, zero bytes and zero-length ties.
folds = st.builds(
    engine_hardware.tile_class,
    st.just(1),
    st.integers(1, 80),
    st.sampled_from([0, 0, 1, 7, 64, 300]) | st.integers(0, 500),
    st.sampled_from([0, 0, 16, 128]) | st.integers(0, 500),
    st.sampled_from([0, 8, 96]) | st.integers(0, 300),
    sram_words=st.integers(0, 700),
)

random_hardware = partial(
    engine_hardware.random_hardware,
    bandwidths=[0.5, 3.0, 12.8, 64.0, math.inf],
    latencies=st.sampled_from([0, 1, 9, 50]),
    gate_after_max=30,
    wake_max=12,
)


@settings(max_examples=150, deadline=None)
@given(
    layers=st.lists(
        st.tuples(st.lists(folds, min_size=1, max_size=40), st.booleans()), min_size=1, max_size=3
    ),
    hardware=random_hardware(),
    trace=st.booleans(),
)
def test_random_distinct_folds_step_exactly(layers, hardware, trace):
    mappings = [
        LayerMapping(
            layer=f"L{i}",
            unit="array" if on_array else "vector",
            dataflow="os",
            tiles=tuple(tiles),
            mapping_efficiency=1.0,
            compute_utilisation=1.0,
        )
        for i, (tiles, on_array) in enumerate(layers)
    ]
    names = [m.layer for m in mappings]
    fast = run_engine(mappings, names, hardware, trace=trace)
    stepped = run_engine(mappings, names, hardware, trace=trace, coalesce=False)
    assert fast == stepped
    assert fast.trace == stepped.trace


def test_a_bandwidth_bound_stretch_is_stepped_with_its_stalls():
    # 300 folds that differ, each waiting for its loads on a slow channel with latency under a
    # gated array: every fold is stepped in closed form (the stalls are split exactly).
    rng = np.random.default_rng(3)
    tiles = tuple(
        engine_hardware.tile_class(1, int(c), int(i), int(f), int(w), sram_words=64)
        for c, i, f, w in zip(
            rng.integers(5, 40, 300),
            rng.integers(50, 200, 300),
            rng.integers(0, 120, 300),
            rng.integers(10, 90, 300),
        )
    )
    hardware = (
        load_hardware("scalesim_32x32")
        .replace("dram.bandwidth_bytes_per_cycle", 4.0)
        .replace("dram.latency_cycles", 13)
        .replace("power.pe_array", GATED["pe_array"])
    )
    mapping = LayerMapping(
        layer="L0", unit="array", dataflow="os", tiles=tiles, mapping_efficiency=1.0, compute_utilisation=1.0
    )
    fast = run_engine([mapping], ["L0"], hardware, trace=True)
    stepped = run_engine([mapping], ["L0"], hardware, trace=True, coalesce=False)
    assert fast.coalesced_folds >= 290
    stalls = fast.layers[0].stall_cycles
    assert stalls["dram_bandwidth"] > 0 and stalls["dram_latency"] > 0 and stalls["wake_up"] > 0
    assert fast == stepped
    assert fast.trace.events() == stepped.trace.events()
