"""Field checks of the hardware description: each takes a value and returns it (normalised) or
raises `FieldError`; `accelsim.arch.hardware` adds the file, line and dotted path to the message.

Upper bounds are physical: a value beyond them is a typo (``pe.rows=10**9``), not a design, and
would only produce absurd figures. Each leaves a wide margin over the largest real part cited.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from workloads.quoting import short


class FieldError(Exception):
    """A field check failed; carries the message, and `accelsim.arch.hardware` adds the location."""


MAX_PE_DIM = 16_384  # TPU v1: a 256x256 array (Jouppi et al., ISCA 2017); 64x margin
MAX_BUFFER_BYTES = 1 << 36  # 64 GiB; Cerebras WSE-3 has 44 GB of on-chip SRAM (Cerebras, 2024)
MAX_BANKS = 4_096
MAX_PORT_BYTES_PER_CYCLE = 1 << 30
MAX_DRAM_BYTES_PER_CYCLE = 1e6  # HBM3E stacks give ~1.2 TB/s, ~1e3 bytes per cycle at 1 GHz
MAX_CLOCK_MHZ = 10_000.0  # 10 GHz: above any CMOS logic clock (ITRS 2015)
MAX_LATENCY_CYCLES = 10**9  # one second at 1 GHz
MAX_SPARSE_BLOCK = 4_096
MAX_NM_GROUP = 1_024

Check = Callable[[Any], Any]


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _at_most(v: float, upper: float | None) -> None:
    if upper is not None and v > upper:
        bound = f"{upper:,}" if isinstance(upper, int) else f"{upper:,g}"
        raise FieldError(f"must be at most {bound} (a physical upper bound), got {short(v)}")


def positive_int(v: Any, upper: int | None = None) -> int:
    if not is_int(v) or v <= 0:
        raise FieldError(f"must be a positive integer, got {short(v)}")
    _at_most(v, upper)
    return int(v)


def nonneg_int(v: Any, upper: int | None = None) -> int:
    if not is_int(v) or v < 0:
        raise FieldError(f"must be a non-negative integer, got {short(v)}")
    _at_most(v, upper)
    return int(v)


def positive_float(v: Any, upper: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise FieldError(f"must be a positive finite number, got {short(v)}")
    _at_most(v, upper)
    return float(v)


def upto(check: Callable[[Any, Any], Any], upper: float) -> Check:
    """``check`` with an upper bound, as a one-argument field check."""
    return lambda v: check(v, upper)


def positive_or_unbounded(v: Any) -> float:
    # An infinite bandwidth (YAML `.inf`) models an ideal channel for what-if and validation runs.
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or v <= 0:
        raise FieldError(f"must be a positive number (or .inf for an unbounded channel), got {short(v)}")
    if math.isfinite(v) and v > MAX_DRAM_BYTES_PER_CYCLE:
        raise FieldError(
            f"must be at most {MAX_DRAM_BYTES_PER_CYCLE:,g} (a physical upper bound) or .inf "
            f"for an unbounded channel, got {short(v)}"
        )
    return float(v)


def name(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise FieldError(f"must be a non-empty string, got {short(v)}")
    return v


def one_of(options: Sequence[str]) -> Check:
    def check(v: Any) -> str:
        if not isinstance(v, str) or v not in options:
            raise FieldError(f"must be one of {', '.join(options)}, got {short(v)}")
        return v

    return check


def split(v: Any) -> tuple[float, ...]:
    if isinstance(v, (str, bytes)) or not isinstance(v, (list, tuple)) or len(v) != 3:
        raise FieldError(f"must be a list of three fractions (ifmap, filter, ofmap), got {short(v)}")
    out = tuple(nonneg_fraction(x) for x in v)
    if abs(sum(out) - 1.0) > 1e-9:
        raise FieldError(f"fractions must sum to 1, got {short(list(v))}")
    return out


def nonneg_fraction(x: Any) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 1:
        raise FieldError(f"each fraction must be a number in [0, 1], got {short(x)}")
    return float(x)


def pair_of_positive_ints(v: Any) -> tuple[int, int]:
    if (
        isinstance(v, (str, bytes))
        or not isinstance(v, (list, tuple))
        or len(v) != 2
        or not all(is_int(x) and 0 < x <= MAX_SPARSE_BLOCK for x in v)
    ):
        raise FieldError(
            f"must be a list of two integers in 1..{MAX_SPARSE_BLOCK} [rows, cols], got {short(v)}"
        )
    return (v[0], v[1])


def index_bits(v: Any) -> int:
    if not is_int(v) or not 1 <= v <= 32:
        raise FieldError(f"must be an integer number of bits in 1..32, got {short(v)}")
    return int(v)


MAC_BITS = (8, 16, 32)  # native widths of a precision-scalable MAC (Bit Fusion: 8; Stripes: 16)


def mac_bits(v: Any) -> int:
    if not is_int(v) or v not in MAC_BITS:
        raise FieldError(
            f"must be a native MAC width in bits, one of {', '.join(map(str, MAC_BITS))}, got {short(v)}"
        )
    return int(v)
