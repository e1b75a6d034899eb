"""Closed-form timing of a mapped layer under double buffering with one DRAM channel.

The model (docs/model.md has the derivation):

* A fold's operands must be resident before it computes. The first fold's load is exposed:
  ``latency + ceil(read_bytes / bandwidth)`` cycles.
* While fold *i* computes, the channel fetches fold *i+1*'s operands and drains fold *i-1*'s
  outputs. Fold *i* therefore occupies ``max(compute_i, transfer_i)`` cycles, where
  ``transfer_i = latency + ceil((read_{i+1} + write_{i-1}) / bandwidth)`` when anything moves.
* After the last fold its outputs drain: ``latency + ceil(write_F / bandwidth)``. The drain (and
  the part of the last fold's period after its compute) is also reported on its own
  (``drain_*``): the next layer cannot read its inputs before it ends,
  so `accelsim.timing.simulate` charges it to the next layer as a ``dependency`` stall, as event mode does.

Cycles beyond compute are stalls, split into the latency share and the bandwidth share.
Identical folds arrive as runs (``TileClass.count``), so a run costs three cases at most —
its first fold, its interior folds and its last fold — whatever its length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from accelsim.timing.mapping import TileClass


@dataclass(frozen=True)
class LayerTiming:
    cycles: int
    compute_cycles: int
    stall_dram_latency: int
    stall_dram_bandwidth: int
    drain_latency: int = 0  # part of the stalls above: the last fold's write-back
    drain_bandwidth: int = 0


def _transfer_cycles(num_bytes: float, bandwidth_bytes_per_cycle: float) -> int:
    if num_bytes <= 0 or math.isinf(bandwidth_bytes_per_cycle):
        return 0
    return math.ceil(num_bytes / bandwidth_bytes_per_cycle)


def _read_bytes(tile: TileClass) -> int:
    return sum(tile.dram_read_bytes.values())


def _write_bytes(tile: TileClass) -> int:
    return sum(tile.dram_write_bytes.values())


class _Channel:
    """Prices transfers on the DRAM channel and splits the exposed part by cause."""

    def __init__(self, bandwidth_bytes_per_cycle: float, latency_cycles: int):
        self.bandwidth = bandwidth_bytes_per_cycle
        self.latency = latency_cycles

    def exposed(self, num_bytes: int) -> tuple[int, int]:
        """(latency, bandwidth) cycles of a transfer nothing overlaps."""
        if num_bytes <= 0:
            return 0, 0
        return self.latency, _transfer_cycles(num_bytes, self.bandwidth)

    def overlapped(self, compute: int, num_bytes: int) -> tuple[int, int]:
        """(latency stall, bandwidth stall) of a transfer hidden behind `compute` cycles."""
        latency, streaming = self.exposed(num_bytes)
        latency_stall = max(0, latency - compute)
        total_stall = max(0, latency + streaming - compute)
        return latency_stall, total_stall - latency_stall


def time_layer(
    tiles: Sequence[TileClass], bandwidth_bytes_per_cycle: float, latency_cycles: int
) -> LayerTiming:
    channel = _Channel(bandwidth_bytes_per_cycle, latency_cycles)
    compute = sum(tile.count * tile.compute_cycles for tile in tiles)
    if not tiles:
        return LayerTiming(0, 0, 0, 0)

    latency_stall, bandwidth_stall = channel.exposed(_read_bytes(tiles[0]))
    for index, tile in enumerate(tiles):
        previous_write = _write_bytes(tiles[index - 1]) if index > 0 else 0
        next_read = _read_bytes(tiles[index + 1]) if index + 1 < len(tiles) else 0
        own_read, own_write = _read_bytes(tile), _write_bytes(tile)
        if tile.count == 1:
            cases = [(1, next_read + previous_write)]
        else:
            cases = [
                (1, own_read + previous_write),  # first fold of the run
                (tile.count - 2, own_read + own_write),  # interior folds
                (1, next_read + own_write),  # last fold of the run
            ]
        for multiplicity, moved_bytes in cases:
            if multiplicity <= 0:
                continue
            lat, bw = channel.overlapped(tile.compute_cycles, moved_bytes)
            latency_stall += multiplicity * lat
            bandwidth_stall += multiplicity * bw
        last_fold_stall = (lat, bw)

    # Everything after the last fold's compute ends is drain: the rest of its period (the
    # previous fold's write-back) and its own write-back.
    drain_latency, drain_bandwidth = channel.exposed(_write_bytes(tiles[-1]))
    latency_stall += drain_latency
    bandwidth_stall += drain_bandwidth
    drain_latency += last_fold_stall[0]
    drain_bandwidth += last_fold_stall[1]
    return LayerTiming(
        cycles=compute + latency_stall + bandwidth_stall,
        compute_cycles=compute,
        stall_dram_latency=latency_stall,
        stall_dram_bandwidth=bandwidth_stall,
        drain_latency=drain_latency,
        drain_bandwidth=drain_bandwidth,
    )
