"""Dataflows as values: which GEMM dimension a systolic array holds on its rows, which on its
columns, and which it streams in time.

A layer's GEMM is ``groups x (m x k) @ (k x n)`` (m output pixels, k reduction, n output
channels). A fold fills ``r`` of the ``R`` rows and ``c`` of the ``C`` columns and streams ``T``:

==========  ====  ====  ==  ==================  ==========================
dataflow    rows  cols  T   stationary operand  cycles of one fold
==========  ====  ====  ==  ==================  ==========================
ws          k     n     m   filter              ``2R + C + T - 2``
is          k     m     n   ifmap               ``2R + C + T - 2``
os          m     n     k   ofmap               ``R + C + T - 2``
==========  ====  ====  ==  ==================  ==========================

The cycles and SCALE-Sim's per-fold utilisation denominators are in `Dataflow.fill_cycles` and
`Dataflow.utilisation_denominator` (see ``docs/validation.md``); ``code`` is the small int the
Numba kernels branch on.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Dataflow", "DATAFLOWS", "OPERANDS", "READ_OPERANDS", "WS", "IS", "OS", "dataflow"]

#: The operands of a GEMM layer, in the order buffers and reports list them.
OPERANDS = ("ifmap", "filter", "ofmap")
READ_OPERANDS = ("ifmap", "filter")


@dataclass(frozen=True)
class Dataflow:
    """One dataflow: the GEMM dimension (``"m"``, ``"k"`` or ``"n"``) on the array's rows, on its
    columns and streamed, the operand that stays in the PEs, and its kernel code."""

    name: str
    rows: str
    cols: str
    streamed: str
    stationary: str
    code: int

    def dims(self, m: int, k: int, n: int) -> tuple[int, int, int]:
        """``(Sr, Sc, T)``: the sizes mapped onto rows and columns, and the streamed length."""
        sizes = {"m": m, "k": k, "n": n}
        return sizes[self.rows], sizes[self.cols], sizes[self.streamed]

    def fill_cycles(self, R: int, C: int) -> int:
        """Cycles of a fold beyond its ``T`` streamed steps (pipeline fill and drain)."""
        return R + C - 2 if self.stationary == "ofmap" else 2 * R + C - 2

    def utilisation_denominator(self, R: int, C: int, T: int) -> int:
        """SCALE-Sim's per-fold cycle count in its compute-utilisation formula, kept verbatim."""
        return R + C + T - 2 if self.stationary == "ofmap" else 2 * R + 2 * C + T - 3


WS = Dataflow("ws", rows="k", cols="n", streamed="m", stationary="filter", code=0)
IS = Dataflow("is", rows="k", cols="m", streamed="n", stationary="ifmap", code=1)
OS = Dataflow("os", rows="m", cols="n", streamed="k", stationary="ofmap", code=2)
_BY_NAME = {flow.name: flow for flow in (WS, OS, IS)}
#: Dataflow names, as hardware YAML spells them.
DATAFLOWS = tuple(_BY_NAME)


def dataflow(name: str) -> Dataflow:
    """The dataflow called ``name`` (``ws``, ``os`` or ``is``)."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataflow {name!r}; expected one of {', '.join(DATAFLOWS)}") from None
