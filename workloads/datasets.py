"""Datasets: the embedded handwritten digits, and MNIST / Fashion-MNIST from IDX files a user has.

Nothing is downloaded. The embedded default is scikit-learn's bundled copy of the UCI handwritten
digits (1,797 8x8 grey images, values 0..16), split train/validation/test by a seeded stratified
split implemented here in numpy. MNIST-style data is read from the standard IDX file names in a
directory the caller names, raw or gzip-compressed, and every header field is validated: a bad
file raises :class:`IdxFormatError` naming the file and the offending value.

Images are float32 NCHW scaled to [0, 1]; labels are int64. Arrays in a ``Dataset`` are read-only.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")

# The digits split: 70 / 10 / 20 % of 1,797 images -> 1,257 / 180 / 360 (stratified per class).
DIGITS_FRACTIONS = (0.7, 0.1, 0.2)
DEFAULT_SPLIT_SEED = 0
# MNIST ships train and test; validation is carved from train (10 % -> 54,000 / 6,000 / 10,000).
MNIST_VAL_FRACTION = 0.1

# IDX type byte -> big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, cols)
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
MNIST_VARIANTS = ("mnist", "fashion_mnist")


class IdxFormatError(ValueError):
    """A malformed IDX file; ``path`` names it and the message says which field is wrong."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)


# ----------------------------------------------------------------------------------- Dataset


def _frozen_array(value: object) -> np.ndarray:
    array = np.asarray(value)
    if array.flags.writeable:
        # A view, so the caller's own array keeps its flags; ours cannot be written through.
        array = array.view()
        array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous; compare ``fingerprint`` instead
class Dataset:
    """Train / validation / test arrays of one classification task.

    ``x_*`` are float32 of shape ``(n, *input_shape)`` with ``input_shape = (C, H, W)``;
    ``y_*`` are int64 labels in ``[0, num_classes)``.
    """

    name: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    num_classes: int = 10
    input_shape: tuple[int, int, int] = (1, 8, 8)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"dataset name must be a non-empty str, got {self.name!r}")
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or self.num_classes < 2
        ):
            raise ValueError(
                f"dataset {self.name!r}: num_classes must be an int >= 2, got {self.num_classes!r}"
            )
        shape = tuple(self.input_shape)
        if len(shape) != 3 or not all(isinstance(v, int) and v >= 1 for v in shape):
            raise ValueError(
                f"dataset {self.name!r}: input_shape must be (C, H, W) ints >= 1, got {self.input_shape!r}"
            )
        object.__setattr__(self, "input_shape", shape)
        for split in SPLITS:
            x = _frozen_array(getattr(self, f"x_{split}"))
            y = _frozen_array(getattr(self, f"y_{split}"))
            if x.dtype != np.float32 or x.shape[1:] != shape:
                raise ValueError(
                    f"dataset {self.name!r}: x_{split} must be float32 of shape (n, *{shape}), "
                    f"got {x.dtype} {x.shape}"
                )
            if y.dtype != np.int64 or y.ndim != 1 or len(y) != len(x):
                raise ValueError(
                    f"dataset {self.name!r}: y_{split} must be int64 of shape ({len(x)},), "
                    f"got {y.dtype} {y.shape}"
                )
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                raise ValueError(
                    f"dataset {self.name!r}: y_{split} has labels outside [0, {self.num_classes}): "
                    f"min {y.min()}, max {y.max()}"
                )
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of split ``name`` (one of ``"train"``, ``"val"``, ``"test"``)."""
        if name not in SPLITS:
            raise ValueError(f"dataset {self.name!r}: split must be one of {SPLITS}, got {name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def sizes(self) -> dict[str, int]:
        return {split: len(getattr(self, f"y_{split}")) for split in SPLITS}

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over the name, class count and every array's dtype, shape and bytes."""
        digest = hashlib.sha256()
        digest.update(f"{self.name}|{self.num_classes}|{self.input_shape}".encode())
        for split in SPLITS:
            for array in self.split(split):
                digest.update(f"|{array.dtype.str}{array.shape}|".encode())
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


# ------------------------------------------------------------------------- stratified split


