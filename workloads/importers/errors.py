"""Errors every importer raises: bad input names its file, line, node or field; a missing extra says which."""

from __future__ import annotations


class ImportFormatError(ValueError):
    """A file or model that cannot be turned into a ``Network``; the message names where and what."""


class MissingExtraError(ImportError):
    """An optional dependency an importer needs is not installed; the message names the extra."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"this needs the optional dependency {package!r}: install it with pip install 'accelsim[{extra}]'"
        )
        self.package = package
        self.extra = extra
