"""Reading an input file whole, with the one-line error every importer and reader gives when it cannot."""

from __future__ import annotations

import os


def read_text(path: str | os.PathLike[str], what: str, error: type[Exception]) -> tuple[str, str]:
    """``(source, text)`` of ``path``; an unreadable file raises ``error("<path>: cannot read <what>: ...")``."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as fh:
            return source, fh.read()
    except OSError as exc:
        raise error(f"{source}: cannot read {what}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise error(
            f"{source}: {what} is not UTF-8 text (byte {exc.start}: {exc.object[exc.start : exc.start + 1]!r})"
        ) from None
