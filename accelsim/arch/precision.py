"""Operand widths and what a PE array does with them (docs/model.md, "Precision").

Datatypes carry bits; a transfer of ``words`` words moves ``ceil(words * bits / 8)`` bytes. The array's
precision mode decides whether narrow operands also save time: ``fixed`` MACs at the datatype's width
(narrow data saves bytes and energy only); ``packed`` splits a ``mac_bits`` MAC into 2 or 4 narrower ones
(Bit Fusion, Sharma et al., ISCA 2018); ``bit_serial`` has ``mac_bits`` lanes that each take one weight bit
per cycle (Stripes, Judd et al., MICRO 2016).
"""

from __future__ import annotations

from accelsim.arch.hardware_schema import CrossFieldError

__all__ = [
    "DATATYPE_ALIASES",
    "DATATYPE_BITS",
    "DATATYPE_BYTES",
    "PRECISION_MODES",
    "check_precision",
    "stream_cycles",
]

DATATYPE_BITS = {
    "int2": 2,
    "int4": 4,
    "int6": 6,
    "int8": 8,
    "int16": 16,
    "int32": 32,
    "fp16": 16,
    "bf16": 16,
    "fp32": 32,
}
#: Bytes per word: an int for byte-wide types (so their byte counts stay exact integers), a fraction below.
DATATYPE_BYTES: dict[str, float] = {t: b // 8 if b % 8 == 0 else b / 8 for t, b in DATATYPE_BITS.items()}
PRECISION_MODES = ("fixed", "packed", "bit_serial")
#: What-if names of `Hardware.replace`: the weights are the filter operand; activations set ifmap and ofmap
#: together, since one layer's output is the next one's input.
DATATYPE_ALIASES = {
    "datatypes.weights": ("datatypes.filter",),
    "datatypes.activations": ("datatypes.ifmap", "datatypes.ofmap"),
}


def stream_cycles(precision: str, mac_bits: int, steps: int, operand_bits: int, weight_bits: int) -> int:
    """Cycles of ``steps`` streamed MAC steps: ``packed`` does ``mac_bits / operand_bits`` MACs per PE per
    cycle; ``bit_serial`` takes ``weight_bits / mac_bits`` of a bit-parallel step; ``fixed`` one per cycle."""
    if precision == "packed":
        return -(-steps * operand_bits // mac_bits)
    if precision == "bit_serial":
        return -(-steps * weight_bits // mac_bits)
    return steps


def check_precision(precision: str, mac_bits: int, ifmap: str, filter: str) -> None:
    """Raise `CrossFieldError` for operand datatypes the array's precision mode cannot run."""
    if precision == "fixed":
        return
    operands = {"ifmap": ifmap, "filter": filter}
    for operand, t in operands.items():
        if not t.startswith("int"):
            raise CrossFieldError(
                f"pe.precision {precision} needs integer operands, got datatypes.{operand}={t}"
            )
    if precision == "packed":
        widths = (mac_bits, mac_bits // 2, mac_bits // 4)
        for operand, t in operands.items():
            if DATATYPE_BITS[t] not in widths:
                raise CrossFieldError(
                    f"pe.precision packed with mac_bits {mac_bits} runs "
                    f"{', '.join(f'int{w}' for w in widths)}; got datatypes.{operand}={t}"
                )
    elif max(DATATYPE_BITS[ifmap], DATATYPE_BITS[filter]) > mac_bits:
        raise CrossFieldError(
            f"pe.precision bit_serial with mac_bits {mac_bits} runs operands up to int{mac_bits}; "
            f"got datatypes.ifmap={ifmap}, datatypes.filter={filter}"
        )
