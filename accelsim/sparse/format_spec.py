"""Which compressed format, and which weight slots it stores for a mask: specs checked without values.

A format spec (``"csr"``, ``"bitmap"``, ``Block((br, bc))``, ``NM(n, m)`` or their tuple spellings)
is validated here against a layer's mask: :func:`as_format` reads the spec, :func:`check_mask`
checks the mask, :func:`block_mask` and :func:`nm_groups` check that a blocked or N:M format can
hold it, and :func:`stored_structure` gives the slots the format would store.  None of this needs
the weight values, so the timing model and the executor's format choice use it without encoding;
the record types and encoders of :mod:`accelsim.sparse.formats` build on it.
"""

from __future__ import annotations

import numpy as np

from workloads.sparsity import NM, Block, gemm_view

__all__ = [
    "FORMAT_NAMES",
    "FormatSpec",
    "weights_subject",
    "check_nm_params",
    "as_format",
    "check_mask",
    "tiling_block",
    "block_mask",
    "nm_groups",
    "stored_structure",
]

FORMAT_NAMES = ("dense", "csr", "bsr", "nm", "bitmap")
#: A compressed format: ``"csr"`` or ``"bitmap"`` (any structure), or the structure a blocked or
#: N:M format stores (``Block((br, bc))``, ``NM(n, m)``). See `as_format` for the tuple spelling.
FormatSpec = str | Block | NM
_EXPECTED = "'csr', 'bitmap', Block((br, bc)) / ('bsr', (br, bc)) or NM(n, m) / ('nm', n, m)"


def weights_subject(layer: str | None) -> str:
    return f"layer {layer!r}" if layer is not None else "weights"


def check_nm_params(n: object, m: object, layer: str | None) -> NM:
    for name, v in (("n", n), ("m", m)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{weights_subject(layer)}: N:M {name} must be an int >= 1, got {v!r}")
    if m > 256:  # type: ignore[operator]  # both checked ints above
        raise ValueError(f"{weights_subject(layer)}: N:M m={m} exceeds the 8-bit in-group offsets")
    if n > m:  # type: ignore[operator]
        raise ValueError(f"{weights_subject(layer)}: N:M needs n <= m, got n={n} > m={m}")
    return NM(int(n), int(m))  # type: ignore[call-overload]


def as_format(fmt: object, *, layer: str | None = None) -> FormatSpec:
    """``fmt`` as a `FormatSpec`; the tuples ``("bsr", (br, bc))`` and ``("nm", n, m)`` (the spelling
    `accelsim.sparse.execute` takes) become ``Block`` and ``NM``. Errors name the layer and the value."""
    if isinstance(fmt, str) and fmt in ("csr", "bitmap"):
        return fmt
    if isinstance(fmt, NM):
        return check_nm_params(fmt.n, fmt.m, layer)
    if isinstance(fmt, Block):
        return fmt
    if isinstance(fmt, tuple) and len(fmt) == 2 and fmt[0] == "bsr":
        shape = tuple(fmt[1]) if isinstance(fmt[1], (tuple, list)) else fmt[1]
        try:
            return Block(shape)
        except ValueError as exc:
            raise ValueError(f"{weights_subject(layer)}: {exc}") from None
    if isinstance(fmt, tuple) and len(fmt) == 3 and fmt[0] == "nm":
        return check_nm_params(fmt[1], fmt[2], layer)
    raise ValueError(f"{weights_subject(layer)}: unknown format {fmt!r}; expected {_EXPECTED}")


def check_mask(weights: np.ndarray, mask: np.ndarray, *, layer: str | None = None) -> None:
    """Raise ValueError unless ``mask`` is a bool array of exactly ``weights``' shape."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        dtype = getattr(mask, "dtype", type(mask).__name__)
        raise ValueError(f"{weights_subject(layer)}: mask must be a bool ndarray, got dtype {dtype}")
    if mask.shape != np.shape(weights):
        raise ValueError(
            f"{weights_subject(layer)}: mask shape {mask.shape} "
            f"does not match weight shape {np.shape(weights)}"
        )


def _as_block(block_shape: object, layer: str | None) -> Block:
    if isinstance(block_shape, Block):
        return block_shape
    try:
        return Block(tuple(block_shape) if isinstance(block_shape, list) else block_shape)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"{weights_subject(layer)}: {exc}") from None


def tiling_block(block_shape: object, gemm_shape: tuple[int, int], layer: str | None) -> Block:
    block = _as_block(block_shape, layer)
    rows, cols = gemm_shape
    if rows % block.rows or cols % block.cols:
        # Worded as reports have always carried it (a layer's fallback reason).
        raise ValueError(
            f"{weights_subject(layer)}: block_shape {block.block_shape} does not tile the GEMM view "
            f"{(rows, cols)} of the weights"
        )
    return block


def block_mask(mask: np.ndarray, block_shape, *, layer: str | None = None) -> np.ndarray:
    """(rows/br, cols/bc) bool grid: True where a block of the GEMM view keeps any weight."""
    m2 = gemm_view(mask, layer=layer, what="mask")
    br, bc = tiling_block(block_shape, m2.shape, layer).block_shape
    return np.asarray(m2.reshape(m2.shape[0] // br, br, m2.shape[1] // bc, bc).any(axis=(1, 3)))


def nm_groups(m2: np.ndarray, n: int, m: int, layer) -> np.ndarray:
    """(rows, cols/m, m) groups of an N:M-valid GEMM-view mask (``n`` and ``m`` checked already)."""
    rows, cols = m2.shape
    if cols % m:
        raise ValueError(
            f"{weights_subject(layer)}: N:M group m={m} does not divide the reduction length {cols}"
        )
    groups = m2.reshape(rows, cols // m, m)
    # A sum over a short last axis is slow in numpy; m strided adds are not.
    kept = np.zeros(groups.shape[:2], dtype=np.int32)
    for j in range(m):
        kept += groups[:, :, j]
    if kept.max(initial=0) > n:
        r, g = np.unravel_index(int(np.argmax(kept)), kept.shape)
        raise ValueError(
            f"{weights_subject(layer)}: mask is not {n}:{m}: "
            f"row {r} group {g} keeps {int(kept[r, g])} of {m} weights"
        )
    return groups


def stored_structure(mask: np.ndarray, fmt: object, *, layer: str | None = None) -> np.ndarray:
    """The GEMM-view bool matrix of slots format ``fmt`` stores for ``mask`` -- what
    ``encode(w, mask, fmt).mask()`` gives, in GEMM view, without encoding any values. Raises
    ValueError (as `encode` does) when the format cannot hold the mask."""
    spec = as_format(fmt, layer=layer)
    m2 = gemm_view(mask, layer=layer, what="mask")
    if isinstance(spec, Block):
        grid = block_mask(m2, spec, layer=layer)
        return np.repeat(np.repeat(grid, spec.rows, axis=0), spec.cols, axis=1)
    if isinstance(spec, NM):
        groups = nm_groups(m2, spec.n, spec.m, layer)
        # Pads: the lowest pruned positions of a group keeping fewer than n (as encode_nm stores them).
        free = ~groups
        pads = free & (np.cumsum(free, axis=2) <= (spec.n - groups.sum(axis=2))[..., None])
        return (groups | pads).reshape(m2.shape)
    return m2