def stratified_split(labels: np.ndarray, fractions: Sequence[float], *, seed: int) -> tuple[np.ndarray, ...]:
    """Index arrays, one per fraction, that partition ``labels`` with each class split the same way.

    Within each class the indices are permuted by ``numpy.random.default_rng(seed)`` and cut at
    ``round(cumsum(fractions) * class_count)``; each returned array is sorted (original order).
    Rounding is per class, so a split's size may differ from ``fraction * len(labels)`` by up to
    one item per class.
    """
    labels = np.asarray(labels)
    fractions = tuple(float(f) for f in fractions)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-d, got shape {labels.shape}")
    if not fractions or any(not (0 <= f <= 1) for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must be in [0, 1] and sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    cumulative = np.cumsum(fractions)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        bounds = np.rint(cumulative * len(members)).astype(int)
        bounds[-1] = len(members)
        start = 0
        for part, stop in zip(parts, bounds):
            part.append(members[start:stop])
            start = stop
    return tuple(np.sort(np.concatenate(part)) for part in parts)


# ------------------------------------------------------------------------------------ digits


def load_digits(*, seed: int = DEFAULT_SPLIT_SEED, fractions: Sequence[float] = DIGITS_FRACTIONS) -> Dataset:
    """scikit-learn's bundled handwritten digits as a ``Dataset`` named ``"digits"`` (1x8x8 images).

    ``fractions`` are (train, val, test); the split is stratified and fixed by ``seed``.
    """
    # Imported here: scikit-learn is only the carrier of the data file and takes ~1 s to import.
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = (np.asarray(bunch.data, dtype=np.float64) / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    labels = np.asarray(bunch.target, dtype=np.int64)
    if len(fractions) != 3:
        raise ValueError(f"fractions must be (train, val, test), got {tuple(fractions)}")
    train, val, test = stratified_split(labels, fractions, seed=seed)
    return Dataset(
        "digits",
        images[train], labels[train], images[val], labels[val], images[test], labels[test],
        num_classes=10, input_shape=(1, 8, 8),
    )  # fmt: skip


# --------------------------------------------------------------------------------------- IDX


#: Largest IDX file read (after decompression): 1 GiB, 20x MNIST's 47 MB training images.
MAX_IDX_BYTES = 1 << 30


def _read_bytes(path: Path, max_bytes: int = MAX_IDX_BYTES) -> bytes:
    try:
        if path.suffix != ".gz":
            with open(path, "rb") as raw:
                data = raw.read(max_bytes + 1)
        else:
            with gzip.open(path, "rb") as unzipped:
                data = unzipped.read(max_bytes + 1)  # bounded: a gzip bomb stops here
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # truncation is EOFError
        raise IdxFormatError(path, f"cannot decompress gzip data ({exc})") from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise IdxFormatError(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        size = "decompressed bytes" if path.suffix == ".gz" else "bytes"
        raise IdxFormatError(path, f"more than {max_bytes:,} {size}; not an IDX file this reader accepts")
    return data


def load_idx(path: Path | str, *, expect_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (raw, or gzip if the name ends in ``.gz``) into a native-endian array.

    Validates the magic number (two zero bytes, a known type byte, dimension count >= 1, and
    ``expect_magic`` if given), that no dimension is zero, and that the payload length is exactly
    the product of the dimensions times the item size. Raises :class:`IdxFormatError` naming ``path``.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxFormatError(path, f"truncated: {len(data)} bytes, shorter than the 4-byte magic number")
    magic = int.from_bytes(data[:4], "big")
    zero, type_byte, ndim = magic >> 16, (magic >> 8) & 0xFF, magic & 0xFF
    if zero != 0 or type_byte not in IDX_DTYPES or ndim < 1:
        raise IdxFormatError(
            path,
            f"bad magic number 0x{magic:08x}: not an IDX file "
            "(expected 0x0000TTDD with a known type byte TT and DD >= 1 dimensions)",
        )
    if expect_magic is not None and magic != expect_magic:
        raise IdxFormatError(path, f"bad magic number 0x{magic:08x}, expected 0x{expect_magic:08x}")
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise IdxFormatError(
            path,
            f"truncated: {len(data)} bytes, shorter than the {header_bytes}-byte header of {ndim} dimensions",
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if any(d == 0 for d in dims):
        raise IdxFormatError(path, f"dimensions {dims} contain a zero")
    dtype = IDX_DTYPES[type_byte]
    payload_bytes = math.prod(dims) * dtype.itemsize
    found = len(data) - header_bytes
    if found < payload_bytes:
        raise IdxFormatError(
            path, f"truncated: dimensions {dims} need {payload_bytes} data bytes, found {found}"
        )
    if found > payload_bytes:
        raise IdxFormatError(
            path,
            f"{found - payload_bytes} unexpected trailing bytes after the {payload_bytes} "
            f"data bytes of dimensions {dims}",
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header_bytes).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def _find_idx(directory: Path, stem: str) -> Path:
    """The raw file if present, else its ``.gz``; a missing pair names both candidates."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{directory}: neither {stem} nor {stem}.gz found")


def _load_pair(directory: Path, images_stem: str, labels_stem: str, num_classes: int):
    images_path = _find_idx(directory, images_stem)
    labels_path = _find_idx(directory, labels_stem)
    images = load_idx(images_path, expect_magic=IDX_IMAGES_MAGIC)
    labels = load_idx(labels_path, expect_magic=IDX_LABELS_MAGIC)
    if len(labels) != len(images):
        raise IdxFormatError(
            labels_path, f"{len(labels)} labels, but {images_path} holds {len(images)} images"
        )
    if labels.max() >= num_classes:
        raise IdxFormatError(labels_path, f"label {int(labels.max())} outside [0, {num_classes})")
    return images_path, images, labels.astype(np.int64)


def load_mnist(
    directory: Path | str,
    *,
    variant: str = "mnist",
    val_fraction: float = MNIST_VAL_FRACTION,
    seed: int = DEFAULT_SPLIT_SEED,
) -> Dataset:
    """MNIST or Fashion-MNIST (``variant``) from the four standard IDX files in ``directory``.

    File names are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally with ``.gz``.
    Validation is a stratified ``val_fraction`` of the training files (seeded); test is t10k.
    """
    if variant not in MNIST_VARIANTS:
        raise ValueError(f"variant must be one of {MNIST_VARIANTS}, got {variant!r}")
    if not (0 <= val_fraction < 1):
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{variant} directory {directory} does not exist")
    num_classes = 10
    train_path, train_images, train_labels = _load_pair(
        directory, MNIST_FILES["train_images"], MNIST_FILES["train_labels"], num_classes
    )
    test_path, test_images, test_labels = _load_pair(
        directory, MNIST_FILES["test_images"], MNIST_FILES["test_labels"], num_classes
    )
    if test_images.shape[1:] != train_images.shape[1:]:
        raise IdxFormatError(
            test_path,
            f"images are {test_images.shape[1:]} but {train_path} holds {train_images.shape[1:]} images",
        )
    train, val = stratified_split(train_labels, (1 - val_fraction, val_fraction), seed=seed)

    def scale(images: np.ndarray) -> np.ndarray:
        return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]

    rows, cols = train_images.shape[1:]
    return Dataset(
        variant,
        scale(train_images[train]), train_labels[train],
        scale(train_images[val]), train_labels[val],
        scale(test_images), test_labels,
        num_classes=num_classes, input_shape=(1, rows, cols),
    )  # fmt: skip


def load_fashion_mnist(directory: Path | str, **kwargs) -> Dataset:
    """Fashion-MNIST: same file names and format as MNIST (Zalando's drop-in replacement)."""
    return load_mnist(directory, variant="fashion_mnist", **kwargs)


DATASET_NAMES = ("digits", "mnist", "fashion_mnist")


def load_dataset(name: str, *, data_dir: Path | str | None = None, seed: int = DEFAULT_SPLIT_SEED) -> Dataset:
    """A dataset by name: ``"digits"`` (embedded), or ``"mnist"`` / ``"fashion_mnist"`` from ``data_dir``."""
    if name == "digits":
        return load_digits(seed=seed)
    if name in MNIST_VARIANTS:
        if data_dir is None:
            raise ValueError(
                f"dataset {name!r} is read from IDX files: pass data_dir (nothing is downloaded)"
            )
        return load_mnist(data_dir, variant=name, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; known: {DATASET_NAMES}")


__all__ = [
    "DATASET_NAMES",
    "DIGITS_FRACTIONS",
    "Dataset",
    "IdxFormatError",
    "MNIST_FILES",
    "SPLITS",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_idx",
    "load_mnist",
    "stratified_split",
]
