"""The closed-form double-buffered timing against a fold-by-fold reference of the same model."""

import math

from hypothesis import given, settings, strategies as st

from accelsim.timing.analytical import time_layer
from accelsim.timing.mapping import TileClass


def _tile(count, compute, read, write):
    return TileClass(
        count=count,
        compute_cycles=compute,
        macs=compute,
        sram_reads={"ifmap": compute, "filter": compute},
        sram_writes={"ofmap": compute},
        dram_read_bytes={"ifmap": read, "filter": 0},
        dram_write_bytes={"ofmap": write},
    )


def _reference(tiles, bandwidth, latency):
    """Expand every fold and walk them one by one: obviously the model in the docstring."""
    folds = [t for t in tiles for _ in range(t.count)]
    reads = [sum(t.dram_read_bytes.values()) for t in folds]
    writes = [sum(t.dram_write_bytes.values()) for t in folds]

    def transfer(num_bytes):
        return 0 if num_bytes == 0 else latency + math.ceil(num_bytes / bandwidth)

    cycles = transfer(reads[0]) if folds else 0
    for i, fold in enumerate(folds):
        moved = (reads[i + 1] if i + 1 < len(folds) else 0) + (writes[i - 1] if i > 0 else 0)
        cycles += max(fold.compute_cycles, transfer(moved))
    if folds:
        cycles += transfer(writes[-1])
    return cycles


tiles_strategy = st.lists(
    st.builds(_tile, st.integers(1, 5), st.integers(1, 200), st.integers(0, 3000), st.integers(0, 3000)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(tiles=tiles_strategy, bandwidth=st.integers(1, 64), latency=st.integers(0, 300))
def test_closed_form_matches_fold_by_fold_reference(tiles, bandwidth, latency):
    timing = time_layer(tiles, bandwidth, latency)
    assert timing.cycles == _reference(tiles, bandwidth, latency)
    assert timing.cycles == timing.compute_cycles + timing.stall_dram_latency + timing.stall_dram_bandwidth
    assert timing.compute_cycles == sum(t.count * t.compute_cycles for t in tiles)


@settings(max_examples=100, deadline=None)
@given(tiles=tiles_strategy, bandwidth=st.integers(1, 64), latency=st.integers(0, 300))
def test_cycles_at_least_compute_and_dram_bounds(tiles, bandwidth, latency):
    timing = time_layer(tiles, bandwidth, latency)
    moved = sum(t.count * (sum(t.dram_read_bytes.values()) + sum(t.dram_write_bytes.values())) for t in tiles)
    assert timing.cycles >= timing.compute_cycles
    assert timing.cycles >= math.ceil(moved / bandwidth)


def test_unbounded_bandwidth_without_latency_is_pure_compute():
    tiles = [_tile(3, 10, 500, 700), _tile(1, 4, 9, 9)]
    timing = time_layer(tiles, math.inf, 0)
    assert timing.cycles == 34 and timing.stall_dram_bandwidth == 0 and timing.stall_dram_latency == 0


def test_memory_bound_run_is_priced_by_bandwidth():
    # 4 folds of 10 cycles each moving 100 bytes in and 0 out at 2 B/cycle: the channel needs 50
    # cycles per fold, so each interior period is 50 and the prologue exposes one load.
    timing = time_layer([_tile(4, 10, 100, 0)], 2, 0)
    assert timing.cycles == 50 + 3 * 50 + 10
    assert timing.stall_dram_bandwidth == timing.cycles - 40
