import os
import re
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import reference_kernels as ref
from hypothesis import given, settings, strategies as st

from accelsim.sparse import formats as F, kernels as K, spmm as S, spmm_kernels as SK
from accelsim.timing.mapping import map_layer
from workloads.layers import Conv2d, Linear

ROOT = Path(__file__).resolve().parents[1]


def _case(rows, k, n, density, seed, dtype=np.float32, groups=1):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, k)).astype(dtype)
    mask = rng.random((rows, k)) < density
    X = rng.standard_normal((k * groups, n)).astype(dtype)
    return w, mask, X


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


def _reference(enc, X, groups):
    rows, k = enc.gemm_shape
    rpg = rows // groups
    if isinstance(enc, F.CSR):
        return ref.csr_spmm(enc.indptr, enc.indices, enc.data, X, rpg, k)
    if isinstance(enc, F.BSR):
        return ref.bsr_spmm(enc.indptr, enc.indices, enc.blocks, X, rpg, k)
    if isinstance(enc, F.NMFormat):
        return ref.nm_spmm(enc.values, enc.offsets, enc.n, enc.m, X, rpg, k)
    return ref.bitmap_spmm(enc.bitmap, enc.values, X, rpg, k)


def _nm_mask(rows, cols, n, m, seed):
    rng = np.random.default_rng(seed)
    keys = rng.random((rows, cols // m, m))
    ranks = np.argsort(np.argsort(keys, axis=2), axis=2)
    return (ranks < n).reshape(rows, cols)


FORMATS = ["csr", "bitmap", ("bsr", (4, 4)), ("bsr", (2, 8)), ("bsr", (1, 1))]


@pytest.fixture(params=[1, 2, "2-large-x"], ids=["serial", "parallel", "parallel-one-block-per-thread"])
def threads(request, monkeypatch):
    """Run each case through the serial kernel and through the two-thread driver, with its
    dynamic row blocks and with the one block per thread it uses once X outgrows the cache."""
    if request.param != 1:
        monkeypatch.setattr(S, "PARALLEL_MIN_WORK", 0)
    if request.param == "2-large-x":
        monkeypatch.setattr(S, "_X_CHUNK_CACHE_BYTES", 0)
    old = numba.get_num_threads()
    numba.set_num_threads(min(1 if request.param == 1 else 2, numba.config.NUMBA_NUM_THREADS))
    yield request.param
    numba.set_num_threads(old)


def test_parallel_blocks_follow_x_chunk_footprint(monkeypatch):
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        t = numba.get_num_threads()
        small = np.zeros((64, 8), np.float32)
        large = np.zeros((4608, 3136), np.float32)  # 4608 x 1024-column chunks of float32 = 18.9 MB
        assert S._use_parallel(S.PARALLEL_MIN_WORK - 1, 64, small) == 0
        if t > 1:
            assert S._use_parallel(S.PARALLEL_MIN_WORK, 64, small) == t * S._BLOCKS_PER_THREAD
            assert S._use_parallel(S.PARALLEL_MIN_WORK, 4608, large) == t
            # Grouped weights: only the group's k rows of X feed a block.
            assert S._use_parallel(S.PARALLEL_MIN_WORK, 64, large) == t * S._BLOCKS_PER_THREAD
        numba.set_num_threads(1)
        assert S._use_parallel(S.PARALLEL_MIN_WORK, 4608, large) == 0
    finally:
        numba.set_num_threads(old)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("density", [0.0, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spmm_matches_reference(fmt, density, dtype, threads):
    w, mask, X = _case(16, 24, 37, density, seed=7, dtype=dtype)
    enc = F.encode(w, mask, fmt)
    Y = K.spmm(enc, X)
    assert Y.dtype == dtype and Y.shape == (16, 37)
    np.testing.assert_allclose(Y, _reference(enc, X, 1), **_tol(dtype))
    np.testing.assert_allclose(Y, np.where(mask, w, 0).astype(np.float64) @ X, **_tol(dtype))


@pytest.mark.parametrize("nm", [(2, 4), (1, 4), (1, 8), (3, 4)])
def test_nm_spmm_matches_reference(nm, threads):
    n, m = nm
    w, _, X = _case(12, 32, 19, 1.0, seed=3)
    mask = _nm_mask(12, 32, n, m, seed=n + m)
    enc = F.encode_nm(w, mask, n, m)
    np.testing.assert_allclose(K.spmm(enc, X), _reference(enc, X, 1), rtol=1e-5, atol=1e-5)


def test_empty_rows_and_fully_pruned(threads):
    w, mask, X = _case(8, 16, 5, 0.5, seed=1)
    mask[[0, 3, 7]] = False
    for fmt in FORMATS:
        enc = F.encode(w, mask, fmt)
        np.testing.assert_allclose(K.spmm(enc, X), np.where(mask, w, 0) @ X, rtol=1e-5, atol=1e-5)
        empty = F.encode(w, np.zeros_like(mask), fmt)
        np.testing.assert_array_equal(K.spmm(empty, X), np.zeros((8, 5)))


@pytest.mark.parametrize("fmt", ["csr", "bitmap", ("bsr", (2, 3)), ("nm", 1, 3)])
@pytest.mark.parametrize("groups", [2, 4])
def test_grouped_spmm(fmt, groups, threads):
    rows, k = 4 * groups, 9
    w, mask, X = _case(rows, k, 11, 0.4, seed=groups, groups=groups)
    if fmt[0] == "nm":
        mask = _nm_mask(rows, k, 1, 3, seed=1)
    enc = F.encode(w, mask, fmt)
    Y = K.spmm(enc, X, groups=groups)
    expected = np.concatenate(
        [np.where(mask, w, 0)[g * 4 : (g + 1) * 4] @ X[g * k : (g + 1) * k] for g in range(groups)]
    )
    np.testing.assert_allclose(Y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(Y, _reference(enc, X, groups), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(K.spmm(np.where(mask, w, 0), X, groups=groups), expected, rtol=1e-5, atol=1e-5)


def test_n_chunking_matches_reference(monkeypatch):
    monkeypatch.setattr(S, "_CHUNK_COLUMNS", 16)  # several chunks plus a ragged last one
    w, mask, X = _case(8, 12, 53, 0.5, seed=5)
    for fmt in ["csr", ("bsr", (2, 2))]:
        enc = F.encode(w, mask, fmt)
        np.testing.assert_allclose(K.spmm(enc, X), _reference(enc, X, 1), rtol=1e-5, atol=1e-5)
    enc = F.encode_nm(w, _nm_mask(8, 12, 2, 4, 0), 2, 4)
    np.testing.assert_allclose(K.spmm(enc, X), _reference(enc, X, 1), rtol=1e-5, atol=1e-5)


@st.composite
def _spmm_cases(draw):
    br = draw(st.integers(1, 5))
    bc = draw(st.integers(1, 6))
    groups = draw(st.integers(1, 3))
    rows = br * groups * draw(st.integers(1, 4))
    k = bc * draw(st.integers(1, 5))
    n = draw(st.integers(1, 40))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 0.9, 1.0]))
    seed = draw(st.integers(0, 2**16))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    return rows, k, n, density, seed, dtype, groups, (br, bc)


@settings(max_examples=60, deadline=None)
@given(_spmm_cases(), st.booleans())
def test_spmm_property(case, parallel):
    rows, k, n, density, seed, dtype, groups, block = case
    w, mask, X = _case(rows, k, n, density, seed, dtype, groups)
    old, old_min = numba.get_num_threads(), S.PARALLEL_MIN_WORK
    try:
        if parallel:
            numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
            S.PARALLEL_MIN_WORK = 0
        for fmt in ["csr", "bitmap", ("bsr", block)]:
            enc = F.encode(w, mask, fmt)
            np.testing.assert_allclose(
                K.spmm(enc, X, groups=groups), _reference(enc, X, groups), **_tol(dtype)
            )
    finally:
        numba.set_num_threads(old)
        S.PARALLEL_MIN_WORK = old_min


# ---------------------------------------------------------------------------- convolution


@pytest.mark.parametrize(
    "cin,cout,k,stride,pad,dil,groups",
    [
        (3, 8, 3, 1, 1, 1, 1),
        (4, 6, 3, 2, 0, 1, 2),
        (6, 6, 3, 1, 1, 1, 6),
        (8, 8, 3, 2, 1, 1, 8),
        (2, 4, (3, 1), (1, 2), (1, 0), (2, 1), 1),
        (4, 8, 1, 1, 0, 1, 1),
    ],
)
@pytest.mark.parametrize("fmt", ["dense", "csr", "bitmap", "bsr"])
def test_conv2d_matches_direct_convolution(cin, cout, k, stride, pad, dil, groups, fmt):
    rng = np.random.default_rng(0)
    kh, kw = (k, k) if isinstance(k, int) else k
    if fmt == "bsr":  # one block per (output channel, input channel) filter
        fmt = ("bsr", (1, kh * kw))
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    w = rng.standard_normal((cout, cin // groups, kh, kw))
    mask = rng.random(w.shape) < 0.4
    x = rng.standard_normal((2, cin, 9, 8))
    enc = np.where(mask, w, 0) if fmt == "dense" else F.encode(w, mask, fmt)
    y = K.conv2d(x, enc, kernel_size=(kh, kw), stride=stride, padding=pad, dilation=dil, groups=groups)
    expected = ref.conv2d(x, np.where(mask, w, 0), pair(stride), pair(pad), pair(dil), groups)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_rejects_mismatched_weight():
    with pytest.raises(ValueError, match=r"layer 'c1'.*\(4, 3, 3, 3\).*channels 2"):
        K.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((4, 3, 3, 3)), kernel_size=3, layer="c1")


def test_gelu_matches_reference():
    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(K.gelu(x), ref.gelu(x), rtol=1e-12, atol=1e-14)
    x32 = x.astype(np.float32).reshape(101, 1)
    assert K.gelu(x32).dtype == np.float32 and K.gelu(x32).shape == (101, 1)


# ---------------------------------------------------------------------------- errors


def test_operand_errors_name_layer_and_value():
    w, mask, X = _case(4, 6, 3, 0.5, seed=0)
    enc = F.encode_csr(w, mask)
    with pytest.raises(ValueError, match=r"layer 'fc'.*7 rows.*6"):
        K.csr_spmm(enc, np.zeros((7, 3), dtype=np.float32), layer="fc")
    with pytest.raises(ValueError, match=r"layer 'fc'.*float64.*float32"):
        K.csr_spmm(enc, np.zeros((6, 3)), layer="fc")
    with pytest.raises(ValueError, match=r"layer 'fc'.*groups=3"):
        K.csr_spmm(enc, np.zeros((18, 3), dtype=np.float32), groups=3, layer="fc")
    with pytest.raises(ValueError, match=r"layer 'fc'.*needs a BSR.*CSR"):
        K.bsr_spmm(enc, X, layer="fc")
    bsr = F.encode_bsr(np.zeros((8, 4), dtype=np.float32), np.ones((8, 4), dtype=bool), (4, 2))
    with pytest.raises(ValueError, match=r"layer 'g'.*\(4, 2\) straddles groups of 2"):
        K.bsr_spmm(bsr, np.zeros((16, 3), dtype=np.float32), groups=4, layer="g")


def test_aligned_helpers():
    a = K.aligned_zeros((3, 5), np.float32)
    assert a.ctypes.data % 64 == 0 and a.flags.c_contiguous and not a.any()
    x = np.arange(10.0)[1:]
    b = K.aligned(x, np.float32)
    assert b.ctypes.data % 64 == 0 and b.dtype == np.float32
    np.testing.assert_array_equal(b, x)
    assert K.aligned(b) is b


# ------------------------------------------------------------------------- tile statistics


def _layers():
    return [
        Linear("fc", 40, 24, tokens=5),
        Conv2d("conv", 6, 10, 3, (6, 7), padding=1),
        Conv2d("grouped", 8, 12, 3, (5, 5), groups=4),
        Conv2d("dw", 6, 6, 3, (6, 6), groups=6, padding=1),
    ]


@pytest.mark.parametrize("layer", _layers(), ids=lambda l: l.name)
@pytest.mark.parametrize("dataflow", ["ws", "is", "os"])
@pytest.mark.parametrize("array", [(4, 4), (8, 3), (64, 64)])
def test_tile_stats_match_reference_and_mapping(layer, dataflow, array, hardware_factory):
    R, C = array
    rng = np.random.default_rng(1)
    mask = rng.random(layer.weight_shape) < 0.3
    stats = K.tile_stats(layer, mask, rows=R, cols=C, dataflow=dataflow)
    g = layer.gemm
    expected = ref.tile_stats(F.gemm_view(mask), g.groups, g.m, R, C, dataflow)
    assert stats.folds == len(expected)
    for f, (nnz, macs, row, col) in enumerate(expected):
        assert stats.nnz[f] == nnz and stats.macs[f] == macs
        np.testing.assert_array_equal(stats.row_nnz[f], row)
        np.testing.assert_array_equal(stats.col_nnz[f], col)
    # Effectual MACs add up to nnz(W) per group times the pixels; fold count matches the mapper.
    assert stats.macs.sum() == mask.sum() * g.m
    assert stats.folds == map_layer(layer, hardware_factory(R, C, dataflow)).folds
    dense = K.tile_stats(layer, None, rows=R, cols=C, dataflow=dataflow)
    assert dense.macs.sum() == layer.macs


@pytest.fixture
def hardware_factory():
    from accelsim.arch.hardware import load_hardware

    base = load_hardware("edge_16x16")

    def make(R, C, dataflow):
        hw = base.replace("pe.rows", R).replace("pe.cols", C)
        return hw.replace("pe.dataflow", dataflow)

    return make


def test_tile_stats_errors_name_layer():
    layer = Linear("fc", 8, 4)
    with pytest.raises(ValueError, match=r"layer 'fc'.*dataflow.*'rs'"):
        K.tile_stats(layer, None, rows=4, cols=4, dataflow="rs")
    with pytest.raises(ValueError, match=r"layer 'fc'.*mask shape \(8, 4\).*\(4, 8\)"):
        K.tile_stats(layer, np.ones((8, 4), dtype=bool), rows=4, cols=4, dataflow="ws")
    with pytest.raises(ValueError, match=r"layer 'fc'.*bool"):
        K.tile_stats(layer, np.ones((4, 8)), rows=4, cols=4, dataflow="ws")
    with pytest.raises(ValueError, match=r"layer 'fc'.*rows.*0"):
        K.tile_stats(layer, None, rows=0, cols=4, dataflow="ws")


# ---------------------------------------------------------------------- machine code


def test_hot_kernels_vectorise(tmp_path):
    """The SpMM inner loops must compile to packed FMAs (a scalar loop is ~7x slower).

    Cached code cannot be inspected, so compile in a fresh process with an empty cache dir.
    """
    script = (
        "import re, numpy as np\n"
        "from accelsim.sparse import kernels as K, spmm_kernels as SK\n"
        "K.warm_up((np.float32,))\n"
        "for name in ('csr_rows', 'bsr_rows', 'nm_rows'):\n"
        "    asm = next(iter(getattr(SK, name).inspect_asm().values()))\n"
        "    print(name, len(re.findall(r'vfmadd\\w+ps\\s[^\\n]*[yz]mm', asm)))\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout
    counts = {name: int(n) for name, n in re.findall(r"(\w+) (\d+)", out)}
    assert set(counts) == {"csr_rows", "bsr_rows", "nm_rows"}
    # the 4-non-zero body alone holds 4 packed FMAs per vector width step
    assert all(n >= 4 for n in counts.values()), counts


@pytest.mark.parametrize("parts", [1, 2, 3, 8, 40])
def test_balanced_bounds(parts):
    rng = np.random.default_rng(parts)
    counts = rng.integers(0, 9, size=30)
    counts[:5] = 0  # leading empty rows
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    bounds = SK.balanced_bounds(indptr, parts)
    assert bounds[0] == 0 and bounds[-1] == 30 and len(bounds) == parts + 1
    assert (np.diff(bounds) >= 0).all()
    # Reference: the first row whose cumulative count reaches each even share.
    for p in range(1, parts):
        target = (int(indptr[-1]) * p) // parts
        assert bounds[p] == min(int(np.searchsorted(indptr[:-1], target, side="left")), 30)


def test_out_parameter():
    w, mask, X = _case(8, 12, 5, 0.5, seed=2)
    for enc in (
        F.encode_csr(w, mask),
        F.encode_bsr(w, mask, (2, 2)),
        F.encode_bitmap(w, mask),
        np.where(mask, w, 0),
    ):
        out = np.full((8, 5), np.nan, dtype=np.float32)
        assert K.spmm(enc, X, out=out) is out
        np.testing.assert_allclose(out, np.where(mask, w, 0) @ X, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"layer 'o'.*out must be.*\(8, 5\).*\(5, 8\)"):
        K.spmm(F.encode_csr(w, mask), X, out=np.zeros((5, 8), dtype=np.float32), layer="o")
    with pytest.raises(ValueError, match=r"out must be.*float64"):
        K.spmm(F.encode_csr(w, mask), X, out=np.zeros((8, 5)))
