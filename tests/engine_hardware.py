"""Random small hardware and fold classes for the engine's property tests."""

from functools import partial

from hypothesis import strategies as st

from accelsim.arch.hardware import Hardware
from accelsim.timing.mapping import TileClass


def power_policy(gate_after, wake=0):
    """A power-state policy dict: never gated (``gate_after`` None) or gated after idle cycles."""
    if gate_after is None:
        return {"policy": "never"}
    return {"policy": "gate_after", "idle_cycles_to_gate": gate_after, "wake_latency_cycles": wake}


def random_hardware(*, bandwidths, latencies, gate_after_max, wake_max):
    """A strategy for a 4x4 os array with a shared or split SRAM, a DRAM channel drawn from
    `bandwidths` and the `latencies` strategy, and each component gated or not at random."""
    policies = st.one_of(st.none(), st.tuples(st.integers(0, gate_after_max), st.integers(0, wake_max)))

    @st.composite
    def build(draw):
        buffers = (
            {
                "glb": {
                    "size_bytes": draw(st.sampled_from([1536, 6144])),
                    "read_bytes_per_cycle": 8,
                    "write_bytes_per_cycle": 8,
                }
            }
            if draw(st.booleans())
            else {
                op: {
                    "size_bytes": draw(st.sampled_from([512, 2048, 8192])),
                    "read_bytes_per_cycle": 8,
                    "write_bytes_per_cycle": 8,
                }
                for op in ("ifmap", "filter", "ofmap")
            }
        )
        return Hardware.from_dict(
            {
                "name": "random",
                "clock_mhz": 500.0,
                "pe": {"rows": 4, "cols": 4, "dataflow": "os"},
                "buffers": buffers,
                "dram": {
                    "bandwidth_bytes_per_cycle": draw(st.sampled_from(bandwidths)),
                    "latency_cycles": draw(latencies),
                },
                "datatypes": {"ifmap": "int8", "filter": "int8", "ofmap": "int8", "accum": "int32"},
                "power": {
                    component: power_policy(*(draw(policies) or (None,)))
                    for component in ("pe_array", "buffers", "dram")
                },
            }
        )

    return build()


def tile_class(count, compute, ifmap, filt, write, *, sram_words=1):
    """A fold class of ``count`` folds: ``compute`` cycles (one MAC each), the given DRAM bytes, and
    ``sram_words`` SRAM accesses per operand."""
    return TileClass(
        count=count,
        compute_cycles=compute,
        macs=compute,
        sram_reads={"ifmap": sram_words, "filter": sram_words},
        sram_writes={"ofmap": sram_words},
        dram_read_bytes={"ifmap": ifmap, "filter": filt},
        dram_write_bytes={"ofmap": write},
    )


def tile_runs(*, max_count, max_compute, max_bytes, max_runs, sram_words=1):
    """A strategy for a layer's fold classes (1 to ``max_runs`` of them) drawn within the bounds."""
    dram_bytes = st.integers(0, max_bytes)
    return st.lists(
        st.builds(
            partial(tile_class, sram_words=sram_words),
            st.integers(1, max_count),
            st.integers(1, max_compute),
            dram_bytes,
            dram_bytes,
            dram_bytes,
        ),
        min_size=1,
        max_size=max_runs,
    )
