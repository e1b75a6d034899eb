"""``W @ X`` for every weight format: the validating SpMM wrappers and their thread policy.

The wrappers check shapes, dtypes and formats and raise ``ValueError`` naming the layer and the
value, then run a kernel of :mod:`accelsim.sparse.spmm_kernels` serially or through its parallel
driver.  The convolution built on them (:mod:`accelsim.sparse.kernels`) only reshapes around one
call, so it lives elsewhere.

Threads: a parallel driver (``prange``) splits rows into non-zero-balanced blocks, 4 per numba
thread handed out dynamically (1 per thread once the X chunk a block reads outgrows L2, since every
block reads it again); work under ``PARALLEL_MIN_WORK`` multiply-adds, or a single numba thread,
runs the serial kernel (a two-thread dispatch of tiny work can cost milliseconds on a busy
machine).  Set the thread count with ``numba.set_num_threads``.  Dynamic blocks even out uneven
progress but cannot hide a thread the OS does not schedule: with another process busy on the
second core, a two-thread call measured 0.4-1.5x the serial speed on the 2-core box.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numba
import numpy as np

from accelsim.sparse.formats import BSR, CSR, Bitmap, NMFormat, gemm_view
from accelsim.sparse.jit import aligned, aligned_empty
from accelsim.sparse.spmm_kernels import (
    balanced_bounds,
    bitmap_rows,
    bsr_rows,
    bsr_rows_parallel,
    csr_rows,
    csr_rows_parallel,
    nm_rows,
    nm_rows_parallel,
)

__all__ = [
    "PARALLEL_MIN_WORK",
    "csr_spmm",
    "bsr_spmm",
    "nm_spmm",
    "bitmap_spmm",
    "dense_gemm",
    "spmm",
    "layer_subject",
]

PARALLEL_MIN_WORK = 1 << 21  # multiply-adds below which a parallel dispatch costs more than it saves
_CHUNK_COLUMNS = 1024  # N-chunk width; see _chunk
# Row blocks per thread, handed out dynamically (chunk size 1): a thread that falls behind hands
# blocks to the other (measured: 8 dynamic blocks 1.8-2.1x on two threads, 2 static 1.2-2.3x).
_BLOCKS_PER_THREAD = 4
# Each row block reads its X chunk again.  Once that chunk outgrows L2 (1 MiB per core on the
# docs/machine.md box) the re-reads come from L3 or DRAM, so one block per thread: on 512x4608x3136
# at 90% (18.9 MB X chunks) two threads measured 1.89-1.94x with 2 blocks, 1.64-1.69x with 8.
_X_CHUNK_CACHE_BYTES = 1 << 21
# The integer types run quantized layers (accelsim.sparse.quantized): the jitted kernels are generic,
# numba compiles an integer variant on first use; the caller picks a width the sums cannot overflow.
_SUPPORTED = tuple(np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64))


def layer_subject(layer: str | None) -> str:
    return f"layer {layer!r}" if layer is not None else "spmm"


def _check_operand(fmt_rows: int, k: int, values_dtype, X, groups: int, layer) -> tuple[np.ndarray, int]:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{layer_subject(layer)}: groups must be an int >= 1, got {groups!r}")
    if fmt_rows % groups:
        raise ValueError(
            f"{layer_subject(layer)}: {fmt_rows} weight rows are not divisible by groups={groups}"
        )
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{layer_subject(layer)}: dense operand must be 2-d (K x N), got shape {X.shape}")
    if np.dtype(values_dtype) not in _SUPPORTED:
        raise ValueError(
            f"{layer_subject(layer)}: weight dtype must be float32, float64, int32 or int64, "
            f"got {values_dtype}"
        )
    if X.dtype != values_dtype:
        raise ValueError(
            f"{layer_subject(layer)}: dense operand dtype {X.dtype} "
            f"does not match weight dtype {values_dtype}"
        )
    if X.shape[0] != k * groups:
        raise ValueError(
            f"{layer_subject(layer)}: dense operand has {X.shape[0]} rows, "
            f"expected K*groups = {k}*{groups} = {k * groups}"
        )
    return aligned(X), fmt_rows // groups


def _output(out, rows: int, n: int, dtype, layer) -> np.ndarray:
    """A fresh aligned output, or the caller's ``out`` once checked.

    Reusing ``out`` saves the page faults of a fresh allocation, which on small shapes cost as
    much as a quarter of a two-thread call (they serialise on the process's memory map).
    """
    if out is None:
        return aligned_empty((rows, n), dtype)  # every kernel overwrites its rows
    if (
        not isinstance(out, np.ndarray)
        or out.shape != (rows, n)
        or out.dtype != dtype
        or not out.flags.c_contiguous
        or not out.flags.writeable
    ):
        got = (getattr(out, "shape", None), getattr(out, "dtype", type(out).__name__))
        raise ValueError(
            f"{layer_subject(layer)}: out must be a writeable C-contiguous {dtype} array of shape "
            f"{(rows, n)}, got shape/dtype {got}"
        )
    return out


def _chunk(X: np.ndarray) -> int:
    """Columns per N-chunk.  Measured (docs/machine.md box): whole rows win up to N ~ 1k; on the
    512x4608x3136 conv shape 1024-column chunks beat both whole rows and L2-sized chunks."""
    return max(1, min(X.shape[1], _CHUNK_COLUMNS))


def _use_parallel(work: int, k: int, X: np.ndarray) -> int:
    """Row blocks for the parallel driver (0 = run serially); ``k`` rows of ``X`` feed each group."""
    threads = numba.get_num_threads()
    if threads < 2 or work < PARALLEL_MIN_WORK:
        return 0
    chunk_bytes = k * _chunk(X) * X.itemsize
    return threads * (_BLOCKS_PER_THREAD if chunk_bytes <= _X_CHUNK_CACHE_BYTES else 1)


SparseWeight = TypeVar("SparseWeight", CSR, BSR, NMFormat, Bitmap)


def _format_operands(
    w: object,
    kind: type[SparseWeight],
    kind_name: str,
    kernel: str,
    values: str,
    X: np.ndarray,
    groups: int,
    out: np.ndarray | None,
    layer: str | None,
) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """What every format kernel checks first: ``w`` is a ``kind``, ``X`` fits its GEMM shape, ``out``
    fits the result (``values``: the attribute holding the stored weights, whose dtype ``X`` must have).
    Returns ``(X, Y, rows, k, rows per group)``."""
    if not isinstance(w, kind):
        raise ValueError(
            f"{layer_subject(layer)}: {kernel} needs a {kind_name} weight, got {type(w).__name__}"
        )
    rows, k = w.gemm_shape
    X, rpg = _check_operand(rows, k, getattr(w, values).dtype, X, groups, layer)
    return X, _output(out, rows, X.shape[1], X.dtype, layer), rows, k, rpg


def csr_spmm(
    w: CSR, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for a :class:`~accelsim.sparse.formats.CSR` weight; returns an aligned (rows x N) array."""
    X, Y, rows, k, rpg = _format_operands(w, CSR, "CSR", "csr_spmm", "data", X, groups, out, layer)
    blocks = _use_parallel(w.nnz * X.shape[1], k, X)
    if not blocks:
        csr_rows(w.indptr, w.indices, w.data, X, Y, 0, rows, rpg, k, _chunk(X))
    else:
        with numba.parallel_chunksize(1):
            csr_rows_parallel(
                w.indptr, w.indices, w.data, X, Y, balanced_bounds(w.indptr, blocks), rpg, k, _chunk(X)
            )
    return Y


def bsr_spmm(
    w: BSR, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for a :class:`~accelsim.sparse.formats.BSR` weight; blocks must not straddle groups."""
    X, Y, rows, k, rpg = _format_operands(w, BSR, "BSR", "bsr_spmm", "blocks", X, groups, out, layer)
    br = w.block_shape[0]
    if rpg % br:
        raise ValueError(
            f"{layer_subject(layer)}: block_shape {w.block_shape} straddles groups of {rpg} output rows"
        )
    block_rows = rows // br
    blocks = _use_parallel(w.nnz * X.shape[1], k, X)
    if not blocks:
        bsr_rows(w.indptr, w.indices, w.blocks, X, Y, 0, block_rows, rpg, k, _chunk(X))
    else:
        bounds = balanced_bounds(w.indptr, blocks)
        with numba.parallel_chunksize(1):
            bsr_rows_parallel(w.indptr, w.indices, w.blocks, X, Y, bounds, rpg, k, _chunk(X))
    return Y


def nm_spmm(
    w: NMFormat, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for an :class:`~accelsim.sparse.formats.NMFormat` weight."""
    X, Y, rows, k, rpg = _format_operands(w, NMFormat, "NM", "nm_spmm", "values", X, groups, out, layer)
    blocks = _use_parallel(w.nnz * X.shape[1], k, X)
    if not blocks:
        nm_rows(w.values, w.offsets, w.n, w.m, X, Y, 0, rows, rpg, k, _chunk(X))
    else:
        bounds = balanced_bounds(np.arange(rows + 1, dtype=np.int64), blocks)  # rows have equal work
        with numba.parallel_chunksize(1):
            nm_rows_parallel(w.values, w.offsets, w.n, w.m, X, Y, bounds, rpg, k, _chunk(X))
    return Y


def bitmap_spmm(
    w: Bitmap, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` for a :class:`~accelsim.sparse.formats.Bitmap` weight (serial: a reference-grade kernel)."""
    X, Y, _, k, rpg = _format_operands(w, Bitmap, "Bitmap", "bitmap_spmm", "values", X, groups, out, layer)
    bitmap_rows(w.bitmap, w.values, X, Y, rpg, k)
    return Y


def dense_gemm(
    w: np.ndarray, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` through BLAS for a dense weight (any shape; its GEMM view is used), grouped."""
    w2 = gemm_view(w, layer=layer)
    rows, k = w2.shape
    X, rpg = _check_operand(rows, k, w2.dtype, X, groups, layer)
    Y = _output(out, rows, X.shape[1], X.dtype, layer)
    X3 = X.reshape(groups, k, X.shape[1])
    if rpg == 1 and groups > 1:
        # Depthwise: batched BLAS on (1 x k) @ (k x N) stacks ran 10x slower than this k-loop of
        # multiply-adds over all channels at once (MobileNetV2 at 224x224).
        Y[...] = w2[:, :1] * X3[:, 0]
        for j in range(1, k):
            Y += w2[:, j : j + 1] * X3[:, j]
        return Y
    np.matmul(w2.reshape(groups, rpg, k), X3, out=Y.reshape(groups, rpg, X.shape[1]))
    return Y


_SPMM: dict[type, Callable[..., np.ndarray]] = {
    CSR: csr_spmm,
    BSR: bsr_spmm,
    NMFormat: nm_spmm,
    Bitmap: bitmap_spmm,
}


def spmm(
    w, X: np.ndarray, *, groups: int = 1, out: np.ndarray | None = None, layer: str | None = None
) -> np.ndarray:
    """``W @ X`` dispatched on the weight's type: a format object, or a dense ndarray (BLAS).

    ``out`` (rows x N, the operand's dtype, C-contiguous; 64-byte aligned is fastest) receives the
    result instead of a fresh array.
    """
    if isinstance(w, np.ndarray):
        return dense_gemm(w, X, groups=groups, out=out, layer=layer)
    try:
        kernel = _SPMM[type(w)]
    except KeyError:
        raise ValueError(f"{layer_subject(layer)}: not a weight format: {type(w).__name__}") from None
    return kernel(w, X, groups=groups, out=out, layer=layer)
