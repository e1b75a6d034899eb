"""The bounded npz reader and the two loaders on top of it (masks files, the weight cache)."""

import io
import zipfile

import numpy as np
import pytest

from pruning import Masks
from pruning.masks import FORMAT_KEY, MaskFileError
from workloads.npz import NpzFormatError, read_npz


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def test_reads_what_numpy_writes():
    arrays = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.eye(3, dtype=bool),
        "c": np.asfortranarray(np.arange(6).reshape(2, 3)),
    }
    read = read_npz(_npz_bytes(**arrays), where="x.npz")
    assert list(read) == ["a", "b", "c"]
    for name, array in arrays.items():
        assert read[name].dtype == array.dtype and np.array_equal(read[name], array)


def test_corrupt_deflate_data_is_a_named_error(tmp_path):
    data = bytearray(_npz_bytes(a=np.arange(1000)))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 120
    data[start : start + 40] = bytes(40)  # zero out the middle of the deflate stream
    path = tmp_path / "corrupt.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(NpzFormatError, match=r"corrupt\.npz.*entry 'a\.npy'"):
        read_npz(path, where=str(path))


def test_decompression_bomb_is_refused_from_the_directory(tmp_path):
    # 64 MiB of zeros deflates to ~64 KiB; the limit is checked before a byte is inflated.
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, a=np.zeros(64 << 20, dtype=np.uint8))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(NpzFormatError, match=r"more than 1,048,576 bytes"):
        read_npz(path, where="bomb.npz", max_bytes=1 << 20)


def test_header_claiming_more_data_than_the_entry_holds(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive, archive.open("a.npy", "w") as member:
        np.lib.format.write_array_header_1_0(
            member, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
        )
        member.write(b"\0" * 16)
    with pytest.raises(NpzFormatError, match=r"entry 'a\.npy': header declares 8,000,000,000,000 data bytes"):
        read_npz(buffer.getvalue(), where="lie.npz")


def test_object_arrays_are_refused_without_unpickling():
    with pytest.raises(NpzFormatError, match=r"entry 'a\.npy': holds Python objects"):
        read_npz(_npz_bytes(a=np.array([{"x": 1}], dtype=object)), where="obj.npz")


def test_garbage_names_the_file_and_never_suggests_allow_pickle(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"\x80\x04garbage that starts like a pickle")
    with pytest.raises(MaskFileError, match=r"garbage\.npz.*not an \.npz archive") as info:
        Masks.load(path)
    assert "pickle" not in str(info.value)


def test_masks_file_over_the_size_limit_is_refused(tmp_path):
    masks = Masks({"fc": np.ones((64, 64), bool)})
    masks.save(tmp_path / "m.npz")
    assert Masks.load(tmp_path / "m.npz") == masks
    with pytest.raises(MaskFileError, match=r"m\.npz.*more than 1,000 bytes"):
        Masks.load(tmp_path / "m.npz", max_bytes=1000)


def test_masks_file_with_a_non_npy_entry(tmp_path):
    path = tmp_path / "extra.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{FORMAT_KEY}.npy", b"")
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(MaskFileError, match=r"extra\.npz.*'notes\.txt' is not an \.npy array"):
        Masks.load(path)
