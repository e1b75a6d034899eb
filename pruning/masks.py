"""``Masks``: an immutable mapping ``layer name -> bool ndarray`` of the layer's weight shape.

True keeps a weight, False prunes it. Biases (``"<layer>.bias"``) are never masked: a mask covers
the weight tensor only, which is what the simulator counts and what pruning methods select.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Iterator, Mapping

import numpy as np
from numpy.typing import ArrayLike

from workloads.network import Network
from workloads.npz import MAX_NPZ_BYTES, NpzFormatError, read_npz
from workloads.quoting import short

# A marker entry in the npz so a foreign archive is recognised; bumped if the layout changes.
FORMAT_KEY = "__accelsim_masks__"
FORMAT_VERSION = 1
# Fixed zip timestamps make ``save`` byte-reproducible (same masks -> same file).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _check_name(name: object, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: mask names must be non-empty str, got {name!r}")
    if name.endswith(".bias"):
        raise ValueError(f"{where}: masks cover weights only, got a mask for {name!r}")
    if name == FORMAT_KEY:
        raise ValueError(f"{where}: {FORMAT_KEY!r} is reserved and cannot name a layer")
    return name


def _as_mask(value: object, where: str) -> np.ndarray:
    """A read-only bool copy of ``value``; 0/1 numeric arrays are accepted, anything else refused."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{where}: a mask must hold booleans (or only 0/1), got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{where}: a mask must be an array of the weight shape, got a scalar")
    out = np.array(arr, dtype=bool, copy=True)
    out.flags.writeable = False
    return out


