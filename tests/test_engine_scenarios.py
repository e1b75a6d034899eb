"""Tiny event-mode scenarios with exact `(event, cycle)` logs (SimPy style)."""

from accelsim.arch.hardware import Hardware
from accelsim.timing.engine import run_engine
from accelsim.timing.mapping import LayerMapping, TileClass


def tiny_hardware(bandwidth=8.0, latency=2, pe_power=None):
    return Hardware.from_dict(
        {
            "name": "tiny",
            "clock_mhz": 1000.0,
            "pe": {"rows": 2, "cols": 2, "dataflow": "os"},
            "buffers": {
                op: {"size_bytes": 1024, "read_bytes_per_cycle": 8, "write_bytes_per_cycle": 8}
                for op in ("ifmap", "filter", "ofmap")
            },
            "dram": {"bandwidth_bytes_per_cycle": bandwidth, "latency_cycles": latency},
            "datatypes": {"ifmap": "int8", "filter": "int8", "ofmap": "int8", "accum": "int32"},
            "power": {"pe_array": pe_power or {"policy": "never"}},
        }
    )


def layer(name, *runs):
    """runs: (count, compute_cycles, ifmap_bytes, filter_bytes, write_bytes)."""
    tiles = tuple(
        TileClass(
            count=n,
            compute_cycles=c,
            macs=c,
            sram_reads={"ifmap": 4, "filter": 4},
            sram_writes={"ofmap": 4},
            dram_read_bytes={"ifmap": i, "filter": f},
            dram_write_bytes={"ofmap": w},
        )
        for n, c, i, f, w in runs
    )
    return LayerMapping(
        layer=name, unit="array", dataflow="os", tiles=tiles, mapping_efficiency=1.0, compute_utilisation=1.0
    )


def events(result, *prefixes):
    return [e for e in result.trace.events() if e[0].startswith(prefixes)]


def test_two_double_buffered_tiles():
    # 16 B at 8 B/cycle streams 2 cycles, then 2 cycles of latency. Fold 1 loads while fold 0
    # waits to compute (the loader has one fold in flight), and is resident before fold 0 ends.
    result = run_engine([layer("L0", (2, 10, 16, 0, 8))], ["L0"], tiny_hardware(), trace=True)
    assert events(result, "load_ifmap", "pe_array L0", "write_back") == [
        ("load_ifmap L0#0 start", 0),
        ("load_ifmap L0#0 end", 4),
        ("load_ifmap L0#1 start", 4),
        ("pe_array L0#0 start", 4),
        ("load_ifmap L0#1 end", 8),
        ("pe_array L0#0 end", 14),
        ("pe_array L0#1 start", 14),
        ("write_back L0#0 start", 14),
        ("write_back L0#0 end", 17),
        ("pe_array L0#1 end", 24),
        ("write_back L0#1 start", 24),
        ("write_back L0#1 end", 27),
    ]
    (timeline,) = result.layers
    assert timeline.cycles == 27 and timeline.compute_cycles == 20
    # Prologue: 2 streaming + 2 latency; final drain: 1 streaming + 2 latency.
    assert timeline.stall_cycles == {"dram_bandwidth": 3, "dram_latency": 4}


def test_two_loaders_contend_for_dram():
    # ifmap 40 B (5 cycles) and filter 24 B (3 cycles) request the channel at cycle 0: the filter
    # queues behind the ifmap for the port, then both pay 2 cycles of pipelined latency.
    result = run_engine([layer("L0", (1, 4, 40, 24, 0))], ["L0"], tiny_hardware(), trace=True)
    assert events(result, "load_", "pe_array L0") == [
        ("load_filter L0#0 start", 0),
        ("load_ifmap L0#0 start", 0),
        ("load_ifmap L0#0 end", 7),
        ("load_filter L0#0 end", 10),
        ("pe_array L0#0 start", 10),
        ("pe_array L0#0 end", 14),
    ]
    (timeline,) = result.layers
    # The array waits 7 cycles for the ifmap (5 bandwidth, 2 latency) then 3 for the filter
    # (1 of its queueing/streaming, 2 latency).
    assert timeline.stall_cycles == {"dram_bandwidth": 6, "dram_latency": 4}
    assert result.dram_read_bytes == 64


def test_gated_pe_array_is_woken_by_a_load():
    policy = {"policy": "gate_after", "idle_cycles_to_gate": 3, "wake_latency_cycles": 4}
    result = run_engine([layer("L0", (1, 4, 40, 0, 8))], ["L0"], tiny_hardware(pe_power=policy), trace=True)
    assert events(result, "pe_array", "load_ifmap") == [
        ("load_ifmap L0#0 start", 0),
        ("pe_array idle", 0),
        ("pe_array sleep", 3),
        ("load_ifmap L0#0 end", 7),
        ("pe_array active", 7),  # the wake-up begins when the data is resident
        ("pe_array L0#0 start", 11),
        ("pe_array L0#0 end", 15),
        ("pe_array idle", 15),
    ]
    (timeline,) = result.layers
    # 5 + 2 waiting for the load, 4 waking, and the 8 B drain (1 streaming, 2 latency).
    assert timeline.stall_cycles == {"dram_bandwidth": 6, "dram_latency": 4, "wake_up": 4}
    assert timeline.wakes == {"pe_array": 1}
    assert {k: v for k, v in timeline.residency_cycles.items() if k[0] == "pe_array"} == {
        ("pe_array", "idle"): 3 + 3,
        ("pe_array", "sleep"): 4,
        ("pe_array", "active"): 4 + 4,
    }


def test_next_layer_weights_prefetch_but_inputs_wait_for_the_write_back():
    first = layer("L0", (2, 20, 8, 8, 8))
    second = layer("L1", (1, 5, 8, 8, 8))
    result = run_engine([first, second], ["L0", "L1"], tiny_hardware(), trace=True)
    log = dict(events(result, "load_", "write_back", "pe_array L"))
    # L1's weights load into the half L0#0 frees, while L0#1 still computes ...
    assert log["load_filter L1#0 start"] == log["pe_array L0#0 end"] < log["pe_array L0#1 end"]
    # ... but its inputs are read only once L0's outputs are written.
    assert log["load_ifmap L1#0 start"] == log["write_back L0#1 end"]
    assert result.layers[1].stall_cycles.get("dependency") == 3  # L0's last write-back
