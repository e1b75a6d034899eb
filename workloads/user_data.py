"""A user's own classification data as a ``Dataset``: an ``.npz``, an IDX directory or an image-folder tree.

``load_user_data(path)`` picks the reader by what ``path`` is:

- **``.npz``** with ``x_train, y_train, x_test, y_test`` and optionally ``x_val, y_val`` (both or
  neither) and ``num_classes``. Images are ``(n, H, W)`` or ``(n, C, H, W)``; feature vectors
  ``(n, F)`` become ``(n, 1, 1, F)``. ``uint8`` pixels are scaled by 1/255, floats are kept.
  Labels are integers in ``[0, num_classes)`` (``num_classes`` defaults to the largest label + 1).
- **IDX directory** (MNIST / Fashion-MNIST layout: ``train-images-idx3-ubyte[.gz]`` and its three
  siblings), read by ``workloads.datasets.load_idx``, which validates every header field.
- **Image-folder tree**, one folder per class, sorted folder names giving labels 0, 1, ...:
  either ``root/train/<class>/*`` and ``root/test/<class>/*`` (optionally ``root/val/<class>/*``),
  or ``root/<class>/*`` alone, from which the test split is carved too. Images (PNG, JPEG, PGM,
  anything matplotlib / Pillow reads) must all be grayscale or all RGB, and of one size. Files
  whose names start with a dot are skipped.

When no validation split is given it is carved from train: a stratified ``val_fraction`` with a
fixed ``seed`` (``workloads.datasets.stratified_split``), so the test split is never used for
choosing. Bad data raises :class:`DataFormatError` naming the file, key or class and the problem.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from workloads.datasets import MNIST_FILES, Dataset, IdxFormatError, load_idx, stratified_split

NPZ_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
IMAGE_TEST_FRACTION = 0.2  # for a tree without a test folder


class DataFormatError(ValueError):
    """User data that cannot become a ``Dataset``; ``source`` names the file, key or folder."""

    def __init__(self, source: Path | str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = str(source)


def load_user_data(
    path: Path | str, *, seed: int = 0, val_fraction: float = 0.1, name: str | None = None
) -> Dataset:
    """``path`` (an ``.npz`` file, an IDX directory or an image-folder tree) as a ``Dataset``."""
    path = Path(path)
    if not (0.0 < val_fraction < 1.0):
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    name = name or path.stem or "user"
    if path.is_file() and path.suffix == ".npz":
        splits, num_classes = _read_npz(path)
    elif path.is_dir() and _idx_present(path):
        splits, num_classes = _read_idx(path), None
    elif path.is_dir():
        from workloads.image_folders import read_image_tree

        splits, num_classes = read_image_tree(path, seed=seed, test_fraction=IMAGE_TEST_FRACTION)
    elif not path.exists():
        raise DataFormatError(path, "does not exist")
    else:
        raise DataFormatError(path, "not an .npz file, an IDX directory or an image-folder tree")
    return _dataset(name, path, splits, num_classes, seed=seed, val_fraction=val_fraction)


def dataset_from_arrays(
    name: str,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    source: str,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> Dataset:
    """In-memory ``{"train": (x, y), "test": (x, y)[, "val": (x, y)]}`` checked as an ``.npz`` is;
    ``source`` names the data in errors (e.g. ``"--task 'tasks.py:digits' train"``)."""
    checked = {}
    for split, (x, y) in splits.items():
        x_key, y_key = f"{source}[x_{split}]", f"{source}[y_{split}]"
        images, labels = _images(x_key, np.asarray(x)), _labels(y_key, np.asarray(y))
        if len(images) != len(labels):
            raise DataFormatError(y_key, f"{len(labels)} labels, but x_{split} holds {len(images)} examples")
        checked[split] = (images, labels)
    return _dataset(name, Path(source), checked, None, seed=seed, val_fraction=val_fraction)


# ---------------------------------------------------------------------------------- readers


Splits = dict[str, tuple[np.ndarray, np.ndarray]]


def _read_npz(path: Path) -> tuple[Splits, int | None]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataFormatError(path, f"cannot read as .npz ({exc})") from None
    missing = [key for key in NPZ_REQUIRED if key not in arrays]
    if missing:
        raise DataFormatError(
            path, f"missing key(s) {missing}; an .npz needs {list(NPZ_REQUIRED)} and optionally x_val, y_val"
        )
    if ("x_val" in arrays) != ("y_val" in arrays):
        raise DataFormatError(path, "x_val and y_val must be given together")
    num_classes = None
    if "num_classes" in arrays:
        value = arrays["num_classes"]
        if value.shape != () or not np.issubdtype(value.dtype, np.integer) or int(value) < 2:
            raise DataFormatError(f"{path}[num_classes]", f"must be an integer >= 2, got {value!r}")
        num_classes = int(value)
    splits = {}
    for split in ("train", "val", "test"):
        if f"x_{split}" not in arrays:
            continue
        x_key, y_key = f"{path}[x_{split}]", f"{path}[y_{split}]"
        x, y = _images(x_key, arrays[f"x_{split}"]), _labels(y_key, arrays[f"y_{split}"])
        if len(x) != len(y):
            raise DataFormatError(y_key, f"{len(y)} labels, but x_{split} holds {len(x)} examples")
        splits[split] = (x, y)
    return splits, num_classes


def _images(source: str, array: np.ndarray) -> np.ndarray:
    if array.ndim == 2:
        array = array[:, None, None, :]
    elif array.ndim == 3:
        array = array[:, None, :, :]
    elif array.ndim != 4:
        raise DataFormatError(
            source, f"must be (n, H, W), (n, C, H, W) or (n, features), got shape {array.shape}"
        )
    if len(array) == 0:
        raise DataFormatError(source, "holds no examples")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DataFormatError(source, f"must be numeric, got dtype {array.dtype}")
    out = array.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise DataFormatError(source, "contains NaN or infinite values")
    return out


def _labels(source: str, array: np.ndarray) -> np.ndarray:
    if array.ndim != 1:
        raise DataFormatError(source, f"labels must be 1-d, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise DataFormatError(source, f"labels must be integers, got dtype {array.dtype}")
    if len(array) and array.min() < 0:
        raise DataFormatError(source, f"label {int(array.min())} is negative")
    return array.astype(np.int64)


def _idx_present(directory: Path) -> bool:
    stem = MNIST_FILES["train_images"]
    return (directory / stem).is_file() or (directory / f"{stem}.gz").is_file()


def _read_idx(directory: Path) -> Splits:
    splits = {}
    for split, prefix in (("train", "train"), ("test", "test")):
        images_path = _idx_file(directory, MNIST_FILES[f"{prefix}_images"])
        labels_path = _idx_file(directory, MNIST_FILES[f"{prefix}_labels"])
        images = load_idx(images_path)
        labels = load_idx(labels_path)
        if images.ndim != 3:
            raise IdxFormatError(
                images_path, f"images must have 3 dimensions (count, rows, cols), got {images.shape}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise IdxFormatError(
                labels_path, f"{labels.shape} labels, but {images_path.name} holds {len(images)} images"
            )
        splits[split] = (_images(str(images_path), images), _labels(str(labels_path), labels))
    return splits


def _idx_file(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataFormatError(directory, f"IDX directory: neither {stem} nor {stem}.gz found")


# ---------------------------------------------------------------------------------- assembly


def _dataset(
    name: str,
    path: Path,
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    num_classes: int | None,
    *,
    seed: int,
    val_fraction: float,
) -> Dataset:
    shape = splits["train"][0].shape[1:]
    for split, (x, _) in splits.items():
        if x.shape[1:] != shape:
            raise DataFormatError(
                f"{path}[x_{split}]", f"examples have shape {x.shape[1:]}, but x_train's are {shape}"
            )
    largest = max(int(y.max()) for _, y in splits.values() if len(y))
    if num_classes is None:
        num_classes = max(2, largest + 1)
    elif largest >= num_classes:
        split = next(s for s, (_, y) in splits.items() if len(y) and y.max() == largest)
        raise DataFormatError(f"{path}[y_{split}]", f"label {largest} is outside [0, {num_classes})")
    x_train, y_train = splits["train"]
    if "val" in splits:
        x_val, y_val = splits["val"]
    else:
        train, val = stratified_split(y_train, (1 - val_fraction, val_fraction), seed=seed)
        x_train, y_train, x_val, y_val = x_train[train], y_train[train], x_train[val], y_train[val]
    x_test, y_test = splits["test"]
    return Dataset(
        name,
        x_train,
        y_train,
        x_val,
        y_val,
        x_test,
        y_test,
        num_classes=num_classes,
        input_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
    )


__all__ = ["DataFormatError", "NPZ_REQUIRED", "dataset_from_arrays", "load_user_data"]
