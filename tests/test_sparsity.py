"""The sparsity-structure vocabulary (workloads.sparsity): labels, parsing, named fields, shape checks."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from workloads.sparsity import (
    KINDS,
    NM,
    PRUNED_KINDS,
    Block,
    Channel,
    Dense,
    Unstructured,
    from_fields,
    parse,
)

blocks = st.builds(lambda r, c: Block((r, c)), st.integers(1, 64), st.integers(1, 64))
nms = st.integers(1, 16).flatmap(lambda m: st.builds(NM, st.integers(0, m), st.just(m)))
structures = st.one_of(st.sampled_from([Dense(), Unstructured(), Channel()]), blocks, nms)


def test_labels_keep_the_spellings_users_write():
    # The spellings of the codesign CLI's --granularities and of saved search plans.
    labels = [s.label for s in (Dense(), Unstructured(), Channel(), Block((4, 2)), NM(2, 4))]
    assert labels == ["dense", "unstructured", "channel", "block4x2", "nm2:4"]


@given(structures)
def test_every_label_parses_back_to_its_structure(structure):
    assert parse(structure.label) == structure
    assert structure.kind in KINDS


BAD_LABELS = ["block4", "blockx4", "nm2", "nm2/4", "Channel", "", None, "block4x4 ", "sparse"]


@pytest.mark.parametrize("label", BAD_LABELS)
def test_bad_labels_are_named_with_the_accepted_forms(label):
    forms = r"dense, unstructured, channel, block<rows>x<cols> or nm<n>:<m>"
    with pytest.raises(ValueError, match=forms) as info:
        parse(label)
    assert repr(label) in str(info.value)


def test_structures_of_different_kinds_never_compare_equal():
    values = [Dense(), Unstructured(), Channel(), Block((1, 1)), NM(1, 1)]
    assert len(set(values)) == len(values)
    assert Block((2, 2)) == Block([2, 2]) and hash(Block((2, 2))) == hash(Block([2, 2]))


def test_named_fields_build_what_the_label_names():
    assert from_fields("block", block_shape=[4, 4]) == parse("block4x4")
    assert from_fields("nm", n=2, m=4) == parse("nm2:4")
    plain = [from_fields(kind) for kind in ("dense", "unstructured", "channel")]
    assert plain == [Dense(), Unstructured(), Channel()]
    assert tuple(k for k in KINDS if k != "dense") == PRUNED_KINDS


@pytest.mark.parametrize(
    "kind, fields, message",
    [
        ("rows", {}, "granularity must be one of"),
        ("block", {}, "needs block_shape"),
        ("nm", {"n": 2}, "needs n and m"),
        ("unstructured", {"block_shape": (4, 4)}, "takes no block_shape"),
        ("block", {"block_shape": (4, 4), "m": 4}, "takes no m"),
        ("block", {"block_shape": (0, 4)}, r"block_shape must be a pair of ints >= 1, got \(0, 4\)"),
        ("nm", {"n": 5, "m": 4}, r"n must be an int in \[0, m=4\], got 5"),
        ("nm", {"n": True, "m": 4}, "got True"),
    ],
)
def test_bad_named_fields_name_the_field_and_value(kind, fields, message):
    with pytest.raises(ValueError, match=message):
        from_fields(kind, **fields)


def test_shape_checks_name_the_layer_and_the_gemm_view():
    Block((4, 9)).check_shape("conv", (8, 4, 3, 3))  # GEMM view (8, 36)
    NM(2, 4).check_shape("fc", (3, 8))
    with pytest.raises(ValueError, match=r"layer 'conv'.*block_shape=\(3, 4\).*\(8, 36\)"):
        Block((3, 4)).check_shape("conv", (8, 4, 3, 3))
    with pytest.raises(ValueError, match=r"layer 'fc'.*m=4.*10"):
        NM(2, 4).check_shape("fc", (3, 10))
    with pytest.raises(ValueError, match=r"layer 'b'.*rank >= 2"):
        Channel().check_shape("b", (5,))
    Dense().check_shape("b", (5,))
    Unstructured().check_shape("b", (5,))
