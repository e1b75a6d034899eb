"""Image-folder trees (one folder per class) read into arrays, for ``workloads.user_data``.

Images are read with ``matplotlib.image.imread`` (PNG natively; JPEG, PGM and the rest through
Pillow, which matplotlib already depends on), so this adds no dependency. Every image of a tree
must have the same size and the same colour layout (grayscale or RGB; an alpha channel is
dropped); the first image read sets both, and an image that disagrees is named with what it has.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workloads.datasets import stratified_split
from workloads.user_data import DataFormatError, Splits

SPLIT_FOLDERS = ("train", "val", "test")


@dataclass
class _FirstImage:
    """The shape (C, H, W) and file of the first image read: every later one must match it."""

    shape: tuple[int, ...] | None = None
    path: Path | None = None


def read_image_tree(root: Path, *, seed: int, test_fraction: float) -> tuple[Splits, int]:
    """Splits as (x NCHW float32 in [0, 1], y int64), and the class count, from the tree at ``root``."""
    folders = _visible(p for p in root.iterdir() if p.is_dir())
    if {"train", "test"} <= {p.name for p in folders}:
        classes = [p.name for p in _class_folders(root / "train")]
        reference = _FirstImage()
        splits = {
            split: _read_split(root / split, classes, reference)
            for split in SPLIT_FOLDERS
            if (root / split).is_dir()
        }
        return splits, max(2, len(classes))
    classes = [p.name for p in _class_folders(root)]
    x, y = _read_split(root, classes, _FirstImage())
    rest, test = stratified_split(y, (1 - test_fraction, test_fraction), seed=seed)
    return {"train": (x[rest], y[rest]), "test": (x[test], y[test])}, max(2, len(classes))


def _visible(paths: Iterable[Path]) -> list[Path]:
    return sorted(p for p in paths if not p.name.startswith("."))


def _class_folders(directory: Path) -> list[Path]:
    folders = _visible(p for p in directory.iterdir() if p.is_dir())
    if not folders:
        raise DataFormatError(
            directory, "image-folder tree: no class folders (expected one folder per class)"
        )
    if len(folders) < 2:
        raise DataFormatError(
            directory,
            f"image-folder tree: only one class folder ({folders[0].name!r}); "
            "classification needs at least two",
        )
    return folders


def _read_split(directory: Path, classes: list[str], reference: _FirstImage) -> tuple[np.ndarray, np.ndarray]:
    found = [p.name for p in _visible(p for p in directory.iterdir() if p.is_dir())]
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DataFormatError(
            directory, f"class folder(s) {unknown} are not among the training classes {classes}"
        )
    images, labels = [], []
    for label, cls in enumerate(classes):
        folder = directory / cls
        files = _visible(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        if not files:
            raise DataFormatError(folder, f"class {cls!r} has no images")
        for file in files:
            images.append(_read_image(file, reference))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def _read_image(path: Path, reference: _FirstImage) -> np.ndarray:
    """One image as float32 (C, H, W) in [0, 1], checked against (or recorded as) the first image."""
    import matplotlib.image

    try:
        pixels = np.asarray(matplotlib.image.imread(path))
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow: UnidentifiedImageError is an OSError
        raise DataFormatError(path, f"not a readable image ({type(exc).__name__}: {exc})") from None
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[:, :, :3]
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3):
        raise DataFormatError(path, f"unsupported image layout {pixels.shape} (expected grayscale or RGB)")
    if np.issubdtype(pixels.dtype, np.integer):
        pixels = pixels.astype(np.float32) / np.float32(np.iinfo(pixels.dtype).max)
    chw = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, 2, 0)
    if reference.shape is None:
        reference.shape, reference.path = chw.shape, path
    elif chw.shape != reference.shape:
        raise DataFormatError(
            path,
            f"image is {_describe(chw.shape)}, but {reference.path} is "
            f"{_describe(reference.shape)}; all images must have one size "
            "and colour layout",
        )
    return chw.astype(np.float32)


def _describe(chw: tuple[int, ...]) -> str:
    return f"{chw[2]}x{chw[1]} {'grayscale' if chw[0] == 1 else 'RGB'}"


__all__ = ["SPLIT_FOLDERS", "read_image_tree"]
