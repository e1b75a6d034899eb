"""`short(value)`: a bounded repr for error messages, so a huge or self-similar value (a YAML alias
bomb, a 10^6-element list) is quoted as a short prefix instead of being expanded in full."""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["short", "MAX_QUOTE_CHARS"]

#: Longest quotation of a bad value in an error message.
MAX_QUOTE_CHARS = 80


class _BoundedRepr(reprlib.Repr):
    # reprlib dispatches on the type's name, so dict and list subclasses (the strict YAML loader's
    # LineDict) would fall back to the unbounded builtin repr without these aliases.
    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, dict) and type(x) is not dict:
            return self.repr_dict(x, level)
        if isinstance(x, list) and type(x) is not list:
            return self.repr_list(x, level)
        return super().repr1(x, level)

    def repr_int(self, x: int, level: int) -> str:
        # Beyond 4300 digits Python refuses int -> str outright (sys.set_int_max_str_digits).
        if x.bit_length() > 128:
            return f"<an integer of {x.bit_length()} bits>"
        return repr(x)


_REPR = _BoundedRepr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 8
_REPR.maxdict = 6
_REPR.maxstring = _REPR.maxother = MAX_QUOTE_CHARS
_REPR.maxlong = 40


def short(value: Any, limit: int = MAX_QUOTE_CHARS) -> str:
    """``repr(value)`` for small values; for large ones a prefix of at most ``limit`` characters
    ending in ``...``. Never builds the full repr of a nested value."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
