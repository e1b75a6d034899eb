"""Measured input-activation density per layer, for hardware that gates or skips zero inputs.

`ifmap_densities` runs the (pruned) network on a sample batch through `accelsim.sparse.execute` and
counts, for every layer with weights, the fraction of non-zero values in the tensor it reads.
The simulator (`simulate(..., ifmap_density=...)`) treats each streamed activation as non-zero
with that probability, independently (docs/model.md, "Sparsity"); zeros a convolution's padding
adds are not counted, so the figure is the tensor's, not the im2col matrix's.

``per_channel=True`` gives one density per input channel (per feature for a ``Linear``) instead:
a layer compacted after channel pruning (`accelsim.sparse.compaction`) no longer reads the channels its
pruned producers zeroed, so its density is that of the channels it keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from accelsim.sparse.compaction import input_channels
from accelsim.sparse.execute import execute
from workloads.layers import Conv2d
from workloads.network import Network


def _density(array: np.ndarray) -> float:
    return float(np.count_nonzero(array)) / array.size if array.size else 1.0


def _channel_densities(layer, array: np.ndarray) -> np.ndarray:
    """Non-zero fraction per input channel: axis 1 of a (B, C, H, W) batch, the last axis of a
    (..., features) one."""
    channels = input_channels(layer)
    if channels is None:
        raise ValueError(f"layer {layer.name!r}: {type(layer).__name__} has no input channels to measure")
    moved = np.moveaxis(array, 1, -1) if isinstance(layer, Conv2d) else array
    flat = moved.reshape(-1, channels)
    if not flat.shape[0]:
        return np.ones(channels)
    return np.count_nonzero(flat, axis=0) / flat.shape[0]


def ifmap_densities(
    network: Network,
    weights: Mapping[str, np.ndarray],
    inputs: np.ndarray,
    *,
    masks: Mapping[str, np.ndarray] | None = None,
    formats=None,
    per_channel: bool = False,
) -> dict[str, float] | dict[str, np.ndarray]:
    """Layer name -> fraction of non-zero input activations, for every layer with weights
    (with ``per_channel``, an array of one fraction per input channel or feature)."""
    outputs = execute(network, weights, masks, inputs, formats=formats, return_all=True)
    densities: dict[str, Any] = {}
    for layer in network.layers():
        if layer.gemm is None or getattr(layer, "weight_shape", None) is None:
            continue
        preds = network.predecessors(layer.name)
        if len(preds) > 1:
            raise ValueError(
                f"layer {layer.name!r}: a weighted layer with {len(preds)} inputs is not supported"
            )
        source = (
            outputs[preds[0]]
            if preds
            else np.asarray(inputs if not isinstance(inputs, Mapping) else inputs[layer.name])
        )
        source = np.asarray(source)
        densities[layer.name] = _channel_densities(layer, source) if per_channel else _density(source)
    return densities
