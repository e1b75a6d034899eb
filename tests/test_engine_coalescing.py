"""Coalescing identical folds changes nothing: coalesced and fold-by-fold runs give identical
reports (to_json) and traces, across the zoo, dataflows, contention, latency and power gating."""

import math
from functools import partial

import engine_hardware
import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch.hardware import Hardware, load_hardware
from accelsim.timing.engine import run_engine
from accelsim.timing.mapping import LayerMapping, map_layer
from accelsim.timing.simulate import simulate
from workloads.layers import Conv2d
from workloads.network import Network
from workloads.zoo import get_network, list_networks

SMALL_INPUT = {
    "alexnet": (67, 67),
    "vgg16": (32, 32),
    "resnet18": (64, 64),
    "resnet50": (64, 64),
    "mobilenet_v2": (64, 64),
}


def _network(name):
    return get_network(name, input_hw=SMALL_INPUT[name]) if name in SMALL_INPUT else get_network(name)


def _variant(
    base: Hardware, *, dataflow, bandwidth=None, latency=None, buffer_bytes=None, gating=None, glb=None
) -> Hardware:
    d = base.to_dict()
    d["pe"]["dataflow"] = dataflow
    if bandwidth is not None:
        d["dram"]["bandwidth_bytes_per_cycle"] = bandwidth
    if latency is not None:
        d["dram"]["latency_cycles"] = latency
    if buffer_bytes is not None:
        for op in ("ifmap", "filter", "ofmap"):
            d["buffers"][op]["size_bytes"] = buffer_bytes
    if glb is not None:
        d["buffers"] = {"glb": {"size_bytes": glb, "read_bytes_per_cycle": 32, "write_bytes_per_cycle": 32}}
    if gating is not None:
        d["power"] = {
            component: engine_hardware.power_policy(*policy)
            for component, policy in zip(("pe_array", "buffers", "dram"), gating)
        }
    return Hardware.from_dict(d)


VARIANTS = {
    "default": {},
    "contended": {"bandwidth": 3.0, "latency": 40, "buffer_bytes": 4096},
    "gated": {"bandwidth": 16.0, "latency": 25, "gating": ((0, 3), (10, 7), (4, 30))},
    "glb_gated": {"bandwidth": 8.0, "latency": 5, "glb": 24 * 1024, "gating": ((2, 1), (0, 2), (None, 0))},
}


def _both(net, hardware):
    coalesced = simulate(net, hardware, mode="event")
    stepped = simulate(net, hardware, mode="event", _coalesce=False)
    return coalesced, stepped


DATAFLOWS = ("os", "ws", "is")
# Every network under every dataflow, each pair under one hardware variant in rotation, so each
# variant meets every dataflow and most networks (the full cross product costs minutes).
CASES = [
    (name, dataflow, sorted(VARIANTS)[(i + j) % len(VARIANTS)])
    for i, name in enumerate(list_networks())
    for j, dataflow in enumerate(DATAFLOWS)
]


@pytest.mark.parametrize("name, dataflow, variant", CASES)
def test_coalesced_reports_equal_fold_by_fold(name, dataflow, variant):
    hardware = _variant(load_hardware("scalesim_32x32"), dataflow=dataflow, **VARIANTS[variant])
    coalesced, stepped = _both(_network(name), hardware)
    assert coalesced.to_json() == stepped.to_json()


def test_coalescing_happens_and_traces_are_identical():
    """The comparison above is not vacuous: most folds of ResNet-18 are coalesced, and the trace
    (every activity, power interval and occupancy change point) is the fold-by-fold one."""
    net = _network("resnet18")
    for variant in ("default", "contended", "gated"):
        hardware = _variant(load_hardware("edge_16x16"), dataflow="os", **VARIANTS[variant])
        layers = net.layers()
        mappings = [map_layer(layer, hardware) for layer in layers]
        names = [layer.name for layer in layers]
        coalesced = run_engine(mappings, names, hardware, trace=True)
        stepped = run_engine(mappings, names, hardware, trace=True, coalesce=False)
        total = sum(m.folds for m in mappings)
        assert coalesced.coalesced_folds > total // 2, variant
        assert stepped.coalesced_folds == 0
        assert coalesced == stepped
        assert coalesced.trace == stepped.trace
        assert coalesced.trace.events() == stepped.trace.events()