class Masks(Mapping[str, np.ndarray]):
    """Immutable ``layer name -> bool ndarray``; arrays are copied in and stored read-only.

    Equality and ``content_hash`` ignore insertion order; iteration keeps it (network order when
    built by ``dense`` or ``prune``).
    """

    __slots__ = ("_masks",)

    def __init__(self, masks: Mapping[str, ArrayLike] | None = None) -> None:
        if masks is None:
            masks = {}
        if not isinstance(masks, Mapping):
            raise ValueError(
                f"Masks: expected a mapping of layer name -> bool array, got {type(masks).__name__}"
            )
        self._masks: dict[str, np.ndarray] = {
            _check_name(name, "Masks"): _as_mask(value, f"Masks: layer {name!r}")
            for name, value in masks.items()
        }

    # ------------------------------------------------------------------ builders

    @classmethod
    def dense(cls, network: Network) -> Masks:
        """All-ones masks for every layer of ``network`` that has weights."""
        return cls(
            {layer.name: np.ones(layer.weight_shape, dtype=bool) for layer in network if layer.weight_shape}
        )

    def replace(self, name: str, mask: ArrayLike) -> Masks:
        """A copy with ``name``'s mask replaced; the layer must exist and keep its shape."""
        old = self[name]
        new = _as_mask(mask, f"Masks.replace: layer {name!r}")
        if new.shape != old.shape:
            raise ValueError(
                f"Masks.replace: layer {name!r}: mask shape must be {old.shape}, got {new.shape}"
            )
        return Masks({**self._masks, name: new})

    def __and__(self, other: Masks) -> Masks:
        """Elementwise AND on shared layers, union of the rest: pruned in either stays pruned."""
        if not isinstance(other, Masks):
            return NotImplemented
        merged = dict(self._masks)
        for name, mask in other.items():
            if name in merged:
                if merged[name].shape != mask.shape:
                    raise ValueError(
                        f"Masks &: layer {name!r}: shapes differ, {merged[name].shape} vs {mask.shape}"
                    )
                merged[name] = merged[name] & mask
            else:
                merged[name] = mask
        return Masks(merged)

    # ------------------------------------------------------------------ mapping

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._masks[name]
        except KeyError:
            raise KeyError(f"no mask for layer {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Masks):
            return NotImplemented
        return self._masks.keys() == other._masks.keys() and all(
            a.shape == other._masks[n].shape and np.array_equal(a, other._masks[n])
            for n, a in self._masks.items()
        )

    def __hash__(self) -> int:
        return hash(self.content_hash())

    def __repr__(self) -> str:
        return f"Masks({len(self)} layers, density={self.density:.4f})"

    # ------------------------------------------------------------------ statistics

    @property
    def size(self) -> int:
        """Number of masked weights (kept or not)."""
        return sum(m.size for m in self._masks.values())

    @property
    def nnz(self) -> int:
        """Number of kept weights."""
        return sum(int(np.count_nonzero(m)) for m in self._masks.values())

    @property
    def density(self) -> float:
        """Kept fraction over all masked weights (weighted by weight count); 1.0 when empty."""
        size = self.size
        return self.nnz / size if size else 1.0

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density

    def density_of(self, name: str) -> float:
        mask = self[name]
        return int(np.count_nonzero(mask)) / mask.size

    def densities(self) -> dict[str, float]:
        return {name: self.density_of(name) for name in self._masks}

    # ------------------------------------------------------------------ use

    def apply(self, weights: Mapping[str, ArrayLike]) -> dict[str, ArrayLike]:
        """A new weights dict with masked entries zeroed.

        Biases and unmasked layers are passed through as the caller's own arrays (not copied); a
        masked layer missing from ``weights`` or of another shape is an error naming it.
        """
        out: dict[str, ArrayLike] = dict(weights)
        for name, mask in self._masks.items():
            if name not in weights:
                raise ValueError(f"Masks.apply: weights have no entry for masked layer {name!r}")
            w = np.asarray(weights[name])
            if w.shape != mask.shape:
                raise ValueError(
                    f"Masks.apply: layer {name!r}: weight shape {w.shape} != mask shape {mask.shape}"
                )
            # where() rather than w * mask so a NaN or inf in a pruned slot still becomes exactly 0.
            out[name] = np.where(mask, w, np.zeros((), dtype=w.dtype))
        return out

    def check_network(self, network: Network) -> None:
        """Raise unless every mask names a layer of ``network`` with weights, in its weight shape."""
        for name, mask in self._masks.items():
            if name not in network:
                raise ValueError(f"Masks: layer {name!r} is not in network {network.name!r}")
            shape = network[name].weight_shape
            if shape is None:
                raise ValueError(f"Masks: layer {name!r} of network {network.name!r} has no weights")
            if tuple(shape) != mask.shape:
                raise ValueError(
                    f"Masks: layer {name!r}: mask shape {mask.shape} != weight shape {tuple(shape)}"
                )

    def content_hash(self) -> str:
        """sha256 over sorted names, shapes and bits: stable across runs, processes and insertion order."""
        digest = hashlib.sha256()
        digest.update(f"accelsim-masks-v{FORMAT_VERSION}\0".encode())
        for name in sorted(self._masks):
            mask = self._masks[name]
            digest.update(name.encode() + b"\0")
            digest.update((",".join(map(str, mask.shape)) + "\0").encode())
            digest.update(np.packbits(mask.ravel()).tobytes())
        return digest.hexdigest()

    # ------------------------------------------------------------------ npz

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an ``.npz`` (one bool array per layer) to exactly ``path``; same masks, same bytes."""
        # Written entry by entry instead of np.savez(**masks): a layer named "file" or
        # "allow_pickle" would collide with savez's own keywords.
        entries = {FORMAT_KEY: np.array(FORMAT_VERSION, dtype=np.int64), **self._masks}
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for key in sorted(entries):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as handle:
                    np.lib.format.write_array(handle, np.asarray(entries[key]), allow_pickle=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_bytes: int = MAX_NPZ_BYTES) -> Masks:
        """Read a file written by ``save``; any problem is a :class:`MaskFileError` naming the file and
        the key (a missing file raises ``FileNotFoundError``). At most ``max_bytes`` decompressed."""
        where = f"masks file {os.fspath(path)!r}"
        try:
            entries = read_npz(path, where=where, max_bytes=max_bytes)
        except NpzFormatError as exc:
            raise MaskFileError(str(exc)) from None
        if FORMAT_KEY not in entries:
            raise MaskFileError(f"{where}: key {FORMAT_KEY!r} is missing; not written by Masks.save")
        masks = {}
        for key, arr in entries.items():
            if key == FORMAT_KEY:
                if arr.shape != () or arr.dtype.kind not in "iu" or int(arr) != FORMAT_VERSION:
                    raise MaskFileError(f"{where}: key {key!r}: unsupported format version {short(arr)}")
                continue
            if key.endswith(".bias") or not key:
                raise MaskFileError(f"{where}: key {short(key)}: masks cover weights only")
            if arr.dtype != np.bool_:
                raise MaskFileError(f"{where}: key {short(key)}: mask must have dtype bool, got {arr.dtype}")
            if arr.ndim == 0:
                raise MaskFileError(f"{where}: key {short(key)}: mask must be an array, got a scalar")
            masks[key] = arr
        return cls(masks)


class MaskFileError(ValueError):
    """A masks file that cannot be read as masks; the message names the file and the key."""


__all__ = ["FORMAT_KEY", "FORMAT_VERSION", "MaskFileError", "Masks"]
