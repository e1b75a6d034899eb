"""`read_npz`: a bounded, pickle-free reader of ``.npz`` archives for files a user hands us.

``np.load`` on an untrusted file can allocate whatever a header claims (a decompression bomb or
an ``.npy`` header declaring 10^12 elements), raises raw ``zlib.error``/``EOFError`` on damaged
data, and answers a garbage file by suggesting ``allow_pickle=``. This reader checks the zip
directory and every ``.npy`` header before reading any data: sizes are bounded (`MAX_NPZ_BYTES`
decompressed in total unless the caller says otherwise), object arrays are refused, and every
problem is an :class:`NpzFormatError` naming the file and the entry.
"""

from __future__ import annotations

import io
import math
import os
import tokenize
import zipfile
import zlib
from typing import IO

import numpy as np

from workloads.quoting import short

__all__ = ["MAX_NPZ_BYTES", "MAX_NPZ_ENTRIES", "NpzFormatError", "read_npz"]

#: Decompressed bytes an archive may hold in total: 1 GiB, ~8x the masks of VGG-16 (138 M weights).
MAX_NPZ_BYTES = 1 << 30
MAX_NPZ_ENTRIES = 100_000
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What zipfile, zlib and numpy's header parser (tokenize + literal_eval) raise on damaged bytes.
_READ_ERRORS = (
    ValueError,
    TypeError,
    OverflowError,
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    NotImplementedError,
    SyntaxError,
    tokenize.TokenError,
    RecursionError,
)


class NpzFormatError(ValueError):
    """A damaged, foreign or oversized ``.npz``; the message names the file and the entry."""


def read_npz(
    source: str | os.PathLike[str] | bytes, *, where: str, max_bytes: int = MAX_NPZ_BYTES
) -> dict[str, np.ndarray]:
    """Every entry of the archive at ``source`` (a path, or the archive's bytes) as ``name -> array``
    (``.npy`` suffix dropped, archive order). ``where`` starts every error message.

    A missing file raises ``FileNotFoundError`` as ``open`` does; anything else wrong is an
    :class:`NpzFormatError`."""
    handle: str | os.PathLike[str] | IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        archive = zipfile.ZipFile(handle)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise NpzFormatError(f"{where}: is a directory, not an .npz file") from None
    except _READ_ERRORS as exc:
        problem = short(str(exc))
        raise NpzFormatError(f"{where}: not an .npz archive (a zip of .npy arrays): {problem}") from None
    with archive:
        infos = _checked_directory(archive, where, max_bytes)
        return {info.filename[: -len(".npy")]: _read_entry(archive, info, where) for info in infos}


def _checked_directory(archive: zipfile.ZipFile, where: str, max_bytes: int) -> list[zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_NPZ_ENTRIES:
        raise NpzFormatError(f"{where}: {len(infos):,} entries; an .npz may have at most {MAX_NPZ_ENTRIES:,}")
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            raise NpzFormatError(f"{where}: entry {short(name)} is not an .npy array")
        if name in seen:
            raise NpzFormatError(f"{where}: entry {short(name)} appears twice")
        seen.add(name)
        if info.compress_type not in _COMPRESSIONS:
            raise NpzFormatError(
                f"{where}: entry {short(name)}: unsupported zip compression {info.compress_type}"
            )
        total += info.file_size
        if total > max_bytes:
            raise NpzFormatError(
                f"{where}: entries decompress to more than {max_bytes:,} bytes "
                f"(limit reached at entry {short(name)})"
            )
    return infos


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    entry = f"{where}: entry {short(info.filename)}"
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise NpzFormatError(f"{entry}: unsupported .npy format version {version}")
            if dtype.hasobject:
                raise NpzFormatError(
                    f"{entry}: holds Python objects (dtype {dtype}); only plain arrays are read"
                )
            data_bytes = math.prod(shape) * dtype.itemsize
            if data_bytes != info.file_size - member.tell():
                raise NpzFormatError(
                    f"{entry}: header declares {data_bytes:,} data bytes of shape {shape}, "
                    f"the entry holds {info.file_size - member.tell():,}"
                )
            data = member.read(data_bytes)
    except NpzFormatError:
        raise
    except _READ_ERRORS as exc:
        raise NpzFormatError(f"{entry}: damaged ({type(exc).__name__}: {short(str(exc))})") from None
    if len(data) != data_bytes:
        raise NpzFormatError(f"{entry}: truncated: {len(data):,} of {data_bytes:,} data bytes")
    array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array.copy()
