"""The stream of folds (tiles) every process walks, in execution order across all layers."""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

from accelsim.mapping import LayerMapping


class Fold(NamedTuple):
    """One fold of one layer: its compute time, the DRAM bytes it moves and its SRAM working set."""

    layer: int                  # index of the layer in execution order
    index: int                  # fold number within the layer
    compute_cycles: int
    on_array: bool              # False: the vector unit computes it, the PE array stays idle
    read_bytes: dict            # operand -> DRAM bytes loaded for this fold
    write_bytes: int            # DRAM bytes written back after this fold
    working_set_bytes: dict     # operand -> bytes the fold occupies in its buffer half
    first: bool                 # first fold of its layer
    last: bool                  # last fold of its layer


def iter_folds(mappings: Sequence[LayerMapping], word_bytes: dict, half_bytes: dict) -> Iterator[Fold]:
    """Expand every layer's runs of identical folds into single folds (events are per fold)."""
    for layer_index, mapping in enumerate(mappings):
        total = mapping.folds
        on_array = mapping.unit == "array"
        index = 0
        for tile in mapping.tiles:
            reads = {op: tile.dram_read_bytes.get(op, 0) for op in ("ifmap", "filter")}
            write = sum(tile.dram_write_bytes.values())
            # A working set larger than a half streams through it: the half is full, not more.
            working = {
                "ifmap": min(tile.sram_reads.get("ifmap", 0) * word_bytes["ifmap"], half_bytes["ifmap"]),
                "filter": min(tile.sram_reads.get("filter", 0) * word_bytes["filter"], half_bytes["filter"]),
                "ofmap": min(tile.sram_writes.get("ofmap", 0) * word_bytes["ofmap"], half_bytes["ofmap"]),
            }
            for _ in range(tile.count):
                yield Fold(layer_index, index, tile.compute_cycles, on_array, reads, write, working,
                           index == 0, index == total - 1)
                index += 1
