"""Cross-check of accelsim's N:M sparse model against SCALE-Sim 3.0.0's sparse mode
(docs/validation.md, "SCALE-Sim sparse mode").

SCALE-Sim's layer-wise N:M (``OptimizedMapping: false``) keeps reduction index ``j`` iff
``j % M < N`` for every filter and runs the *dense* GEMM ``(m, k', n)`` on the kept ``k'``
indices, in every dataflow. accelsim's ``format: nm`` hardware streams ``k*N/M`` weights per
lane in ``os`` (so the two agree there, exactly) but does not compact the reduction in ``ws``
(stationary weights: only empty folds are skipped) or ``is`` (a lane is a reduction index: a
kept one still streams every filter), so there the documented relation is asserted instead.

Live only: needs ``ACCELSIM_SCALESIM_PYTHON`` (or ``scalesim`` importable here); else skipped.
Each SCALE-Sim run is a handful of tiny layers on an 8x8 array (~1 s in all).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scalesim_peer import load_script, scalesim_python as find_scalesim_python

from accelsim.arch.hardware import load_hardware
from accelsim.timing.mapping import map_layer
from accelsim.timing.simulate import simulate
from workloads.layers import Conv2d, Linear
from workloads.network import Network

R = C = 8
BANDWIDTH = 64

runner = load_script("scalesim_run")
sparse = load_script("scalesim_sparse")


# name -> (layer, N, M). All sizes are non-multiples of the 8x8 array somewhere.
CASES = {
    "fc16_2of4": (Linear("fc16_2of4", in_features=16, out_features=8, tokens=3), 2, 4),
    "fc16_1of4": (Linear("fc16_1of4", in_features=16, out_features=8, tokens=3), 1, 4),
    "fc20_1of4_multifold": (Linear("fc20_1of4_multifold", in_features=20, out_features=12, tokens=10), 1, 4),
    "conv1x1_2of4": (Conv2d("conv1x1_2of4", 8, 6, (1, 1), (5, 5)), 2, 4),
    "conv3x3_2of4": (Conv2d("conv3x3_2of4", 4, 5, (3, 3), (6, 6)), 2, 4),
    "fc16_2of8": (Linear("fc16_2of8", in_features=16, out_features=8, tokens=3), 2, 8),
    "fc10_2of4_partial": (Linear("fc10_2of4_partial", in_features=10, out_features=8, tokens=3), 2, 4),
    "fc16_dense_1of1": (Linear("fc16_dense_1of1", in_features=16, out_features=8, tokens=3), 1, 1),
}
#: Cases where M divides the reduction, i.e. where accelsim's N:M hardware does not fall back.
DIVISIBLE = [name for name, (layer, n, m) in CASES.items() if layer.gemm.k % m == 0 and n < m]
DATAFLOWS = ("ws", "os", "is")

#: OptimizedMapping runs (ws only: SCALE-Sim 3.0.0 asserts in os/is): (seed, layers), block 4.
OPT_BLOCK = 4
OPT_LAYERS = [
    Linear("opt_fc16", in_features=16, out_features=8, tokens=3),
    Linear("opt_fc32", in_features=32, out_features=8, tokens=5),
]
OPT_SEEDS = (40, 1)


def _spec(dataflow, layers_with_ratio, sparse_cfg=None):
    rows = []
    for layer, n, m in layers_with_ratio:
        (row,) = runner.layer_to_specs(layer)
        rows.append(dict(row, sparsity=f"{n}:{m}"))
    spec = {
        "array": [R, C],
        "dataflow": dataflow,
        "sram_kb": [1024, 1024, 1024],
        "bandwidth": BANDWIDTH,
        "layers": rows,
    }
    if sparse_cfg:
        spec["sparse"] = sparse_cfg
    return spec


@pytest.fixture(scope="module")
def scalesim_python():
    python = find_scalesim_python()
    if python is None:
        pytest.skip("SCALE-Sim not available (set ACCELSIM_SCALESIM_PYTHON)")
    return python


@pytest.fixture(scope="module")
def ss(scalesim_python):
    """SCALE-Sim sparse-mode figures per (dataflow, case)."""
    out = {}
    names = list(CASES)
    for df in DATAFLOWS:
        res = sparse.run_via(scalesim_python, _spec(df, [CASES[n] for n in names]), timeout=300)
        assert res["scalesim_version"] == "3.0.0"
        for name, rec in zip(names, res["layers"]):
            out[(df, name)] = rec
    return out


@pytest.fixture(scope="module")
def ss_optimized(scalesim_python):
    out = {}
    for seed in OPT_SEEDS:
        cfg = {"optimized": True, "block": OPT_BLOCK, "seed": seed}
        res = sparse.run_via(scalesim_python, _spec("ws", [(l, 2, 4) for l in OPT_LAYERS], cfg), timeout=300)
        for layer, rec in zip(OPT_LAYERS, res["layers"]):
            out[(seed, layer.name)] = rec
    return out


# ------------------------------------------------------------------------------ accelsim side


def _hw(dataflow, n=2, m=4):
    return (
        load_hardware("nm_tensor_32x32")
        .replace("memory.model", "scalesim")
        .replace("pe.rows", R)
        .replace("pe.cols", C)
        .replace("pe.dataflow", dataflow)
        .replace("sparsity.weights.n", n)
        .replace("sparsity.weights.m", m)
    )


def _compacted(layer, k_kept):
    """The dense GEMM SCALE-Sim runs: (m, k', n) as a Linear of m tokens."""
    g = layer.gemm
    return Linear(f"{layer.name}_compacted", in_features=k_kept, out_features=g.n, tokens=g.m)


def _k_kept(layer, n, m):
    return sparse.kept_reduction(layer.gemm.k, n, m)


def _is_nm_in_accelsim_order(mask, n, m):
    g = mask.reshape(mask.shape[0], -1)
    return g.shape[1] % m == 0 and g.reshape(g.shape[0], -1, m).sum(axis=2).max() <= n


def _accelsim_mask(layer, n, m):
    """SCALE-Sim's own mask where it is N:M in accelsim's (cin, kh, kw) reduction order; else
    (k x k convs: SCALE-Sim groups along (kh, kw, cin)) the same N:M rule in accelsim's order,
    which keeps the same number of weights per filter."""
    mask = sparse.layerwise_mask(layer, n, m)
    if _is_nm_in_accelsim_order(mask, n, m):
        return mask
    k = layer.gemm.k
    keep = (np.arange(k) % m) < n
    return np.broadcast_to(keep, (layer.weight_shape[0], k)).reshape(layer.weight_shape).copy()


def _simulate(layer, hardware, mask):
    # SCALE-Sim runs the mask's pattern on the array as given; with one N:M pattern on every row
    # whole input columns are empty, which accelsim would otherwise compact away (a compiler's
    # step, not the hardware's).
    report = simulate(
        Network.sequential(f"net_{layer.name}", [layer]),
        hardware,
        mode="analytical",
        masks={layer.name: mask},
        compact_channels=False,
    )
    return report.layer(layer.name)


def _ss_cycles(rec):
    """Stall-free cycles (docs/validation.md C1)."""
    return int(rec["total_cycles"] - rec["stall_cycles"]) + 1


def _up(x, q):
    return -(-x // q) * q


# ------------------------------------------------------------------------------ pure checks


@pytest.mark.parametrize("name", list(CASES))
def test_layerwise_mask_keeps_the_scalesim_reduction(name):
    layer, n, m = CASES[name]
    mask = sparse.layerwise_mask(layer, n, m)
    assert mask.shape == layer.weight_shape
    per_filter = mask.reshape(mask.shape[0], -1).sum(axis=1)
    assert (per_filter == _k_kept(layer, n, m)).all()


def test_kxk_scalesim_pattern_is_not_nm_in_accelsim_order():
    """SCALE-Sim groups M along (kh, kw, cin); accelsim (PyTorch) along (cin, kh, kw)."""
    layer, n, m = CASES["conv3x3_2of4"]
    mask = sparse.layerwise_mask(layer, n, m)
    assert not _is_nm_in_accelsim_order(mask, n, m)
    report = _simulate(layer, _hw("os", n, m), mask)
    assert report.sparse.fallback and "not 2:4" in report.sparse.fallback
    assert report.compute_cycles == map_layer(layer, _hw("os", n, m)).compute_cycles


# ------------------------------------------------------------------------------ live checks


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("name", list(CASES))
def test_scalesim_sparse_is_dense_gemm_on_kept_reduction(ss, name, dataflow):
    """What SCALE-Sim models, exactly: the dense (m, k', n) mapping, ws ifmap reads x M/N,
    ELLPACK metadata of ceil(log2 M) bits per kept weight, in 32-bit words."""
    layer, n, m = CASES[name]
    rec = ss[(dataflow, name)]
    k_kept = _k_kept(layer, n, m)
    g = layer.gemm
    hw = _hw(dataflow)
    dense = map_layer(_compacted(layer, k_kept), hw)
    assert _ss_cycles(rec) == dense.compute_cycles
    assert rec["mapping_efficiency_pct"] / 100 == pytest.approx(dense.mapping_efficiency, rel=1e-9)
    assert rec["compute_util_pct"] / 100 == pytest.approx(dense.compute_utilisation, rel=1e-9)
    assert rec["sram_filter_reads"] == dense.sram_reads["filter"]
    ifmap = dense.sram_reads["ifmap"] * (m / n if dataflow == "ws" else 1)
    assert rec["sram_ifmap_reads"] == pytest.approx(ifmap, rel=1e-12)
    writes = rec["sram_ofmap_writes"] - ((R + C) * dense.folds if dataflow == "os" else 0)
    assert writes == dense.sram_writes["ofmap"]
    assert rec["original_filter_storage"] == g.k * g.n
    assert rec["metadata_storage"] * 32 == k_kept * g.n * math.ceil(math.log2(m))
    assert rec["new_storage"] == pytest.approx(k_kept * g.n + rec["metadata_storage"])
    # DRAM: its prefetch of the condensed operands, null-padded and rounded to 64-word lines.
    pad = {
        "ws": (g.m * _up(k_kept, R), k_kept * _up(g.n, C)),
        "os": (k_kept * _up(g.m, R), k_kept * _up(g.n, C)),
        "is": (k_kept * _up(g.m, C), g.n * _up(k_kept, R)),
    }[dataflow]
    assert rec["dram_ifmap_reads"] == _up(pad[0], BANDWIDTH)
    assert rec["dram_filter_reads"] == _up(pad[1], BANDWIDTH)


@pytest.mark.parametrize("name", DIVISIBLE)
def test_os_nm_agrees_with_scalesim(ss, name):
    """os: accelsim's N:M lanes stream k*N/M weights = SCALE-Sim's k'; cycles agree exactly,
    filter SRAM values agree and accelsim adds the metadata SCALE-Sim reports separately."""
    layer, n, m = CASES[name]
    rec = ss[("os", name)]
    k_kept = _k_kept(layer, n, m)
    assert k_kept * m == layer.gemm.k * n
    hw = _hw("os", n, m)
    rep = _simulate(layer, hw, _accelsim_mask(layer, n, m))
    info = rep.sparse
    assert info.fallback is None and info.skipping
    assert rep.compute_cycles == _ss_cycles(rec)
    assert rep.compute_cycles < map_layer(layer, hw).compute_cycles
    # Metadata: the same bits (ceil(log2 M) per kept weight); SCALE-Sim counts 32-bit words.
    assert info.metadata_bytes == math.ceil(rec["metadata_storage"] * 4)
    values = info.storage_bytes - info.metadata_bytes
    assert values == rec["new_storage"] - rec["metadata_storage"]  # k' * n one-byte words
    # SRAM filter: SCALE-Sim's value reads + accelsim's metadata, once per pass over the weights.
    passes = rec["sram_filter_reads"] / values
    assert passes == int(passes)
    assert rep.sram_read_bytes["filter"] == rec["sram_filter_reads"] + int(passes) * info.metadata_bytes
    # SRAM ifmap: SCALE-Sim drops the pruned columns (its pattern is the same for every
    # filter); accelsim streams every input past the lanes, each of which picks its own.
    assert rep.sram_read_bytes["ifmap"] * k_kept == rec["sram_ifmap_reads"] * layer.gemm.k
    # DRAM filter: accelsim moves the format once (values + metadata), SCALE-Sim its
    # null-padded condensed matrix.
    assert rep.dram_read_bytes["filter"] == info.storage_bytes


@pytest.mark.parametrize("dataflow", ["ws", "is"])
@pytest.mark.parametrize("name", DIVISIBLE)
def test_ws_is_nm_documented_relation(ss, name, dataflow):
    """ws/is: SCALE-Sim compacts the reduction (dense on k'); accelsim's N:M hardware does not
    (no fold is empty), so accelsim = its dense mapping and SCALE-Sim is faster by design."""
    layer, n, m = CASES[name]
    rec = ss[(dataflow, name)]
    hw = _hw(dataflow, n, m)
    rep = _simulate(layer, hw, _accelsim_mask(layer, n, m))
    dense = map_layer(layer, hw)
    assert rep.sparse.fallback is None and rep.sparse.skipping
    assert rep.compute_cycles == dense.compute_cycles
    assert _ss_cycles(rec) == map_layer(_compacted(layer, _k_kept(layer, n, m)), hw).compute_cycles
    # Compaction pays only where it removes row folds (a fold's time does not depend on its rows).
    k, k_kept = layer.gemm.k, _k_kept(layer, n, m)
    assert _ss_cycles(rec) <= rep.compute_cycles
    assert (_ss_cycles(rec) < rep.compute_cycles) == (-(-k_kept // R) < -(-k // R))
    # The filter values read still agree; accelsim adds the metadata per pass.
    values = rep.sparse.storage_bytes - rep.sparse.metadata_bytes
    passes = int(rec["sram_filter_reads"] // values)
    assert rec["sram_filter_reads"] == passes * values
    assert rep.sram_read_bytes["filter"] == rec["sram_filter_reads"] + passes * rep.sparse.metadata_bytes
    if dataflow == "ws":  # SCALE-Sim's M/N re-read of inputs lands on accelsim's dense count
        assert rec["sram_ifmap_reads"] == rep.sram_read_bytes["ifmap"]


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_partial_group_falls_back_in_accelsim(ss, dataflow):
    """k % M != 0: SCALE-Sim keeps min(k % M, N) of the last partial group; accelsim's N:M
    hardware runs the layer dense and says why."""
    layer, n, m = CASES["fc10_2of4_partial"]
    hw = _hw(dataflow, n, m)
    rep = _simulate(layer, hw, sparse.layerwise_mask(layer, n, m))
    assert rep.sparse.fallback and "does not divide" in rep.sparse.fallback
    assert rep.compute_cycles == map_layer(layer, hw).compute_cycles
    k_kept = _k_kept(layer, n, m)
    assert k_kept == 6
    compacted = map_layer(_compacted(layer, k_kept), hw)
    assert _ss_cycles(ss[(dataflow, "fc10_2of4_partial")]) == compacted.compute_cycles


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_dense_ratio_matches_dense_accelsim(ss, dataflow):
    """1:1 in sparse mode is the dense layer: exact agreement with accelsim's dense mapping."""
    layer, _, _ = CASES["fc16_dense_1of1"]
    hw = _hw(dataflow)
    rep = _simulate(layer, hw, np.ones(layer.weight_shape, dtype=bool))
    assert rep.sparse is not None and rep.sparse.fallback is None and not rep.sparse.skipping
    assert rep.compute_cycles == _ss_cycles(ss[(dataflow, "fc16_dense_1of1")])


@pytest.mark.parametrize("seed", OPT_SEEDS)
@pytest.mark.parametrize("layer", OPT_LAYERS, ids=lambda l: l.name)
def test_optimized_mapping_pattern_is_reproducible(ss_optimized, layer, seed):
    """OptimizedMapping (ws): filter f keeps N_f ~ randint(1, B/2+1) of every B, from the seed.
    Our reproduction of the pattern gives SCALE-Sim's mapping efficiency exactly; the cycles are
    the dense (m, k/2, n) GEMM; accelsim (2:4 hardware, ws) runs that mask dense."""
    rec = ss_optimized[(seed, layer.name)]
    mask, ns = sparse.optimized_mapping_mask(layer, OPT_BLOCK, seed)
    g = layer.gemm
    k_c = _up(g.k, 2 * OPT_BLOCK) // 2
    folds = -(-k_c // R) * -(-g.n // C)
    assert rec["mapping_efficiency_pct"] / 100 == pytest.approx(mask.sum() / (R * C * folds), rel=1e-12)
    hw = _hw("ws", 2, 4)
    assert _ss_cycles(rec) == map_layer(_compacted(layer, k_c), hw).compute_cycles
    assert _is_nm_in_accelsim_order(mask, 2, 4)
    rep = _simulate(layer, hw, mask)
    assert rep.sparse.fallback is None
    assert rep.compute_cycles == map_layer(layer, hw).compute_cycles
    # accelsim's os N:M lanes would stream k/2 per column (SCALE-Sim cannot run os here).
    os_rep = _simulate(layer, _hw("os", 2, 4), mask)
    assert os_rep.compute_cycles == map_layer(_compacted(layer, g.k // 2), _hw("os", 2, 4)).compute_cycles


@pytest.mark.parametrize("dataflow", ["os", "is"])
def test_optimized_mapping_is_ws_only(scalesim_python, dataflow):
    cfg = {"optimized": True, "block": OPT_BLOCK, "seed": 40}
    with pytest.raises(RuntimeError, match="Dimension mismatch"):
        sparse.run_via(scalesim_python, _spec(dataflow, [(OPT_LAYERS[0], 2, 4)], cfg), timeout=300)
