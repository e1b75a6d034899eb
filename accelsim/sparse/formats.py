"""Sparse weight formats: CSR, BSR, N:M and bitmap, encoded from (dense weights, bool mask).

Every format works on the **GEMM view** of a weight: a 2-d ``(rows, cols)`` matrix with
``rows = weight.shape[0]`` and ``cols = prod(weight.shape[1:])``.  A Linear weight
``(out, in)`` is its own view; a conv weight ``(out, in/groups, kh, kw)`` is viewed C-order as
``(out, in/groups*kh*kw)`` (reduction index ``(c*kh + i)*kw + j``), which is the row layout the
im2col convolution in :mod:`accelsim.sparse.kernels` multiplies, and the transpose of one group's
``k x n`` filter matrix in :mod:`accelsim.timing.mapping`.  ``decode()`` returns the original shape.

Encoding keeps ``weights * mask`` exactly: ``decode(encode(w, m)) == np.where(m, w, 0)``, bit for
bit.  A kept weight whose value is 0 is still stored (the mask, not the value, is the structure).
``mask()`` gives back the stored structure: exact for CSR and bitmap; for BSR it is the mask of
whole stored blocks; for N:M it is exact when every group keeps exactly ``n`` (a group keeping
fewer is padded with explicit zeros, as N:M hardware stores it, and the pads show up in ``mask()``).

Storage is counted in bits per array, each array packed and rounded up to whole bytes:

=======  ==========================================================================
CSR      values nnz*value_bits, column indices nnz*index_bits, row pointers (rows+1)*pointer_bits
BSR      values blocks*br*bc*value_bits, block-column indices blocks*index_bits,
         block-row pointers (rows/br + 1)*pointer_bits
N:M      values rows*(cols/m)*n*value_bits, in-group indices rows*(cols/m)*n*nm_index_bits
         (default ceil(log2 m) bits: 2 bits for m = 4); no pointers (every row has cols/m*n)
bitmap   values nnz*value_bits, bitmap rows*cols bits; no indices (row offsets are prefix sums)
=======  ==========================================================================

``index_bits`` and ``pointer_bits`` default to 32 (the in-memory int32 arrays); pass the width
your hardware uses (e.g. ``index_bits=8`` for 256-wide tiles).  ``value_bits`` defaults to 32
(float32); pass 8 or 16 for quantised values.  Errors name the layer (``layer=``), the field
and the value.

Format specs, mask checks and the slots a format stores for a mask (no values needed) live in
:mod:`accelsim.sparse.format_spec`; their public names are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from accelsim.sparse.format_spec import (
    FORMAT_NAMES,
    FormatSpec,
    as_format,
    block_mask,
    check_mask,
    check_nm_params,
    nm_groups,
    stored_structure,
    tiling_block,
    weights_subject,
)
from workloads.sparsity import NM, Block, gemm_view

INDEX_DTYPE = np.int32
NM_INDEX_DTYPE = np.uint8

__all__ = [
    "CSR",
    "BSR",
    "NMFormat",
    "Bitmap",
    "FORMAT_NAMES",
    "FormatSpec",
    "as_format",
    "gemm_view",
    "check_mask",
    "encode_csr",
    "encode_bsr",
    "encode_nm",
    "encode_bitmap",
    "encode",
    "block_mask",
    "stored_structure",
    "storage_breakdown_of",
]


def _check_bits(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 (bits), got {value!r}")
    return value


def _bytes(bits: int) -> int:
    return (bits + 7) // 8


def _csr_breakdown(nnz: int, rows: int, v: int, i: int, p: int) -> dict[str, int]:
    return {"values": _bytes(nnz * v), "indices": _bytes(nnz * i), "pointers": _bytes((rows + 1) * p)}


def _bsr_breakdown(nblocks: int, block_shape, block_rows: int, v: int, i: int, p: int) -> dict[str, int]:
    return {
        "values": _bytes(nblocks * block_shape[0] * block_shape[1] * v),
        "indices": _bytes(nblocks * i),
        "pointers": _bytes((block_rows + 1) * p),
    }


def _nm_breakdown(stored: int, m: int, v: int, index_bits: int | None) -> dict[str, int]:
    # The in-group offset needs only ceil(log2 m) bits; pointers are implicit.
    i = max(1, math.ceil(math.log2(m))) if index_bits is None else _check_bits("index_bits", index_bits)
    return {"values": _bytes(stored * v), "indices": _bytes(stored * i)}


def _bitmap_breakdown(nnz: int, size: int, v: int) -> dict[str, int]:
    return {"values": _bytes(nnz * v), "bitmap": _bytes(size)}


def _prepare(weights, mask, layer):
    weights = np.asarray(weights)
    if weights.dtype.kind not in "fi":  # signed integers: the codes of quantized weights
        raise ValueError(
            f"{weights_subject(layer)}: weights must be floating point or signed integer codes, "
            f"got dtype {weights.dtype}"
        )
    check_mask(weights, mask, layer=layer)
    w2 = gemm_view(weights, layer=layer)
    m2 = gemm_view(mask, layer=layer, what="mask")
    return w2, m2, tuple(weights.shape)


@dataclass(frozen=True, eq=False)
class _Format:
    shape: tuple[int, ...]  # the original weight shape; the GEMM view is (shape[0], prod(rest))

    @property
    def gemm_shape(self) -> tuple[int, int]:
        return (self.shape[0], math.prod(self.shape[1:]))

    def storage_bytes(self, *, value_bits: int = 32, index_bits: int = 32, pointer_bits: int = 32) -> int:
        """Exact bytes of every array of the format (each packed, rounded up to a byte)."""
        return sum(
            self.storage_breakdown(
                value_bits=value_bits, index_bits=index_bits, pointer_bits=pointer_bits
            ).values()
        )

    def storage_breakdown(
        self, *, value_bits: int = 32, index_bits: int | None = 32, pointer_bits: int = 32
    ) -> dict[str, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode2d(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self) -> np.ndarray:
        """Dense weights of the original shape, pruned entries 0."""
        return self._decode2d().reshape(self.shape)


@dataclass(frozen=True, eq=False)
class CSR(_Format):
    """Compressed sparse rows of the GEMM view: ``indptr`` (rows+1), ``indices``, ``data`` (nnz)."""

    indptr: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)
    data: np.ndarray = field(repr=False)

    @property
    def nnz(self) -> int:
        return int(self.data.shape[0])

    def storage_breakdown(self, *, value_bits=32, index_bits=32, pointer_bits=32) -> dict[str, int]:
        v, i, p = (
            _check_bits(n, b)
            for n, b in (
                ("value_bits", value_bits),
                ("index_bits", index_bits),
                ("pointer_bits", pointer_bits),
            )
        )
        return _csr_breakdown(self.nnz, self.gemm_shape[0], v, i, p)

    def mask(self) -> np.ndarray:
        out = np.zeros(self.gemm_shape, dtype=bool)
        rows = np.repeat(np.arange(self.gemm_shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = True
        return out.reshape(self.shape)

    def _decode2d(self) -> np.ndarray:
        out = np.zeros(self.gemm_shape, dtype=self.data.dtype)
        rows = np.repeat(np.arange(self.gemm_shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.data
        return out


@dataclass(frozen=True, eq=False)
class BSR(_Format):
    """Block sparse rows: ``blocks`` (nblocks, br, bc) addressed by block-row ``indptr`` and
    block-column ``indices``; a block is stored when any of its weights is kept."""

    block_shape: tuple[int, int]
    indptr: np.ndarray = field(repr=False)
    indices: np.ndarray = field(repr=False)
    blocks: np.ndarray = field(repr=False)

    @property
    def nblocks(self) -> int:
        return int(self.blocks.shape[0])

    @property
    def nnz(self) -> int:
        """Stored values (whole blocks, including zeros inside kept blocks)."""
        return self.nblocks * self.block_shape[0] * self.block_shape[1]

    def storage_breakdown(self, *, value_bits=32, index_bits=32, pointer_bits=32) -> dict[str, int]:
        v, i, p = (
            _check_bits(n, b)
            for n, b in (
                ("value_bits", value_bits),
                ("index_bits", index_bits),
                ("pointer_bits", pointer_bits),
            )
        )
        return _bsr_breakdown(
            self.nblocks, self.block_shape, self.gemm_shape[0] // self.block_shape[0], v, i, p
        )

    def _block_grid(self) -> np.ndarray:
        br, bc = self.block_shape
        rows, cols = self.gemm_shape
        grid = np.zeros((rows // br, cols // bc), dtype=bool)
        brow = np.repeat(np.arange(rows // br), np.diff(self.indptr))
        grid[brow, self.indices] = True
        return grid

    def mask(self) -> np.ndarray:
        br, bc = self.block_shape
        return np.kron(self._block_grid(), np.ones((br, bc), dtype=bool)).astype(bool).reshape(self.shape)

    def _decode2d(self) -> np.ndarray:
        br, bc = self.block_shape
        rows, cols = self.gemm_shape
        out = np.zeros((rows // br, cols // bc, br, bc), dtype=self.blocks.dtype)
        brow = np.repeat(np.arange(rows // br), np.diff(self.indptr))
        out[brow, self.indices] = self.blocks
        return out.transpose(0, 2, 1, 3).reshape(rows, cols)


@dataclass(frozen=True, eq=False)
class NMFormat(_Format):
    """N:M along the reduction (column) axis: every group of ``m`` consecutive columns keeps ``n``.

    ``values`` and ``offsets`` are (rows, cols/m*n): the kept values of group ``g`` sit at
    ``[:, g*n:(g+1)*n]`` with their column offsets within the group (0..m-1), ascending.
    """

    n: int
    m: int
    values: np.ndarray = field(repr=False)
    offsets: np.ndarray = field(repr=False)

    @property
    def nnz(self) -> int:
        """Stored values, padding included."""
        return int(self.values.size)

    def storage_breakdown(self, *, value_bits=32, index_bits=None, pointer_bits=32) -> dict[str, int]:
        return _nm_breakdown(self.nnz, self.m, _check_bits("value_bits", value_bits), index_bits)

    def storage_bytes(
        self, *, value_bits: int = 32, index_bits: int | None = None, pointer_bits: int = 32
    ) -> int:
        """As for the other formats, but ``index_bits`` defaults to ceil(log2 m)."""
        return sum(self.storage_breakdown(value_bits=value_bits, index_bits=index_bits).values())

    def _columns(self) -> np.ndarray:
        rows, cols = self.gemm_shape
        groups = np.repeat(np.arange(cols // self.m), self.n) * self.m
        return groups[None, :] + self.offsets.astype(np.intp)

    def mask(self) -> np.ndarray:
        out = np.zeros(self.gemm_shape, dtype=bool)
        np.put_along_axis(out, self._columns(), True, axis=1)
        return out.reshape(self.shape)

    def _decode2d(self) -> np.ndarray:
        out = np.zeros(self.gemm_shape, dtype=self.values.dtype)
        np.put_along_axis(out, self._columns(), self.values, axis=1)
        return out


@dataclass(frozen=True, eq=False)
class Bitmap(_Format):
    """A one-bit-per-weight ``bitmap`` (rows, cols) plus the kept ``values`` in row-major order."""

    bitmap: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)

    @property
    def nnz(self) -> int:
        return int(self.values.shape[0])

    def storage_breakdown(self, *, value_bits=32, index_bits=32, pointer_bits=32) -> dict[str, int]:
        rows, cols = self.gemm_shape
        return _bitmap_breakdown(self.nnz, rows * cols, _check_bits("value_bits", value_bits))

    def mask(self) -> np.ndarray:
        return self.bitmap.reshape(self.shape).copy()

    def _decode2d(self) -> np.ndarray:
        out = np.zeros(self.gemm_shape, dtype=self.values.dtype)
        out[self.bitmap] = self.values
        return out


# ------------------------------------------------------------------------------------ encoders


def encode_csr(weights: np.ndarray, mask: np.ndarray, *, layer: str | None = None) -> CSR:
    w2, m2, shape = _prepare(weights, mask, layer)
    counts = m2.sum(axis=1)
    indptr = np.zeros(m2.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if indptr[-1] > np.iinfo(INDEX_DTYPE).max:
        raise ValueError(f"{weights_subject(layer)}: {indptr[-1]} non-zeros overflow int32 indices")
    _, cols = np.nonzero(m2)
    return CSR(shape, indptr.astype(INDEX_DTYPE), cols.astype(INDEX_DTYPE), np.ascontiguousarray(w2[m2]))


def encode_bsr(weights: np.ndarray, mask: np.ndarray, block_shape, *, layer: str | None = None) -> BSR:
    w2, m2, shape = _prepare(weights, mask, layer)
    br, bc = tiling_block(block_shape, m2.shape, layer).block_shape
    grid = block_mask(m2, (br, bc), layer=layer)
    tiles = np.where(m2, w2, 0).reshape(m2.shape[0] // br, br, m2.shape[1] // bc, bc).transpose(0, 2, 1, 3)
    brow, bcol = np.nonzero(grid)
    indptr = np.zeros(grid.shape[0] + 1, dtype=INDEX_DTYPE)
    np.cumsum(grid.sum(axis=1), out=indptr[1:])
    return BSR(shape, (br, bc), indptr, bcol.astype(INDEX_DTYPE), np.ascontiguousarray(tiles[brow, bcol]))


def encode_nm(weights: np.ndarray, mask: np.ndarray, n: int, m: int, *, layer: str | None = None) -> NMFormat:
    w2, m2, shape = _prepare(weights, mask, layer)
    check_nm_params(n, m, layer)
    rows, cols = m2.shape
    groups = nm_groups(m2, n, m, layer)
    # Stable sort puts kept positions first (ascending); a group keeping fewer than n is padded
    # with the lowest pruned positions, whose values are stored as explicit zeros.
    order = np.argsort(~groups, axis=2, kind="stable")[:, :, :n]
    values = np.take_along_axis(np.where(m2, w2, 0).reshape(rows, cols // m, m), order, axis=2)
    return NMFormat(
        shape,
        int(n),
        int(m),
        np.ascontiguousarray(values.reshape(rows, -1)),
        np.ascontiguousarray(order.reshape(rows, -1).astype(NM_INDEX_DTYPE)),
    )


def encode_bitmap(weights: np.ndarray, mask: np.ndarray, *, layer: str | None = None) -> Bitmap:
    w2, m2, shape = _prepare(weights, mask, layer)
    return Bitmap(shape, m2.copy(), np.ascontiguousarray(w2[m2]))


def encode(
    weights: np.ndarray, mask: np.ndarray, fmt: object, *, layer: str | None = None
) -> CSR | Bitmap | BSR | NMFormat:
    """Encode by format spec (`as_format`): ``"csr"``, ``"bitmap"``, ``Block((br, bc))`` or ``NM(n, m)``."""
    spec = as_format(fmt, layer=layer)
    if isinstance(spec, Block):
        return encode_bsr(weights, mask, spec, layer=layer)
    if isinstance(spec, NM):
        return encode_nm(weights, mask, spec.n, spec.m, layer=layer)
    if spec == "csr":
        return encode_csr(weights, mask, layer=layer)
    return encode_bitmap(weights, mask, layer=layer)


def storage_breakdown_of(
    mask: np.ndarray,
    fmt,
    *,
    value_bits: int = 32,
    index_bits: int | None = 32,
    pointer_bits: int = 32,
    layer: str | None = None,
) -> dict[str, int]:
    """``encode(w, mask, fmt).storage_breakdown(...)`` from the mask alone (N:M: ``index_bits=None``
    means ceil(log2 m) bits, as `NMFormat.storage_breakdown`)."""
    spec = as_format(fmt, layer=layer)
    m2 = gemm_view(mask, layer=layer, what="mask")
    v = _check_bits("value_bits", value_bits)
    rows, cols = m2.shape
    if isinstance(spec, NM):
        nm_groups(m2, spec.n, spec.m, layer)
        return _nm_breakdown(rows * (cols // spec.m) * spec.n, spec.m, v, index_bits)
    if spec == "bitmap":
        return _bitmap_breakdown(int(np.count_nonzero(m2)), rows * cols, v)
    i, p = _check_bits("index_bits", index_bits), _check_bits("pointer_bits", pointer_bits)
    if isinstance(spec, Block):
        nblocks = int(np.count_nonzero(block_mask(m2, spec, layer=layer)))
        return _bsr_breakdown(nblocks, spec.block_shape, rows // spec.rows, v, i, p)
    return _csr_breakdown(int(np.count_nonzero(m2)), rows, v, i, p)
