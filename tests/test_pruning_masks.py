import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from pruning.masks import FORMAT_KEY, Masks
from workloads.layers import Conv2d, Linear, Pool
from workloads.network import Network


@pytest.fixture
def net():
    return Network.sequential(
        "tiny",
        [
            Conv2d("conv", 3, 4, 3, 8, padding=1, activation="relu"),
            Pool("pool", 4, 8, 2, 2),
            Linear("fc", 64, 10),
        ],
    )


def test_dense_covers_weighted_layers_only(net):
    masks = Masks.dense(net)
    assert list(masks) == ["conv", "fc"]
    assert masks["conv"].shape == (4, 3, 3, 3) and masks["conv"].all()
    assert masks.density == 1.0 and masks.sparsity == 0.0 and masks.nnz == masks.size == 108 + 640


def test_density_is_weighted_by_weight_count():
    masks = Masks({"a": np.zeros((10, 10), bool), "b": np.ones((2, 5), bool)})
    assert masks.nnz == 10
    assert masks.density == pytest.approx(10 / 110)
    assert masks.density_of("a") == 0.0 and masks.density_of("b") == 1.0
    assert Masks().density == 1.0


def test_arrays_are_copied_in_and_read_only():
    source = np.ones((2, 3), bool)
    masks = Masks({"a": source})
    source[0, 0] = False
    assert masks["a"].all()
    with pytest.raises(ValueError):
        masks["a"][0, 0] = False


def test_zero_one_numbers_accepted_other_values_named():
    assert Masks({"a": np.array([[0, 1]])})["a"].dtype == np.bool_
    with pytest.raises(ValueError, match="'a'.*booleans"):
        Masks({"a": np.array([[0.5, 1.0]])})
    with pytest.raises(ValueError, match="weights only.*'fc.bias'"):
        Masks({"fc.bias": np.ones(3, bool)})
    with pytest.raises(ValueError, match="scalar"):
        Masks({"a": True})


def test_apply_zeroes_masked_weights_and_leaves_bias_and_unmasked_layers():
    weights = {"a": np.arange(1.0, 7.0).reshape(2, 3), "a.bias": np.ones(2), "b": np.full((2, 2), np.nan)}
    mask = np.array([[True, False, True], [False, True, False]])
    out = Masks({"a": mask}).apply(weights)
    np.testing.assert_array_equal(out["a"], [[1, 0, 3], [0, 5, 0]])
    assert out["a.bias"] is weights["a.bias"] and out["b"] is weights["b"]
    assert weights["a"][0, 1] == 2.0  # the input is not touched
    nan_out = Masks({"b": np.zeros((2, 2), bool)}).apply(weights)
    assert (nan_out["b"] == 0).all()  # where(), not multiplication: NaN * 0 would stay NaN


def test_apply_names_bad_layer():
    with pytest.raises(ValueError, match="'a'"):
        Masks({"a": np.ones((2, 2), bool)}).apply({"b": np.ones((2, 2))})
    with pytest.raises(ValueError, match=r"'a'.*\(2, 3\)"):
        Masks({"a": np.ones((2, 2), bool)}).apply({"a": np.ones((2, 3))})


def test_replace_returns_a_new_masks(net):
    masks = Masks.dense(net)
    new = masks.replace("fc", np.zeros((10, 64), bool))
    assert masks["fc"].all() and not new["fc"].any()
    with pytest.raises(KeyError, match="nope"):
        masks.replace("nope", np.ones(3, bool))
    with pytest.raises(ValueError, match="'fc'.*shape"):
        masks.replace("fc", np.ones((64, 10), bool))


