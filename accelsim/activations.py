"""Measured input-activation density per layer, for hardware that gates or skips zero inputs.

`ifmap_densities` runs the (pruned) network on a sample batch through `accelsim.execute` and
counts, for every layer with weights, the fraction of non-zero values in the tensor it reads.
The simulator (`simulate(..., ifmap_density=...)`) treats each streamed activation as non-zero
with that probability, independently (docs/model.md, "Sparsity"); zeros a convolution's padding
adds are not counted, so the figure is the tensor's, not the im2col matrix's.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from accelsim.execute import execute
from workloads.network import Network


def _density(array: np.ndarray) -> float:
    return float(np.count_nonzero(array)) / array.size if array.size else 1.0


def ifmap_densities(network: Network, weights: Mapping[str, np.ndarray], inputs: np.ndarray, *,
                    masks: Mapping[str, np.ndarray] | None = None, formats=None) -> dict[str, float]:
    """Layer name -> fraction of non-zero input activations, for every layer with weights."""
    outputs = execute(network, weights, masks, inputs, formats=formats, return_all=True)
    densities = {}
    for layer in network.layers():
        if layer.gemm is None or getattr(layer, "weight_shape", None) is None:
            continue
        preds = network.predecessors(layer.name)
        if len(preds) > 1:
            raise ValueError(f"layer {layer.name!r}: a weighted layer with {len(preds)} inputs is not supported")
        source = outputs[preds[0]] if preds else np.asarray(inputs if not isinstance(inputs, Mapping)
                                                             else inputs[layer.name])
        densities[layer.name] = _density(np.asarray(source))
    return densities
