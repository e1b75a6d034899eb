from pathlib import Path

import numpy as np
import pytest

from workloads import weight_cache
from workloads.datasets import load_digits
from workloads.models import magnitude_masks, mlp_digits
from workloads.training import Adam, TrainConfig, recipe

CONFIG = TrainConfig(epochs=1, optimizer=Adam(lr=2e-3), seed=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache directory for this test, and a counter of real training runs."""
    monkeypatch.setenv(weight_cache.ENV_VAR, str(tmp_path / "cache"))
    calls = []
    real = weight_cache.train_with_config

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(weight_cache, "train_with_config", counting)
    return calls


def _same(a, b):
    return (
        all(a.model.weights[k].tobytes() == b.model.weights[k].tobytes() for k in a.model.weights)
        and a.train_loss == b.train_loss
        and a.val_accuracy == b.val_accuracy
    )


def test_cache_dir_from_env_or_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELSIM_CACHE_DIR", str(tmp_path / "x"))
    assert weight_cache.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("ACCELSIM_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert weight_cache.cache_dir() == tmp_path / ".cache" / "accelsim"


def test_second_call_loads_bit_identical_weights(cache, digits):
    first = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    second = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    assert len(cache) == 1
    assert _same(first, second)
    path = weight_cache.cache_path(mlp_digits(), digits, CONFIG)
    assert path.is_file() and Path(str(path) + ".sha256").is_file()
    assert path.name.startswith("mlp_digits_digits_")


def test_key_covers_model_data_config_and_masks(digits):
    model = mlp_digits()
    base = weight_cache.cache_key(model, digits, CONFIG)
    masks = magnitude_masks(model.weights, 0.5)
    variants = [
        weight_cache.cache_key(mlp_digits(seed=1), digits, CONFIG),
        weight_cache.cache_key(model, load_digits(seed=1), CONFIG),
        weight_cache.cache_key(model, digits, TrainConfig(epochs=1, optimizer=Adam(lr=2e-3), seed=1)),
        weight_cache.cache_key(model, digits, TrainConfig(epochs=1, optimizer=Adam(lr=1e-3), seed=0)),
        weight_cache.cache_key(model, digits, TrainConfig(epochs=2, optimizer=Adam(lr=2e-3), seed=0)),
        weight_cache.cache_key(model, digits, CONFIG, masks),
    ]
    assert len({base, *variants}) == 1 + len(variants)
    assert weight_cache.cache_key(mlp_digits(), load_digits(), CONFIG) == base


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "bad_checksum", "no_checksum", "empty"])
def test_corrupt_entry_is_detected_and_rebuilt(cache, digits, damage):
    original = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    path = weight_cache.cache_path(mlp_digits(), digits, CONFIG)
    checksum = Path(str(path) + ".sha256")
    good_bytes = path.read_bytes()
    data = bytearray(good_bytes)
    if damage == "flip_byte":
        data[len(data) // 2] ^= 0xFF  # inside a weight array: still a loadable npz, wrong numbers
        path.write_bytes(bytes(data))
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) // 3]))
    elif damage == "bad_checksum":
        checksum.write_text("0" * 64 + "\n")
    elif damage == "no_checksum":
        checksum.unlink()
    else:
        path.write_bytes(b"")
    rebuilt = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    assert len(cache) == 2  # trained again rather than trusting the file
    assert _same(original, rebuilt)
    # Retraining reproduced the same bytes (deterministic training, fixed zip timestamps).
    assert path.read_bytes() == good_bytes
    weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    assert len(cache) == 2


def test_masked_entries_are_cached_separately(cache, digits):
    model = mlp_digits()
    masks = magnitude_masks(model.weights, 0.8)
    dense = weight_cache.load_or_train(model, digits, CONFIG)
    sparse = weight_cache.load_or_train(model, digits, CONFIG, masks=masks)
    again = weight_cache.load_or_train(model, digits, CONFIG, masks=masks)
    assert len(cache) == 2 and _same(sparse, again) and not _same(dense, sparse)
    assert np.all(again.model.weights["fc1"][~masks["fc1"]] == 0)


def test_clear_cache_counts_removed_files(cache, digits):
    assert weight_cache.clear_cache() == 0
    weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    weight_cache.load_or_train(mlp_digits(seed=1), digits, CONFIG)
    assert weight_cache.clear_cache() == 4  # two npz files and their checksums
    assert weight_cache.clear_cache() == 0
    weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    assert len(cache) == 3


def test_pretrained_uses_the_recipe_and_the_cache(cache, digits):
    model = weight_cache.pretrained("mlp_digits", digits, seed=0)
    assert model.accuracy(digits) >= 0.97
    assert weight_cache.cache_path(mlp_digits(seed=0), digits, recipe("mlp_digits", seed=0)).is_file()
    assert weight_cache.pretrained("mlp_digits", digits, seed=0).digest() == model.digest()
    assert len(cache) == 1


def test_undecodable_checksum_is_rebuilt_not_fatal(cache, digits):
    first = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    path = weight_cache.cache_path(mlp_digits(), digits, CONFIG)
    checksum = Path(str(path) + ".sha256")
    checksum.write_bytes(b"\xff\xfe\x00not ascii\x80")
    again = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    assert len(cache) == 2 and _same(first, again)
    assert checksum.read_text().strip() == weight_cache.hashlib.sha256(path.read_bytes()).hexdigest()


def test_nan_weight_with_a_matching_checksum_is_not_trusted(cache, digits):
    first = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    path = weight_cache.cache_path(mlp_digits(), digits, CONFIG)
    poisoned = dict(first.model.weights)
    name = sorted(poisoned)[0]
    poisoned[name] = poisoned[name].copy()
    poisoned[name].flat[0] = np.nan
    weight_cache._write_entry(
        path,
        weight_cache.TrainResult(first.model.with_weights(poisoned), first.train_loss, first.val_accuracy),
    )
    again = weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
    assert len(cache) == 2 and _same(first, again)


def test_unwritable_cache_names_the_directory(tmp_path, monkeypatch, digits):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv(weight_cache.ENV_VAR, str(blocker))
    with pytest.raises(OSError, match=r"file/weights: cannot write the weight cache.*ACCELSIM_CACHE_DIR"):
        weight_cache.load_or_train(mlp_digits(), digits, CONFIG)