def test_equality_and_hash_ignore_order_but_not_bits():
    a = Masks({"x": np.eye(3, dtype=bool), "y": np.ones(2, bool)})
    b = Masks({"y": np.ones(2, bool), "x": np.eye(3, dtype=bool)})
    assert a == b and a.content_hash() == b.content_hash() and hash(a) == hash(b)
    c = a.replace("x", ~np.eye(3, dtype=bool))
    assert a != c and a.content_hash() != c.content_hash()
    reshaped = Masks({"x": np.eye(3, dtype=bool).reshape(1, 9), "y": np.ones(2, bool)})
    assert a != reshaped and a.content_hash() != reshaped.content_hash()


def test_content_hash_is_pinned():
    # Stable across runs and machines: a change here breaks every cache keyed on it.
    masks = Masks({"a": np.array([[True, False], [False, True]])})
    assert masks.content_hash() == Masks({"a": np.eye(2, dtype=bool)}).content_hash()
    assert masks.content_hash() == "bd6ee660adee64d2df36ae8273b842f8d3e7b9aa287902b61acc796c29bb1ef3"


def test_and_keeps_pruned_from_either():
    a = Masks({"x": np.array([True, True, False])})
    b = Masks({"x": np.array([True, False, True]), "y": np.ones(1, bool)})
    both = a & b
    np.testing.assert_array_equal(both["x"], [True, False, False])
    assert list(both) == ["x", "y"]


def test_check_network_names_mismatch(net):
    Masks.dense(net).check_network(net)
    with pytest.raises(ValueError, match="'pool'.*no weights"):
        Masks({"pool": np.ones(3, bool)}).check_network(net)
    with pytest.raises(ValueError, match="'ghost'"):
        Masks({"ghost": np.ones(3, bool)}).check_network(net)


masks_strategy = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_characters="/\\\x00"), min_size=1, max_size=12).filter(
        lambda s: not s.endswith(".bias") and s != FORMAT_KEY
    ),
    hnp.arrays(bool, hnp.array_shapes(min_dims=1, max_dims=4, max_side=5)),
    max_size=5,
)


@settings(max_examples=40, deadline=None)
@given(masks_strategy)
def test_npz_round_trip_is_exact(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("npz") / "m.npz"
    masks = Masks(raw)
    masks.save(path)
    loaded = Masks.load(path)
    assert loaded == masks and loaded.content_hash() == masks.content_hash()
    for name in masks:
        assert loaded[name].dtype == np.bool_ and loaded[name].shape == masks[name].shape


def test_save_is_byte_reproducible(tmp_path, net):
    masks = Masks.dense(net).replace("fc", np.eye(10, 64, dtype=bool))
    masks.save(tmp_path / "a.npz")
    masks.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_load_names_file_and_key(tmp_path):
    bad_dtype = tmp_path / "bad_dtype.npz"
    np.savez(bad_dtype, **{FORMAT_KEY: np.array(1), "conv": np.ones((2, 2), np.float32)})
    with pytest.raises(ValueError, match=r"bad_dtype\.npz.*'conv'.*dtype bool"):
        Masks.load(bad_dtype)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, conv=np.ones((2, 2), bool))
    with pytest.raises(ValueError, match=rf"foreign\.npz.*{FORMAT_KEY}"):
        Masks.load(foreign)
    version = tmp_path / "version.npz"
    np.savez(version, **{FORMAT_KEY: np.array(99)})
    with pytest.raises(ValueError, match=r"version\.npz.*version"):
        Masks.load(version)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match=r"garbage\.npz"):
        Masks.load(garbage)
    bias = tmp_path / "bias.npz"
    np.savez(bias, **{FORMAT_KEY: np.array(1), "fc.bias": np.ones(2, bool)})
    with pytest.raises(ValueError, match=r"bias\.npz.*'fc\.bias'"):
        Masks.load(bias)
    with pytest.raises(FileNotFoundError):
        Masks.load(tmp_path / "missing.npz")


def test_layer_named_like_savez_keywords_round_trips(tmp_path):
    masks = Masks({"file": np.ones(2, bool), "allow_pickle": np.zeros(3, bool)})
    masks.save(tmp_path / "k.npz")
    assert Masks.load(tmp_path / "k.npz") == masks
