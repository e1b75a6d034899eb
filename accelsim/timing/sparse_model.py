"""Sparse mapping: the folds of a layer whose weights carry a real mask (docs/model.md, "Sparsity").

The dense mapping (`accelsim.timing.mapping`) fixes the folds; the mask changes what each fold costs.
Per fold, `accelsim.sparse.kernels.tile_stats` counts the non-zero weights every PE row and column
holds or streams. Two masks are counted:

* the **effectual** mask (the real one): its MACs are the work that matters, and
  ``sum(effectual MACs) == mask.sum() * reuse`` exactly;
* the **processed** mask: the weight slots the hardware actually issues, i.e. the structure
  its format stores (`accelsim.sparse.formats`: whole blocks for BSR, ``n`` of every ``m`` for N:M,
  exactly the non-zeros for CSR and bitmap). Zeros inside that structure are gated, not skipped.

Time under weight skipping follows the lanes of the dataflow: a lane streams only its own
processed weights and a fold lasts as long as its busiest lane (load imbalance).

=========  ==========================  =============================================
dataflow   lane                        streamed length of a fold
=========  ==========================  =============================================
os         PE column (output channel)  max over columns of the channel's weights (k)
is         PE row (reduction index)    max over rows of that index's weights (n)
ws         --                          stationary weights: only an empty fold is skipped
=========  ==========================  =============================================

Input-activation skipping (``ifmap.mode == skipping``, os and ws only: in is the inputs are
stationary) shortens a fold to the expected busiest lane when each streamed activation is
non-zero with the layer's measured density ``d``: ``L*d + z(lanes) * sqrt(L*d*(1-d))``, with
``z`` the expected maximum of ``lanes`` standard normals (Blom's approximation).

Compressed weights move fewer bytes: per fold, the processed non-zeros' values plus the format's
metadata, spread over the folds that fetch (DRAM) or read (SRAM) weights in proportion to what
each fold takes (indices with the values, pointers and bitmaps with the dense slice), so one
pass over the weights moves exactly the format's `storage_bytes`. A layer whose mask keeps every
weight is stored and run dense. N:M hardware runs a mask that is not N:M (or a reduction ``m``
does not divide) dense, and says so (``fallback``); so does BSR hardware whose block does not
tile the weights.

Before any of this, a mask that empties whole output or input channels shrinks the layer
(`accelsim.sparse.compaction`, on unless ``compact=False``): the folds, bytes and MACs above are those
of the compacted layer, while ``dense_macs`` stays the layer as specified.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from accelsim.arch.dataflow import dataflow as get_dataflow
from accelsim.arch.hardware import Hardware
from accelsim.sparse.compaction import compact_channels
from accelsim.sparse.fold_stats import tile_stats
from accelsim.sparse.format_spec import stored_structure
from accelsim.sparse.formats import gemm_view, storage_breakdown_of
from accelsim.timing.analytical import time_layer
from accelsim.timing.fold_table import FoldColumn, fold_table, tiles_of
from accelsim.timing.mapping import LayerMapping, map_layer
from accelsim.timing.tiling import per_fold
from workloads.sparsity import NM


@dataclass(frozen=True)
class SparseLayer:
    """What a mask does to one layer on one piece of hardware."""

    dense_macs: int  # of the layer as specified
    run_macs: int  # of the layer as it runs: after channel compaction (else dense_macs)
    effectual_macs: int  # MACs with a non-zero weight
    issued_macs: int  # MAC slots the hardware issues (processed structure)
    skipping: bool  # does the hardware skip (time) on this layer
    fallback: str | None  # why a sparse layer runs dense, when it does
    storage_bytes: int  # compressed weight bytes of one pass (dense bytes if dense)
    metadata_bytes: int  # the part of storage_bytes that is not values
    compacted_weight_shape: tuple[int, ...] | None  # after channel compaction (None: not compacted)


@dataclass(frozen=True)
class Variant:
    """Switches for counterfactual mappings (speedup attribution); the default is the real one."""

    metadata: bool = True  # move the format's metadata
    perfect_pattern: bool = False  # the hardware skips exactly the real mask's zeros, any dataflow
    balanced: bool = False  # every lane of a fold gets the mean work


ACTUAL = Variant()


def _expected_max_normal(lanes: int) -> float:
    """Expected maximum of ``lanes`` iid standard normals (Blom, 1958)."""
    if lanes <= 1:
        return 0.0
    return NormalDist().inv_cdf((lanes - 0.375) / (lanes + 0.25))


def _processed_mask(mask2d: np.ndarray, spec) -> tuple[np.ndarray | None, str | None]:
    """(processed GEMM-view mask, fallback reason) for a storage spec (``None``: dense storage)."""
    if spec is None or isinstance(spec, str):
        return mask2d, None  # csr and bitmap store exactly the mask
    try:
        return stored_structure(mask2d, spec), None
    except ValueError as exc:
        return None, str(exc).split(": ", 1)[-1]


def _spread(total: int, weights: np.ndarray, per_pass: int) -> np.ndarray:
    """Integer shares of ``total`` per pass of ``per_pass`` weight units, exact over whole passes."""
    if total == 0 or per_pass == 0:
        return np.zeros(weights.size, dtype=np.int64)
    cum = np.cumsum(weights, dtype=np.int64)
    shares = (cum.astype(object) * total) // per_pass  # object: no int64 overflow
    return np.diff(np.concatenate(([0], shares))).astype(np.int64)


def _layer_density(density, compaction) -> float:
    """One input density for the layer as it runs: a per-channel array is averaged over the
    channels the (compacted) layer still reads."""
    if density is None:
        return 1.0
    if np.ndim(density) == 0:
        return float(density)
    density = np.asarray(density, dtype=np.float64)
    if compaction is not None:
        density = density[compaction.in_channels[compaction.in_channels >= 0]]
    return float(density.mean()) if density.size else 1.0


class SparseLayerModel:
    """The mask-dependent cost model of one GEMM layer; `map(variant)` gives its folds.

    With ``compact=True`` a mask that empties whole channels first shrinks the layer
    (`accelsim.sparse.compaction`); ``layer`` is then the compacted layer and ``source_layer`` the one
    specified, whose MACs stay the dense reference (``dense_macs``).
    """

    def __init__(
        self,
        layer,
        hardware: Hardware,
        mask: np.ndarray,
        ifmap_density: float | np.ndarray | None = None,
        *,
        compact: bool = True,
    ):
        self.source_layer, self.source_mask = layer, mask
        self.compaction = compact_channels(layer, mask) if compact else None
        if self.compaction is not None:
            layer, mask = self.compaction.layer, self.compaction.mask
        self.layer, self.hardware = layer, hardware
        self._dense: LayerMapping | None = None
        self._uncompacted: SparseLayerModel | None = None
        pe, sparsity = hardware.pe, hardware.sparsity
        self.R, self.C, self.dataflow = pe.rows, pe.cols, pe.dataflow
        self.flow = get_dataflow(pe.dataflow)
        gemm = layer.gemm
        self.gemm = gemm
        mask2d = gemm_view(np.asarray(mask, dtype=bool), layer=layer.name, what="mask")
        self.mask2d = mask2d
        weights = sparsity.weights
        self.ifmap = sparsity.ifmap
        self.source_ifmap_density = ifmap_density
        self.ifmap_density = _layer_density(ifmap_density, self.compaction)
        self.all_kept = bool(mask2d.all())
        spec = None if self.all_kept else weights.format_spec
        processed, self.fallback = _processed_mask(mask2d, spec)
        self.compressed = spec is not None and self.fallback is None
        self.skipping = weights.mode == "skipping" and not self.all_kept and self.fallback is None
        self.decode_cycles = weights.decode_cycles_per_fold if self.compressed else 0
        self.folds = fold_table(layer, hardware)
        self.table, self.r, self.c, self.T = self.folds.table, self.folds.r, self.folds.c, self.folds.T
        self._stats = lambda m: tile_stats(
            layer, m.reshape(layer.weight_shape), rows=self.R, cols=self.C, dataflow=self.dataflow
        )
        self._effectual = None
        self._actual: LayerMapping | None = None
        self.effectual_macs = int(np.count_nonzero(mask2d)) * gemm.m  # every weight meets m inputs
        # The processed structure's per-fold counts matter only when the hardware skips or moves it.
        if self.skipping or self.compressed:
            self.processed = self.effectual if processed is mask2d else self._stats(processed)
        else:
            self.processed = None
        self.processed_nnz = int(np.count_nonzero(processed)) if processed is not None else int(mask2d.size)
        # Dense filter SRAM words of a fold = the weight slice it holds.
        self.slice_words = self.table[:, FoldColumn.sram_filter]
        if self.compressed:
            index_bits = None if isinstance(spec, NM) else weights.index_bits
            self.storage = storage_breakdown_of(
                mask2d,
                spec,
                value_bits=hardware.datatypes.bits("filter"),
                index_bits=index_bits,
                pointer_bits=weights.index_bits,
            )
        else:
            self.storage = {"values": hardware.bytes_of("filter", int(mask2d.size))}

    @property
    def dense(self) -> LayerMapping:
        """The layer's dense mapping (built on first use)."""
        if self._dense is None:
            self._dense = map_layer(self.layer, self.hardware)
        return self._dense

    @property
    def dense_macs(self) -> int:
        """MACs of the layer as specified (before compaction)."""
        return int(self.source_layer.gemm.macs)

    @property
    def run_macs(self) -> int:
        """MACs of the layer as it runs (after compaction)."""
        return int(self.table[:, FoldColumn.macs].sum())

    @property
    def uncompacted(self) -> SparseLayerModel:
        """The same mask on the layer as specified (for attribution; built on first use)."""
        if self.compaction is None:
            return self
        if self._uncompacted is None:
            self._uncompacted = SparseLayerModel(
                self.source_layer, self.hardware, self.source_mask, self.source_ifmap_density, compact=False
            )
        return self._uncompacted

    @property
    def effectual(self):
        """Per-fold counts of the real mask (computed on first use)."""
        if self._effectual is None:
            self._effectual = self._stats(self.mask2d)
        return self._effectual

    @property
    def runs_dense(self) -> bool:
        """True when the mask changes no fold's time or traffic: the dense folds stand."""
        activations = (
            self.ifmap.mode == "skipping" and self.ifmap_density < 1.0 and self.flow.stationary != "ifmap"
        )
        return not (self.skipping or self.compressed or activations)

    # -- summary --------------------------------------------------------------------------
    def summary(self) -> SparseLayer:
        issued = int(self.processed.macs.sum()) if self.skipping else self.run_macs
        return SparseLayer(
            dense_macs=self.dense_macs,
            run_macs=self.run_macs,
            effectual_macs=self.effectual_macs,
            issued_macs=issued,
            skipping=self.skipping,
            fallback=self.fallback,
            storage_bytes=sum(self.storage.values()),
            metadata_bytes=sum(v for k, v in self.storage.items() if k != "values"),
            compacted_weight_shape=None if self.compaction is None else tuple(self.layer.weight_shape),
        )

    # -- folds ----------------------------------------------------------------------------
    def _streamed(self, variant: Variant) -> np.ndarray:
        """Per fold: the streamed length the busiest lane needs (dense: T)."""
        T = np.full(len(self.table), self.T, dtype=np.int64)
        skip = self.skipping or (variant.perfect_pattern and not self.all_kept)
        if not skip:
            return T
        st = self.effectual if variant.perfect_pattern else self.processed
        if self.flow.stationary != "filter":
            # Streamed weights: os feeds each column one output channel, is each row one reduction index.
            by_column = self.flow.stationary == "ofmap"
            lanes = st.col_nnz if by_column else st.row_nnz
            used = self.c if by_column else self.r
            if variant.balanced:
                return -(-lanes.sum(axis=1) // used)
            return lanes.max(axis=1)
        # ws: stationary weights. Only a fold with nothing to do is skipped -- unless the
        # counterfactual hardware could compact any pattern perfectly.
        if variant.perfect_pattern:
            return -(-(self.T * st.nnz) // (self.r * self.c))
        return np.where(st.nnz > 0, T, 0)

    def _activation_skip(self, streamed: np.ndarray) -> np.ndarray:
        d = self.ifmap_density
        if self.ifmap.mode != "skipping" or d >= 1.0 or self.flow.stationary == "ifmap":
            return streamed
        lanes = self.r * self.c if self.flow.stationary == "ofmap" else self.r
        distinct, index = np.unique(lanes, return_inverse=True)
        zl = np.array([_expected_max_normal(int(n)) for n in distinct])[index]
        L = streamed.astype(np.float64)
        busiest = L * d + zl * np.sqrt(L * d * (1.0 - d))
        return np.minimum(streamed, np.ceil(busiest)).astype(np.int64)

    def map(self, variant: Variant = ACTUAL) -> LayerMapping:
        if variant == ACTUAL:
            if self._actual is None:
                self._actual = self.dense if self.runs_dense else self._map(variant)
            return self._actual
        return self._map(variant)

    def _map(self, variant: Variant) -> LayerMapping:
        table = self.table.copy()
        streamed = self._activation_skip(self._streamed(variant))
        fill = table[:, FoldColumn.compute_cycles] - self.T
        busy = streamed > 0
        table[:, FoldColumn.compute_cycles] = np.where(
            busy, fill + streamed + self.decode_cycles, 1 + self.decode_cycles
        )
        table[:, FoldColumn.macs] = self.effectual.macs
        if self.compressed:
            self._compress(table, variant)
        tiles = tiles_of(table)
        return LayerMapping(
            layer=self.layer.name,
            unit="array",
            dataflow=self.dataflow,
            tiles=tiles,
            mapping_efficiency=self.folds.mapping_efficiency,
            compute_utilisation=self.folds.compute_utilisation,
            ops=self.gemm.macs,
            rows=self.R,
            cols=self.C,
        )

    def _compress(self, table: np.ndarray, variant: Variant) -> None:
        """Filter traffic of the compressed format: processed values plus spread metadata."""
        hw = self.hardware
        nnz = self.processed.nnz
        slice_words = self.slice_words
        fetched = table[:, FoldColumn.dram_filter] > 0
        meta_idx = sum(v for k, v in self.storage.items() if k == "indices") if variant.metadata else 0
        meta_fixed = (
            sum(v for k, v in self.storage.items() if k not in ("values", "indices"))
            if variant.metadata
            else 0
        )
        per_pass_nnz, per_pass_words = self.processed_nnz, int(self.mask2d.size)
        tiling = self.folds.tiling
        if tiling is not None:
            # The reuse schedule reads the weights `filter_passes` times; each pass moves the
            # compressed storage, laid on the folds as the dense bytes are (`accelsim.timing.tiling`).
            per_pass = hw.bytes_of("filter", per_pass_nnz) + meta_idx + meta_fixed
            first = -(-tiling.first_filter_bytes * per_pass // tiling.compulsory_filter_bytes)
            table[:, FoldColumn.dram_filter] = per_fold(tiling.filter_passes * per_pass, len(table), first)
        else:  # each fetch of a slice moves its processed values and its share of the metadata
            nnz_fetched = np.where(fetched, nnz, 0)
            words_fetched = np.where(fetched, slice_words, 0)
            table[:, FoldColumn.dram_filter] = (
                -(-nnz_fetched * hw.datatypes.bits("filter") // 8)  # packed bits, whole bytes per fold
                + _spread(meta_idx, nnz_fetched, per_pass_nnz)
                + _spread(meta_fixed, words_fetched, per_pass_words)
            )
        # SRAM: the array reads the slice's processed values plus the metadata, in words.
        meta_bytes = _spread(meta_idx, nnz, per_pass_nnz) + _spread(meta_fixed, slice_words, per_pass_words)
        cum = np.cumsum(meta_bytes) * 8 // hw.datatypes.bits("filter")
        table[:, FoldColumn.sram_filter] = nnz + np.diff(np.concatenate(([0], cum)))


def _analytical_cycles(model: SparseLayerModel) -> int:
    dram = model.hardware.dram
    return time_layer(model.map().tiles, dram.bandwidth_bytes_per_cycle, dram.latency_cycles).cycles


def sparse_layer_model(
    layer, hardware: Hardware, mask: np.ndarray, ifmap_density=None, *, compact: bool = True
) -> SparseLayerModel:
    """The model of `layer` under `mask` as a compiler would deploy it: compacted (see
    `SparseLayerModel`), unless compaction breaks a pattern the hardware exploits (N:M groups or
    blocks realign once channels go) and the layer at its specified size runs faster."""
    model = SparseLayerModel(layer, hardware, mask, ifmap_density, compact=compact)
    if model.compaction is None or model.fallback is None:
        return model
    plain = model.uncompacted
    if plain.fallback is not None:
        return model
    return model if _analytical_cycles(model) <= _analytical_cycles(plain) else plain
