"""User data: .npz, IDX directories and image-folder trees, each bad case with a named error."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_datasets import fake_mnist, write_idx

from workloads.datasets import MNIST_FILES, IdxFormatError
from workloads.user_data import DataFormatError, load_user_data


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def npz_arrays(n_train: int = 40, n_test: int = 10, classes: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 6, 5), dtype=np.uint8),
        "y_train": np.arange(n_train) % classes,
        "x_test": rng.integers(0, 256, (n_test, 6, 5), dtype=np.uint8),
        "y_test": np.arange(n_test) % classes,
    }


def raises(source: str | Path, problem: str):
    return pytest.raises(DataFormatError, match=re.escape(f"{source}") + ".*" + re.escape(problem))


# ------------------------------------------------------------------------------------------ npz


def test_npz_without_val_carves_a_stratified_seeded_val_from_train_and_keeps_test(tmp_path):
    arrays = npz_arrays()
    data = load_user_data(save_npz(tmp_path / "mine.npz", **arrays), val_fraction=0.2)
    assert data.name == "mine" and data.input_shape == (1, 6, 5) and data.num_classes == 4
    # 10 examples per class: 8 train + 2 val each.
    assert data.sizes() == {"train": 32, "val": 8, "test": 10}
    assert np.bincount(data.y_val).tolist() == [2, 2, 2, 2]
    np.testing.assert_array_equal(data.y_test, arrays["y_test"])
    np.testing.assert_array_equal(data.x_test[:, 0], arrays["x_test"] / np.float32(255))
    # Train and val partition the given train set, the same way for the same seed.
    train_and_val = np.concatenate([data.x_train, data.x_val])[:, 0]
    given = arrays["x_train"] / np.float32(255)
    assert sorted(map(bytes, train_and_val)) == sorted(map(bytes, given))
    assert load_user_data(tmp_path / "mine.npz", val_fraction=0.2).fingerprint == data.fingerprint
    assert load_user_data(tmp_path / "mine.npz", val_fraction=0.2, seed=1).fingerprint != data.fingerprint


def test_npz_with_val_and_features_and_num_classes(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"x_{s}": rng.random((8, 12)).astype(np.float64) for s in ("train", "val", "test")}
    arrays.update({f"y_{s}": np.array([0, 1, 2, 0, 1, 2, 0, 1]) for s in ("train", "val", "test")})
    data = load_user_data(save_npz(tmp_path / "f.npz", **arrays, num_classes=np.int64(5)))
    assert data.input_shape == (1, 1, 12) and data.num_classes == 5
    assert data.sizes() == {"train": 8, "val": 8, "test": 8}
    np.testing.assert_allclose(data.x_val[:, 0, 0], arrays["x_val"].astype(np.float32))


@pytest.mark.parametrize(
    "change, source, problem",
    [
        ({"y_test": None}, "bad.npz", "missing key(s) ['y_test']"),
        ({"y_train": np.arange(39) % 4}, "bad.npz[y_train]", "39 labels, but x_train holds 40 examples"),
        (
            {"y_train": (np.arange(40) % 4).astype(np.float32)},
            "bad.npz[y_train]",
            "labels must be integers, got dtype float32",
        ),
        ({"y_test": np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, -1])}, "bad.npz[y_test]", "label -1 is negative"),
        ({"num_classes": np.int64(3)}, "bad.npz[y_train]", "label 3 is outside [0, 3)"),
        ({"x_val": np.zeros((2, 6, 5))}, "bad.npz", "x_val and y_val must be given together"),
        (
            {"x_test": np.zeros((10, 5, 6), np.uint8)},
            "bad.npz[x_test]",
            "examples have shape (1, 5, 6), but x_train's are",
        ),
        ({"x_train": np.zeros((40, 1, 1, 6, 5))}, "bad.npz[x_train]", "got shape (40, 1, 1, 6, 5)"),
        ({"x_train": np.full((40, 6, 5), np.nan)}, "bad.npz[x_train]", "contains NaN or infinite values"),
    ],
)
def test_bad_npz_names_the_key_and_problem(tmp_path, change, source, problem):
    arrays = {**npz_arrays(), **change}
    save_npz(tmp_path / "bad.npz", **{k: v for k, v in arrays.items() if v is not None})
    with raises(tmp_path / source, problem):
        load_user_data(tmp_path / "bad.npz")


def test_not_an_npz_and_missing_paths_are_named(tmp_path):
    (tmp_path / "junk.npz").write_text("not a zip")
    with raises(tmp_path / "junk.npz", "cannot read as .npz"):
        load_user_data(tmp_path / "junk.npz")
    with raises(tmp_path / "nowhere", "does not exist"):
        load_user_data(tmp_path / "nowhere")
    (tmp_path / "data.csv").write_text("1,2\n")
    with raises(tmp_path / "data.csv", "not an .npz file, an IDX directory or an image-folder tree"):
        load_user_data(tmp_path / "data.csv")


# ------------------------------------------------------------------------------------------ IDX


def test_idx_directory_reads_mnist_layout(tmp_path):
    arrays = fake_mnist(tmp_path, n_train=50, n_test=20, hw=(7, 9), gz=True)
    data = load_user_data(tmp_path, val_fraction=0.2)
    assert data.input_shape == (1, 7, 9) and data.num_classes == 10
    assert data.sizes() == {"train": 40, "val": 10, "test": 20}
    np.testing.assert_array_equal(data.x_test[:, 0], arrays["test_images"] / np.float32(255))


def test_idx_label_count_mismatch_is_named(tmp_path):
    fake_mnist(tmp_path, n_train=30, n_test=10)
    labels = tmp_path / MNIST_FILES["test_labels"]
    write_idx(labels, np.zeros(9, np.uint8))
    message = f"{labels}: (9,) labels, but t10k-images-idx3-ubyte holds 10"
    with pytest.raises(IdxFormatError, match=re.escape(message)):
        load_user_data(tmp_path)
    (tmp_path / MNIST_FILES["test_images"]).unlink()
    with raises(tmp_path, "neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz found"):
        load_user_data(tmp_path)


# -------------------------------------------------------------------------------- image folders


def save_image(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def image_tree(root: Path, *, per_class: int = 5, hw: tuple[int, int] = (4, 6), ext: str = "png") -> None:
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(per_class):
            save_image(root / cls / f"{i}.{ext}", rng.integers(0, 256, hw, dtype=np.uint8))


def test_flat_image_tree_gives_sorted_class_labels_and_carves_test_and_val(tmp_path):
    image_tree(tmp_path, per_class=10)
    pixels = np.asarray(Image.open(tmp_path / "dog" / "3.png"))
    data = load_user_data(tmp_path, val_fraction=0.25)
    assert data.input_shape == (1, 4, 6) and data.num_classes == 2
    assert data.sizes() == {"train": 12, "val": 4, "test": 4}
    everything = np.concatenate([data.x_train, data.x_val, data.x_test])
    assert any(np.array_equal(x[0], pixels / np.float32(255)) for x in everything)
    assert np.bincount(data.y_test).tolist() == [2, 2]


def test_split_tree_with_rgb_jpeg_and_pgm(tmp_path):
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for cls in ("a", "b"):
            for i in range(4):
                pixels = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
                save_image(tmp_path / split / cls / f"{i}.jpg", pixels)
    data = load_user_data(tmp_path, val_fraction=0.25)
    assert data.input_shape == (3, 5, 5)
    assert data.sizes() == {"train": 6, "val": 2, "test": 8}
    decoded = np.moveaxis(np.asarray(Image.open(tmp_path / "test" / "b" / "2.jpg")), 2, 0) / np.float32(255)
    assert any(np.allclose(x, decoded, atol=1e-6) for x in data.x_test)
    grey = tmp_path / "grey"
    image_tree(grey, ext="pgm")
    assert load_user_data(grey).input_shape == (1, 4, 6)


def test_bad_image_trees_are_named(tmp_path):
    image_tree(tmp_path / "empty")
    (tmp_path / "empty" / "bird").mkdir()
    with raises(tmp_path / "empty" / "bird", "class 'bird' has no images"):
        load_user_data(tmp_path / "empty")

    image_tree(tmp_path / "text")
    (tmp_path / "text" / "cat" / "notes.txt").write_text("hello")
    with raises(tmp_path / "text" / "cat" / "notes.txt", "not a readable image"):
        load_user_data(tmp_path / "text")

    image_tree(tmp_path / "sizes")
    save_image(tmp_path / "sizes" / "dog" / "9.png", np.zeros((5, 6), np.uint8))
    with raises(tmp_path / "sizes" / "dog" / "9.png", "image is 6x5 grayscale, but"):
        load_user_data(tmp_path / "sizes")

    image_tree(tmp_path / "modes")
    save_image(tmp_path / "modes" / "dog" / "9.png", np.zeros((4, 6, 3), np.uint8))
    with raises(tmp_path / "modes" / "dog" / "9.png", "image is 6x4 RGB, but"):
        load_user_data(tmp_path / "modes")

    save_image(tmp_path / "single" / "cat" / "0.png", np.zeros((4, 4), np.uint8))
    with raises(tmp_path / "single", "only one class folder ('cat')"):
        load_user_data(tmp_path / "single")

    (tmp_path / "none").mkdir()
    with raises(tmp_path / "none", "no class folders"):
        load_user_data(tmp_path / "none")

    image_tree(tmp_path / "split" / "train")
    image_tree(tmp_path / "split" / "test")
    save_image(tmp_path / "split" / "test" / "emu" / "0.png", np.zeros((4, 6), np.uint8))
    with raises(tmp_path / "split" / "test", "class folder(s) ['emu'] are not among the training classes"):
        load_user_data(tmp_path / "split")
