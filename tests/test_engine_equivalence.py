"""Where nothing contends, event mode equals analytical mode exactly (whole reports)."""

import math

import pytest
from engine_hardware import tile_class, tile_runs
from hypothesis import given, settings, strategies as st

from accelsim.arch.hardware import load_hardware
from accelsim.timing.analytical import time_layer
from accelsim.timing.engine import run_engine
from accelsim.timing.mapping import LayerMapping
from accelsim.timing.simulate import simulate
from workloads.zoo import get_network, list_networks

SMALL_INPUT = {
    "alexnet": (67, 67),
    "vgg16": (32, 32),
    "resnet18": (64, 64),
    "resnet50": (64, 64),
    "mobilenet_v2": (64, 64),
}


def unbounded(hardware, latency_cycles):
    """Unbounded DRAM bandwidth, buffers larger than any layer, no power gating."""
    hardware = hardware.replace("dram.latency_cycles", latency_cycles)
    for operand in ("ifmap", "filter", "ofmap"):
        hardware = hardware.replace(f"buffers.{operand}.size_bytes", 1 << 34)
    return hardware.replace("dram.bandwidth_bytes_per_cycle", math.inf)


def network(name):
    return get_network(name, input_hw=SMALL_INPUT[name]) if name in SMALL_INPUT else get_network(name)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("name", list_networks())
def test_event_equals_analytical_without_contention(name, dataflow):
    hardware = unbounded(load_hardware("scalesim_32x32").replace("pe.dataflow", dataflow), latency_cycles=7)
    net = network(name)
    analytical = simulate(net, hardware, mode="analytical")
    event = simulate(net, hardware, mode="event")
    assert event.cycles > event.compute_cycles  # latency is exposed: the comparison is not trivial
    for a, e in zip(analytical.layers, event.layers, strict=True):
        assert e == a, a.name
    assert event.energy_pj == analytical.energy_pj


tiles = tile_runs(max_count=4, max_compute=60, max_bytes=500, max_runs=5)


_UNBOUNDED: dict = {}


@settings(max_examples=150, deadline=None)
@given(runs=tiles, first_ifmap=st.integers(1, 500), latency=st.integers(0, 80))
def test_single_layer_matches_closed_form_with_unbounded_bandwidth(runs, first_ifmap, latency):
    # A layer's first fold always reads its inputs (the mapper guarantees it).
    first = runs[0]
    runs = [
        tile_class(
            1,
            first.compute_cycles,
            first_ifmap,
            first.dram_read_bytes["filter"],
            first.dram_write_bytes["ofmap"],
        )
    ] + runs
    mapping = LayerMapping(
        layer="L",
        unit="array",
        dataflow="os",
        tiles=tuple(runs),
        mapping_efficiency=1.0,
        compute_utilisation=1.0,
    )
    hardware = _UNBOUNDED.setdefault(latency, unbounded(load_hardware("scalesim_32x32"), latency))
    (timeline,) = run_engine([mapping], ["L"], hardware).layers
    timing = time_layer(mapping.tiles, math.inf, latency)
    assert timeline.cycles == timing.cycles
    assert timeline.stall_cycles.get("dram_latency", 0) == timing.stall_dram_latency
    assert timeline.stall_cycles.get("dram_bandwidth", 0) == 0
