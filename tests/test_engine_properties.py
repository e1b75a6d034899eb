"""Invariants of event mode under contention (hypothesis)."""

import math

from engine_hardware import tile_runs
from hypothesis import given, settings, strategies as st

from accelsim.arch.hardware import Hardware
from accelsim.timing.engine import run_engine
from accelsim.timing.mapping import LayerMapping
from accelsim.timing.report import POWER_STATES
from accelsim.timing.simulate import simulate
from workloads.layers import Conv2d
from workloads.network import Network


def _hardware(bandwidth, latency, gate_after, wake):
    policy = (
        {"policy": "gate_after", "idle_cycles_to_gate": gate_after, "wake_latency_cycles": wake}
        if gate_after is not None
        else {"policy": "never"}
    )
    return Hardware.from_dict(
        {
            "name": "prop",
            "clock_mhz": 500.0,
            "pe": {"rows": 4, "cols": 4, "dataflow": "os"},
            "buffers": {
                op: {"size_bytes": 4096, "read_bytes_per_cycle": 8, "write_bytes_per_cycle": 8}
                for op in ("ifmap", "filter", "ofmap")
            },
            "dram": {"bandwidth_bytes_per_cycle": bandwidth, "latency_cycles": latency},
            "datatypes": {"ifmap": "int8", "filter": "int8", "ofmap": "int8", "accum": "int32"},
            "power": {"pe_array": policy, "buffers": policy, "dram": policy},
        }
    )


layer_tiles = tile_runs(max_count=3, max_compute=50, max_bytes=400, max_runs=4, sram_words=8)
hardware = st.builds(
    _hardware,
    st.sampled_from([0.5, 3.0, 16.0, 64.0]),
    st.integers(0, 40),
    st.one_of(st.none(), st.integers(0, 30)),
    st.integers(0, 20),
)


def _mappings(layers):
    return [
        LayerMapping(
            layer=f"L{i}",
            unit="array",
            dataflow="os",
            tiles=tuple(tiles),
            mapping_efficiency=1.0,
            compute_utilisation=1.0,
        )
        for i, tiles in enumerate(layers)
    ]


@settings(max_examples=120, deadline=None)
@given(layers=st.lists(layer_tiles, min_size=1, max_size=3), hw=hardware)
def test_cycles_at_least_compute_and_dram_bounds_and_bytes_add_up(layers, hw):
    mappings = _mappings(layers)
    result = run_engine(mappings, [m.layer for m in mappings], hw)
    cycles = sum(t.cycles for t in result.layers)
    compute = sum(m.compute_cycles for m in mappings)
    reads = sum(sum(m.dram_read_bytes.values()) for m in mappings)
    writes = sum(sum(m.dram_write_bytes.values()) for m in mappings)
    assert cycles >= compute
    assert cycles >= math.ceil((reads + writes) / hw.dram.bandwidth_bytes_per_cycle)
    assert (result.dram_read_bytes, result.dram_write_bytes) == (reads, writes)
    for timeline, mapping in zip(result.layers, mappings):
        assert timeline.compute_cycles == mapping.compute_cycles
        assert timeline.cycles == timeline.compute_cycles + sum(timeline.stall_cycles.values())
        components = {c for c, _ in timeline.residency_cycles}
        for component in components:  # every component is in exactly one state each cycle
            assert (
                sum(timeline.residency_cycles.get((component, s), 0) for s in POWER_STATES) == timeline.cycles
            )


def _chain(channels):
    layers, c_in = [], 3
    for i, c_out in enumerate(channels):
        layers.append(Conv2d(f"c{i}", c_in, c_out, kernel_size=3, input_hw=(6, 6), padding=1))
        c_in = c_out
    return Network.sequential("chain", layers)


@settings(max_examples=25, deadline=None)
@given(channels=st.lists(st.integers(1, 24), min_size=1, max_size=4), hw=hardware)
def test_energy_adds_over_layers(channels, hw):
    report = simulate(_chain(channels), hw, mode="event")
    assert math.isclose(
        report.energy_pj, math.fsum(layer.energy_pj for layer in report.layers), rel_tol=1e-12
    )
    assert report.cycles == sum(layer.cycles for layer in report.layers)
    # Leakage is power x time in state, layer by layer.
    assert report.residency_cycles == {
        key: sum(layer.residency_cycles.get(key, 0) for layer in report.layers)
        for key in report.residency_cycles
    }
