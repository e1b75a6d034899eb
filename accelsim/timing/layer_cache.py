"""Reuse of per-layer sparse models across simulations: a search re-simulates only what changed.

A mask search evaluates many mask sets that differ in one layer or two. `LayerCache` keys each
layer's `SparseLayerModel` (and the folds it maps to) by the layer spec, the hardware's content
hash, the mask's bits, the activation density and whether channels are compacted, so
`simulate(..., cache=...)` rebuilds only the layers whose key is new; timing then runs over the
whole network as usual (layers interact through the shared DRAM channel and dependency stalls).
Bounded, least recently used first out.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from accelsim.timing.sparse_model import SparseLayerModel, sparse_layer_model


class LayerCache:
    def __init__(self, max_entries: int = 4096) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            raise ValueError(f"LayerCache: max_entries must be an int >= 1, got {max_entries!r}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, SparseLayerModel] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _key(layer, hardware_hash: str, mask: np.ndarray, density, compact: bool) -> tuple:
        bits = hashlib.sha256(np.packbits(mask.ravel()).tobytes()).hexdigest()
        if density is not None and np.ndim(density):  # per-channel densities
            density = hashlib.sha256(np.ascontiguousarray(density, dtype=np.float64).tobytes()).hexdigest()
        return (repr(layer), hardware_hash, mask.shape, bits, density, compact)

    def model(
        self, layer, hardware, hardware_hash: str, mask: np.ndarray, density, *, compact: bool = True
    ) -> SparseLayerModel:
        key = self._key(layer, hardware_hash, mask, density, compact)
        model = self._entries.get(key)
        if model is not None:
            self.hits += 1
            self._entries.move_to_end(key)
            return model
        self.misses += 1
        model = sparse_layer_model(layer, hardware, mask, density, compact=compact)
        self._entries[key] = model
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return model
