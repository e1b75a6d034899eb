"""On-disk cache of trained weights, content-addressed so a stale or corrupt entry is never used.

An entry's key is the sha256 of: the model's network spec and *initial* weights (so a change to
the architecture or to initialisation gives a new key), the dataset fingerprint (every array's
bytes), the full training config (optimizer, epochs, batch, schedule, seed, algorithm version),
and the masks if any. Each entry is ``<model>_<dataset>_<key>.npz`` with ``<same>.npz.sha256``
beside it holding the sha256 of the npz bytes. A missing, mismatching or unreadable pair is
deleted and retrained, never trusted.

The npz is written with fixed zip timestamps, so identical weights give identical bytes (and
checksums), and both files are written to a temporary name and renamed into place, so a reader
never sees half a file.

Location: ``$ACCELSIM_CACHE_DIR`` if set, else ``~/.cache/accelsim``; weights live in its
``weights/`` subdirectory, which :func:`clear_cache` empties.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from workloads.datasets import Dataset, load_digits
from workloads.models import Model, build_model, check_masks
from workloads.npz import read_npz
from workloads.training import TrainConfig, TrainResult, recipe, train_with_config

ENV_VAR = "ACCELSIM_CACHE_DIR"
CACHE_FORMAT_VERSION = 1
WEIGHTS_SUBDIR = "weights"
CHECKSUM_SUFFIX = ".sha256"
_HISTORY_KEYS = ("__train_loss", "__val_accuracy")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: fixed so the bytes are reproducible


def cache_dir() -> Path:
    """The accelsim cache root: ``$ACCELSIM_CACHE_DIR`` if set and non-empty, else ``~/.cache/accelsim``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "accelsim"


def weights_dir() -> Path:
    return cache_dir() / WEIGHTS_SUBDIR


def _masks_digest(network, masks: Mapping[str, np.ndarray] | None) -> str | None:
    checked = check_masks(network, masks)
    if not checked:
        return None
    h = hashlib.sha256()
    for name in sorted(checked):
        h.update(f"|{name}{checked[name].shape}|".encode())
        h.update(np.packbits(checked[name]).tobytes())
    return h.hexdigest()


def cache_key(
    model: Model, dataset: Dataset, config: TrainConfig, masks: Mapping[str, np.ndarray] | None = None
) -> str:
    """The content address (sha256 hex) of training ``model`` on ``dataset`` with ``config``/``masks``."""
    description = {
        "format": CACHE_FORMAT_VERSION,
        "model": model.digest(),
        "data": dataset.fingerprint,
        "config": config.to_dict(),
        "masks": _masks_digest(model.network, masks),
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def cache_path(
    model: Model, dataset: Dataset, config: TrainConfig, masks: Mapping[str, np.ndarray] | None = None
) -> Path:
    """Where the entry for these inputs lives (it may not exist)."""
    key = cache_key(model, dataset, config, masks)
    return weights_dir() / f"{model.name}_{dataset.name}_{key}.npz"


# ------------------------------------------------------------------------------ file format


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
    return buffer.getvalue()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_entry(path: Path, model: Model) -> TrainResult | None:
    """The cached result, or None if the entry is absent, fails its checksum, does not parse or
    holds a non-finite number (an entry that trains to NaN is never worth trusting)."""
    checksum_path = path.with_name(path.name + CHECKSUM_SUFFIX)
    try:
        data = path.read_bytes()
        expected = checksum_path.read_bytes()[:256].decode("ascii", errors="replace").strip()
    except OSError:  # absent, or a cache directory we cannot read: a miss; writing names the problem
        return None
    if hashlib.sha256(data).hexdigest() != expected:
        return None
    try:
        arrays = read_npz(data, where=str(path))
        history = [tuple(float(v) for v in arrays.pop(k)) for k in _HISTORY_KEYS]
        trained = model.with_weights(arrays)  # validates names, shapes and dtype
    except (ValueError, KeyError, TypeError):
        # A checksum collision with garbage is astronomically unlikely; a format change is not.
        return None
    numbers = [*trained.weights.values(), np.asarray(history[0]), np.asarray(history[1])]
    if not all(np.isfinite(array).all() for array in numbers if array.dtype.kind == "f"):
        return None
    return TrainResult(trained, *history)


def _write_entry(path: Path, result: TrainResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = dict(result.model.weights)
    arrays["__train_loss"] = np.asarray(result.train_loss, dtype=np.float64)
    arrays["__val_accuracy"] = np.asarray(result.val_accuracy, dtype=np.float64)
    data = _npz_bytes(arrays)
    # npz first, checksum second: a crash in between leaves a mismatch, which reads as a miss.
    _atomic_write(path, data)
    _atomic_write(
        path.with_name(path.name + CHECKSUM_SUFFIX), (hashlib.sha256(data).hexdigest() + "\n").encode()
    )


# ---------------------------------------------------------------------------------- public


def load_or_train(
    model: Model, dataset: Dataset, config: TrainConfig, *, masks: Mapping[str, np.ndarray] | None = None
) -> TrainResult:
    """``train_with_config(model, dataset, config, masks=masks)``, from the cache when it holds it.

    A corrupt or unreadable entry is deleted and rebuilt. Raises ``OSError`` naming the path if
    the cache directory cannot be written.
    """
    path = cache_path(model, dataset, config, masks)
    cached = _read_entry(path, model)
    if cached is not None:
        return cached
    _check_writable(path.parent)  # before training, not after it
    result = train_with_config(model, dataset, config, masks=masks)
    try:
        for stale in (path, path.with_name(path.name + CHECKSUM_SUFFIX)):
            stale.unlink(missing_ok=True)
        _write_entry(path, result)
    except OSError as exc:
        raise _unwritable(path.parent, exc) from None
    return result


def _unwritable(directory: Path, exc: OSError) -> OSError:
    return OSError(
        f"{directory}: cannot write the weight cache ({exc.strerror or exc}); "
        f"set {ENV_VAR} to a writable directory"
    )


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(directory, exc) from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise _unwritable(directory, PermissionError(13, "permission denied"))


def pretrained(model_name: str, dataset: Dataset | None = None, *, seed: int = 0) -> Model:
    """Model ``model_name`` trained from scratch (seed ``seed``) by its digits recipe on ``dataset``
    (default: the digits split), through the cache. The input size and class count follow ``dataset``.
    """
    dataset = load_digits() if dataset is None else dataset
    model = build_model(
        model_name, seed=seed, input_hw=dataset.input_shape[1:], num_classes=dataset.num_classes
    )
    return load_or_train(model, dataset, recipe(model_name, seed=seed)).model


def clear_cache() -> int:
    """Delete every cached weight file (and leftover temporary file); return how many were removed."""
    directory = weights_dir()
    if not directory.is_dir():
        return 0
    removed = 0
    for path in sorted(directory.iterdir()):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


__all__ = [
    "CACHE_FORMAT_VERSION",
    "ENV_VAR",
    "cache_dir",
    "cache_key",
    "cache_path",
    "clear_cache",
    "load_or_train",
    "pretrained",
    "weights_dir",
]
