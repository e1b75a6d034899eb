import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from workloads.datasets import (
    MNIST_FILES,
    Dataset,
    IdxFormatError,
    load_dataset,
    load_digits,
    load_fashion_mnist,
    load_idx,
    load_mnist,
    stratified_split,
)

# ------------------------------------------------------------------------------- IDX writers


def idx_bytes(array: np.ndarray, *, type_byte: int = 0x08) -> bytes:
    """An IDX file of ``array``: big-endian magic 0x0000TTDD, one uint32 per dimension, then data."""
    header = struct.pack(">I", (type_byte << 8) | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, *, gz=False, **kwargs):
    data = idx_bytes(array, **kwargs)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def fake_mnist(directory, *, n_train=60, n_test=20, hw=(28, 28), gz=False, seed=0):
    """Four small IDX files in ``directory`` with the standard names; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, *hw), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, *hw), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    suffix = ".gz" if gz else ""
    for key, array in arrays.items():
        write_idx(directory / (MNIST_FILES[key] + suffix), array, gz=gz)
    return arrays


# ------------------------------------------------------------------------------------ digits


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_digits_shapes_and_ranges(digits):
    assert digits.name == "digits"
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    assert sum(digits.sizes().values()) == 1797
    for split in ("train", "val", "test"):
        x, y = digits.split(split)
        assert x.dtype == np.float32 and x.shape[1:] == (1, 8, 8)
        assert y.dtype == np.int64 and y.min() >= 0 and y.max() <= 9
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert not x.flags.writeable and not y.flags.writeable


def test_digits_split_is_stratified_disjoint_and_seeded(digits):
    sizes = digits.sizes()
    assert sizes == {"train": 1258, "val": 180, "test": 359}
    # Stratified: every class's share of the test split is within one image of its 20 %.
    all_y = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    for cls in range(10):
        expected = 0.2 * np.sum(all_y == cls)
        assert abs(np.sum(digits.y_test == cls) - expected) <= 1
    # Disjoint: no image appears in two splits (digits has no exact duplicates across these).
    rows = {split: {x.tobytes() for x in digits.split(split)[0]} for split in ("train", "val", "test")}
    assert not (rows["train"] & rows["test"]) and not (rows["val"] & rows["test"])
    again = load_digits()
    assert again.fingerprint == digits.fingerprint
    assert load_digits(seed=1).fingerprint != digits.fingerprint


def test_dataset_split_rejects_unknown_name(digits):
    with pytest.raises(ValueError, match="'validation'"):
        digits.split("validation")


def test_dataset_validates_shapes():
    x = np.zeros((3, 1, 8, 8), np.float32)
    y = np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="y_val"):
        Dataset("t", x, y, x, y[:2], x, y)
    with pytest.raises(ValueError, match="x_test"):
        Dataset("t", x, y, x, y, x.astype(np.float64), y)
    with pytest.raises(ValueError, match="labels outside"):
        Dataset("t", x, y, x, y, x, y + 10)


@settings(max_examples=50, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=1, max_size=80),
    fractions=st.sampled_from([(0.7, 0.1, 0.2), (0.5, 0.5), (1.0,), (0.6, 0.2, 0.2)]),
    seed=st.integers(0, 2**32 - 1),
)
def test_stratified_split_partitions(labels, fractions, seed):
    labels = np.array(labels)
    parts = stratified_split(labels, fractions, seed=seed)
    joined = np.sort(np.concatenate(parts))
    np.testing.assert_array_equal(joined, np.arange(len(labels)))
    for part, fraction in zip(parts, fractions):
        for cls in np.unique(labels):
            count = np.sum(labels == cls)
            assert abs(np.sum(labels[part] == cls) - fraction * count) <= 1
    again = stratified_split(labels, fractions, seed=seed)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))


def test_stratified_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(np.zeros(4), (0.5, 0.4), seed=0)


# --------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_round_trip(tmp_path, gz):
    arrays = fake_mnist(tmp_path, gz=gz)
    data = load_mnist(tmp_path, val_fraction=0.2, seed=3)
    assert data.name == "mnist" and data.input_shape == (1, 28, 28)
    # Each class (6 images) is cut on its own: round(0.8 * 6) = 5 train, 1 val.
    assert data.sizes() == {"train": 50, "val": 10, "test": 20}
    np.testing.assert_array_equal(data.x_test[:, 0], arrays["test_images"].astype(np.float32) / 255)
    np.testing.assert_array_equal(data.y_test, arrays["test_labels"])
    # Train and val together are exactly the training file.
    x_all = np.concatenate([data.x_train, data.x_val])[:, 0]
    assert sorted(map(bytes, (x_all * 255).round().astype(np.uint8))) == sorted(
        map(bytes, arrays["train_images"])
    )
    assert all(np.sum(data.y_val == c) == 1 for c in range(10))
    assert load_fashion_mnist(tmp_path).name == "fashion_mnist"
    assert load_dataset("mnist", data_dir=tmp_path).fingerprint == load_mnist(tmp_path).fingerprint


def test_load_idx_other_dtypes(tmp_path):
    values = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    got = load_idx(write_idx(tmp_path / "a", values, type_byte=0x0C))
    np.testing.assert_array_equal(got, values)
    assert got.dtype == np.int32 and got.dtype.isnative


def test_bad_magic_names_the_file(tmp_path):
    fake_mnist(tmp_path)
    path = tmp_path / MNIST_FILES["train_images"]
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    with pytest.raises(IdxFormatError, match=r"train-images-idx3-ubyte: bad magic number 0x12340803") as info:
        load_mnist(tmp_path)
    assert info.value.path == path


def test_images_where_labels_expected(tmp_path):
    fake_mnist(tmp_path)
    labels = tmp_path / MNIST_FILES["test_labels"]
    write_idx(labels, np.zeros((20, 28, 28), np.uint8))
    with pytest.raises(
        IdxFormatError, match=r"t10k-labels-idx1-ubyte: bad magic number 0x00000803, expected 0x00000801"
    ):
        load_mnist(tmp_path)


@pytest.mark.parametrize("cut", [2, 10, 200])
def test_truncated_file_names_the_file(tmp_path, cut):
    fake_mnist(tmp_path)
    path = tmp_path / MNIST_FILES["test_images"]
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(IdxFormatError, match=r"t10k-images-idx3-ubyte: truncated"):
        load_mnist(tmp_path)


def test_trailing_bytes_are_an_error(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((2, 3), np.uint8))
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(IdxFormatError, match="1 unexpected trailing bytes"):
        load_idx(path)


def test_truncated_gzip_names_the_file(tmp_path):
    fake_mnist(tmp_path, gz=True)
    path = tmp_path / (MNIST_FILES["train_labels"] + ".gz")
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(IdxFormatError, match=r"train-labels-idx1-ubyte.gz: cannot decompress"):
        load_mnist(tmp_path)


def test_label_image_count_mismatch_names_both_files(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["train_labels"], np.zeros(59, np.uint8))
    with pytest.raises(
        IdxFormatError, match=r"train-labels-idx1-ubyte: 59 labels, but .*train-images-idx3-ubyte holds 60"
    ):
        load_mnist(tmp_path)


def test_train_test_image_size_mismatch(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["test_images"], np.zeros((20, 27, 28), np.uint8))
    with pytest.raises(IdxFormatError, match=r"t10k-images-idx3-ubyte: images are \(27, 28\)"):
        load_mnist(tmp_path)


def test_out_of_range_label(tmp_path):
    fake_mnist(tmp_path)
    write_idx(tmp_path / MNIST_FILES["test_labels"], np.full(20, 10, np.uint8))
    with pytest.raises(IdxFormatError, match=r"t10k-labels-idx1-ubyte: label 10 outside"):
        load_mnist(tmp_path)


def test_missing_file_names_both_candidates(tmp_path):
    fake_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).unlink()
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz"):
        load_mnist(tmp_path)


def test_load_dataset_needs_a_directory_for_mnist():
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="'cifar10'"):
        load_dataset("cifar10")
