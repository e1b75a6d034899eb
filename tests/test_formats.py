import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accelsim.sparse import formats as F


def _random(shape, density, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape).astype(dtype)
    return w, rng.random(shape) < density


def _nm_mask(rows, cols, n, m, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.zeros((rows, cols // m, m), dtype=bool)
    for r in range(rows):
        for g in range(cols // m):
            mask[r, g, rng.choice(m, n, replace=False)] = True
    return mask.reshape(rows, cols)


ALL_FORMATS = ["csr", "bitmap", ("bsr", (2, 2)), ("bsr", (4, 1)), ("bsr", (1, 8))]


@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("density", [0.0, 0.1, 0.5, 1.0])
def test_round_trip_is_exact(fmt, density):
    w, mask = _random((8, 16), density, seed=3)
    enc = F.encode(w, mask, fmt)
    out = enc.decode()
    assert out.dtype == w.dtype and out.shape == w.shape
    np.testing.assert_array_equal(out, np.where(mask, w, 0))


def test_conv_weights_use_the_gemm_view_and_keep_their_shape():
    w, mask = _random((8, 3, 3, 3), 0.3, seed=1)
    for fmt in ["csr", "bitmap", ("bsr", (4, 9))]:
        enc = F.encode(w, mask, fmt)
        assert enc.gemm_shape == (8, 27)
        np.testing.assert_array_equal(enc.decode(), np.where(mask, w, 0))
    csr = F.encode_csr(w, mask)
    np.testing.assert_array_equal(csr.mask(), mask)
    np.testing.assert_array_equal(F.encode_bitmap(w, mask).mask(), mask)


def test_kept_zero_values_are_still_stored():
    w = np.zeros((2, 4), dtype=np.float32)
    mask = np.array([[True, False, True, False], [False, False, False, True]])
    csr = F.encode_csr(w, mask)
    assert csr.nnz == 3
    np.testing.assert_array_equal(csr.mask(), mask)


@pytest.mark.parametrize("n,m", [(2, 4), (1, 4), (1, 2), (4, 8), (3, 3)])
def test_nm_round_trip_exact(n, m):
    w, _ = _random((6, 24), 1.0, seed=2)
    mask = _nm_mask(6, 24, n, m, seed=n * 10 + m)
    enc = F.encode_nm(w, mask, n, m)
    assert enc.values.shape == (6, 24 // m * n)
    np.testing.assert_array_equal(enc.decode(), np.where(mask, w, 0))
    np.testing.assert_array_equal(enc.mask(), mask)


def test_nm_pads_groups_that_keep_fewer():
    w = np.arange(1, 9, dtype=np.float64).reshape(1, 8)
    mask = np.array([[False, False, True, False, False, False, False, False]])
    enc = F.encode_nm(w, mask, 2, 4)
    np.testing.assert_array_equal(enc.decode(), np.where(mask, w, 0))
    # group 0: kept offset 2 first, then the lowest pruned offset 0 as an explicit zero
    np.testing.assert_array_equal(enc.offsets, [[2, 0, 0, 1]])
    np.testing.assert_array_equal(enc.values, [[3.0, 0.0, 0.0, 0.0]])


def test_bsr_mask_is_the_stored_blocks():
    w, _ = _random((4, 4), 1.0)
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, 1] = True
    enc = F.encode_bsr(w, mask, (2, 2))
    assert enc.nblocks == 1
    expected = np.zeros((4, 4), dtype=bool)
    expected[:2, :2] = True
    np.testing.assert_array_equal(enc.mask(), expected)
    np.testing.assert_array_equal(enc.decode(), np.where(mask, w, 0))


# --------------------------------------------------------------------------- storage by hand


def test_csr_storage_hand_count():
    w = np.ones((3, 5), dtype=np.float32)
    mask = np.zeros((3, 5), dtype=bool)
    mask[0, [0, 4]] = True
    mask[2, 1] = True  # nnz = 3, rows = 3
    enc = F.encode_csr(w, mask)
    # values 3*4 B, indices 3*4 B, pointers 4*4 B
    assert enc.storage_bytes() == 12 + 12 + 16
    # 16-bit values, 8-bit indices, 16-bit pointers: 6 + 3 + 8
    assert enc.storage_bytes(value_bits=16, index_bits=8, pointer_bits=16) == 17
    # 4-bit indices: 3 * 4 bits = 12 bits -> 2 bytes
    assert enc.storage_breakdown(index_bits=4)["indices"] == 2


def test_bsr_storage_hand_count():
    w = np.ones((4, 6), dtype=np.float32)
    mask = np.zeros((4, 6), dtype=bool)
    mask[0, 0] = mask[3, 5] = mask[2, 2] = True  # blocks (0,0), (1,1), (1,2) of 2x2
    enc = F.encode_bsr(w, mask, (2, 2))
    assert enc.nblocks == 3
    # values 3 blocks * 4 * 4 B = 48, block indices 3 * 4 B = 12, pointers (2 + 1) * 4 B = 12
    assert enc.storage_bytes() == 48 + 12 + 12
    assert enc.storage_bytes(value_bits=8, index_bits=8, pointer_bits=8) == 12 + 3 + 3


def test_nm_storage_hand_count():
    w = np.ones((2, 8), dtype=np.float32)
    mask = _nm_mask(2, 8, 2, 4)
    enc = F.encode_nm(w, mask, 2, 4)
    # 8 values * 4 B = 32; 8 offsets * 2 bits = 16 bits = 2 B; no pointers
    assert enc.storage_bytes() == 32 + 2
    assert enc.storage_bytes(value_bits=16, index_bits=8) == 16 + 8


def test_bitmap_storage_hand_count():
    w = np.ones((3, 5), dtype=np.float32)
    mask = np.zeros((3, 5), dtype=bool)
    mask[1, 1:4] = True
    enc = F.encode_bitmap(w, mask)
    # 3 values * 4 B = 12; 15 bits of bitmap = 2 B
    assert enc.storage_bytes() == 12 + 2
    assert enc.storage_bytes(value_bits=8) == 3 + 2


# --------------------------------------------------------------------------------- errors


def test_mask_shape_mismatch_names_layer_and_shapes():
    w, mask = _random((4, 4), 0.5)
    with pytest.raises(ValueError, match=r"layer 'fc1'.*\(4, 5\).*\(4, 4\)"):
        F.encode_csr(w, np.ones((4, 5), dtype=bool), layer="fc1")


def test_non_bool_mask_names_layer_and_dtype():
    w, _ = _random((4, 4), 0.5)
    with pytest.raises(ValueError, match=r"layer 'fc1'.*bool.*float64"):
        F.encode_bitmap(w, np.ones((4, 4)), layer="fc1")


def test_block_that_does_not_tile_names_layer_and_block():
    w, mask = _random((4, 6), 0.5)
    with pytest.raises(ValueError, match=r"layer 'c'.*\(4, 4\).*does not tile.*\(4, 6\)"):
        F.encode_bsr(w, mask, (4, 4), layer="c")
    with pytest.raises(ValueError, match=r"block_shape.*\(0, 2\)"):
        F.encode_bsr(w, mask, (0, 2), layer="c")


def test_nm_errors_name_layer_and_value():
    w, _ = _random((2, 8), 1.0)
    with pytest.raises(ValueError, match=r"layer 'x'.*n=5 > m=4"):
        F.encode_nm(w, np.zeros((2, 8), dtype=bool), 5, 4, layer="x")
    with pytest.raises(ValueError, match=r"layer 'x'.*m=3.*8"):
        F.encode_nm(w, np.zeros((2, 8), dtype=bool), 1, 3, layer="x")
    with pytest.raises(ValueError, match=r"layer 'x'.*not 1:4.*row 1 group 0 keeps 2"):
        mask = np.zeros((2, 8), dtype=bool)
        mask[1, :2] = True
        F.encode_nm(w, mask, 1, 4, layer="x")


def test_unknown_format_is_named():
    w, mask = _random((2, 4), 0.5)
    with pytest.raises(ValueError, match=r"layer 'q'.*'coo'"):
        F.encode(w, mask, "coo", layer="q")


# ------------------------------------------------------------------------------ properties


@st.composite
def _weights_and_mask(draw):
    br = draw(st.integers(1, 4))
    bc = draw(st.integers(1, 4))
    rows = br * draw(st.integers(1, 5))
    cols = bc * draw(st.integers(1, 5))
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**16))
    w, mask = _random((rows, cols), density, seed=seed, dtype=draw(st.sampled_from([np.float32, np.float64])))
    return w, mask, (br, bc)


@settings(max_examples=60, deadline=None)
@given(_weights_and_mask())
def test_every_format_round_trips(case):
    w, mask, block = case
    expected = np.where(mask, w, 0)
    for fmt in ["csr", "bitmap", ("bsr", block)]:
        np.testing.assert_array_equal(F.encode(w, mask, fmt).decode(), expected)
    csr = F.encode_csr(w, mask)
    assert csr.nnz == mask.sum()
    rows = w.shape[0]
    assert csr.storage_bytes() == 8 * csr.nnz + 4 * (rows + 1)
    bsr = F.encode_bsr(w, mask, block)
    assert bsr.nblocks == F.block_mask(mask, block).sum()
    bm = F.encode_bitmap(w, mask)
    assert bm.storage_bytes(value_bits=32) == 4 * bm.nnz + math.ceil(w.size / 8)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([(1, 4), (2, 4), (1, 2), (2, 8)]),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(0, 2**16),
    st.booleans(),
)
def test_nm_round_trips(nm, rows, groups, seed, drop):
    n, m = nm
    w, _ = _random((rows, groups * m), 1.0, seed=seed)
    mask = _nm_mask(rows, groups * m, n, m, seed=seed)
    if drop:  # prune further: groups then keep fewer than n and are padded
        mask &= np.random.default_rng(seed).random(mask.shape) < 0.5
    enc = F.encode_nm(w, mask, n, m)
    np.testing.assert_array_equal(enc.decode(), np.where(mask, w, 0))
    assert (enc.mask() | ~mask).all()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.sampled_from([4, 8, 12]),
    cols=st.sampled_from([4, 8, 16]),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    fmt=st.sampled_from(["csr", "bitmap", ("bsr", (2, 2)), ("bsr", (4, 4)), ("nm", 2, 4), ("nm", 1, 4)]),
    bits=st.sampled_from([(8, 8, 16), (16, 12, 12), (32, 32, 32)]),
)
def test_mask_only_structure_and_storage_equal_encoding(rows, cols, density, seed, fmt, bits):
    from accelsim.sparse.formats import storage_breakdown_of, stored_structure

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    mask = rng.random((rows, cols)) < density
    if isinstance(fmt, tuple) and fmt[0] == "nm":
        n, m = fmt[1], fmt[2]
        keep = np.argsort(-np.abs(w).reshape(rows, -1, m) * mask.reshape(rows, -1, m), axis=2)[:, :, :n]
        nm_mask = np.zeros((rows, cols // m, m), dtype=bool)
        np.put_along_axis(nm_mask, keep, True, axis=2)
        mask = nm_mask.reshape(rows, cols) & mask
    v, i, p = bits
    index_bits = None if isinstance(fmt, tuple) and fmt[0] == "nm" else i
    encoded = F.encode(w, mask, fmt)
    assert np.array_equal(stored_structure(mask, fmt), encoded.mask())
    assert storage_breakdown_of(
        mask, fmt, value_bits=v, index_bits=index_bits, pointer_bits=p
    ) == encoded.storage_breakdown(value_bits=v, index_bits=index_bits, pointer_bits=p)


def test_mask_only_functions_refuse_what_encode_refuses():
    from accelsim.sparse.formats import storage_breakdown_of, stored_structure

    mask = np.ones((4, 8), dtype=bool)
    with pytest.raises(ValueError, match="mask is not 2:4: row 0 group 0 keeps 4 of 4 weights"):
        stored_structure(mask, ("nm", 2, 4))
    with pytest.raises(ValueError, match="does not tile the GEMM view"):
        storage_breakdown_of(mask, ("bsr", (3, 3)))
    with pytest.raises(ValueError, match="unknown format 'coo'"):
        storage_breakdown_of(mask, "coo")
