"""Where the speedup went: ideal (dense MACs / effectual MACs) against achieved, per layer.

The gap ``cycles - dense_cycles / ideal`` is split by switching one inefficiency off at a time in
the analytical model (`accelsim.timing.analytical`), in this order:

1. ``metadata_traffic``: the format's indices, pointers and bitmaps stop moving;
2. ``unsupported_pattern``: the hardware skips exactly the mask's zeros whatever its format,
   mode and dataflow (a fallback, gating, whole blocks or N:M slots of zeros, stationary weights);
3. ``load_imbalance``: every lane of a fold gets the fold's mean work;
4. ``channel_compaction``: the layer is no longer compacted (`accelsim.sparse.compaction`). This one is
   a gain, so it is zero or negative: the cycles saved because the surviving channels pack into
   fewer folds than their MACs alone would say (e.g. 20 output channels pruned to 16 on a
   16-column array: one column fold instead of two);
5. ``memory_bound``: DRAM stalls left beyond the dense layer's stalls scaled by the ideal speedup;
6. ``fixed_overhead``: the rest -- pipeline fill and drain and decode cycles that do not shrink
   with sparsity, and the difference between the timing mode and the analytical model.

Each cause is the drop in cycles its switch brings, so the six add up to the gap exactly.
"""

from __future__ import annotations

from accelsim.timing.analytical import time_layer
from accelsim.timing.sparse_model import SparseLayerModel, Variant

_STEPS = (
    ("metadata_traffic", Variant(metadata=False)),
    ("unsupported_pattern", Variant(metadata=False, perfect_pattern=True)),
    ("load_imbalance", Variant(metadata=False, perfect_pattern=True, balanced=True)),
)


def attribute_losses(
    model: SparseLayerModel, actual_mapping, cycles: int, dense_cycles: int, dense_stall_cycles: int
) -> dict[str, float]:
    """Cycles lost to each cause for one masked layer (see the module docstring)."""
    dram = model.hardware.dram
    dense_macs = model.dense_macs
    density = model.effectual_macs / dense_macs if dense_macs else 0.0

    def timed(mapping):
        return time_layer(mapping.tiles, dram.bandwidth_bytes_per_cycle, dram.latency_cycles)

    losses: dict[str, float] = {}
    previous = timed(actual_mapping).cycles
    for cause, variant in _STEPS:
        timing = timed(model.map(variant))
        losses[cause] = float(previous - timing.cycles)
        previous = timing.cycles
    # The last step's switches, on the layer as specified: what compaction saved on top of them.
    if model.compaction is not None:
        timing = timed(model.uncompacted.map(_STEPS[-1][1]))
    losses["channel_compaction"] = float(previous - timing.cycles)
    stalls = timing.cycles - timing.compute_cycles
    losses["memory_bound"] = float(stalls - dense_stall_cycles * density)
    ideal_cycles = dense_cycles * density
    losses["fixed_overhead"] = float(cycles - ideal_cycles - sum(losses.values()))
    return losses