# Runs of many identical folds (so coalescing has something to do), sometimes repeating in blocks.
runs = st.builds(
    engine_hardware.tile_class,
    st.integers(1, 25),
    st.integers(1, 60),
    st.integers(0, 400),
    st.integers(0, 400),
    st.integers(0, 400),
    sram_words=st.integers(0, 900),
)


@st.composite
def layer_tiles(draw):
    block = draw(st.lists(runs, min_size=1, max_size=3))
    repeats = draw(st.integers(1, 5))
    tail = draw(st.lists(runs, max_size=2))
    return block * repeats + tail


random_hardware = partial(
    engine_hardware.random_hardware,
    bandwidths=[0.5, 3.0, 7.0, 16.0, 64.0, math.inf],
    latencies=st.integers(0, 60),
    gate_after_max=40,
    wake_max=25,
)


@settings(max_examples=100, deadline=None)
@given(
    layers=st.lists(st.tuples(layer_tiles(), st.booleans()), min_size=1, max_size=3),
    hardware=random_hardware(),
)
def test_random_folds_and_hardware_coalesce_exactly(layers, hardware):
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
    stepped = run_engine(mappings, names, hardware, trace=True, coalesce=False)
    traced = run_engine(mappings, names, hardware, trace=True)
    assert traced == stepped
    assert traced.trace == stepped.trace
    # Without a trace, coalesced periods keep only their totals per power state.
    plain = run_engine(mappings, names, hardware)
    assert (plain.layers, plain.dram_read_bytes, plain.dram_write_bytes) == (
        stepped.layers,
        stepped.dram_read_bytes,
        stepped.dram_write_bytes,
    )


@settings(max_examples=25, deadline=None)
@given(
    channels=st.lists(st.integers(1, 48), min_size=1, max_size=3),
    size=st.integers(4, 20),
    dataflow=st.sampled_from(["os", "ws", "is"]),
    hardware=random_hardware(),
)
def test_random_networks_coalesce_exactly(channels, size, dataflow, hardware):
    layers, c_in = [], 3
    for i, c_out in enumerate(channels):
        layers.append(Conv2d(f"c{i}", c_in, c_out, kernel_size=3, input_hw=(size, size), padding=1))
        c_in = c_out
    net = Network.sequential("chain", layers)
    hardware = hardware.replace("pe.dataflow", dataflow)
    coalesced, stepped = _both(net, hardware)
    assert coalesced.to_json() == stepped.to_json()


def test_a_long_run_is_advanced_in_one_step_with_the_same_log():
    # 500 identical folds under DRAM contention and a gated array: the log of every fold, the
    # power intervals and the stalls are the fold-by-fold ones.
    hardware = _variant(
        load_hardware("scalesim_32x32"),
        dataflow="os",
        bandwidth=4.0,
        latency=9,
        gating=((3, 5), (None, 0), (2, 4)),
    )
    mapping = LayerMapping(
        layer="L0",
        unit="array",
        dataflow="os",
        tiles=(
            engine_hardware.tile_class(1, 40, 300, 100, 64, sram_words=64),
            engine_hardware.tile_class(500, 30, 100, 90, 64, sram_words=64),
        ),
        mapping_efficiency=1.0,
        compute_utilisation=1.0,
    )
    coalesced = run_engine([mapping], ["L0"], hardware, trace=True)
    stepped = run_engine([mapping], ["L0"], hardware, trace=True, coalesce=False)
    assert coalesced.coalesced_folds >= 490
    assert coalesced.trace.events() == stepped.trace.events()
    assert coalesced == stepped
