"""SCALE-Sim topology CSVs both ways: read one into a ``Network``, write a ``Network`` as one.

The format is SCALE-Sim 3.0.0's (``scalesim/topology_utils.py``): a header line it skips, then one
row per layer, every row ending in a comma (SCALE-Sim drops the last comma-separated cell, so a
row without the trailing comma would lose its last value there):

- conv: ``name, IFMAP H, IFMAP W, Filter H, Filter W, Channels, Num Filter, Stride,`` with an
  optional ``N:M`` cell before the trailing comma. IFMAPs are given already padded and SCALE-Sim
  sizes the output as ``ceil((H - FH + S) / S)``, a partial last window included. A name
  containing ``DP`` is depthwise: SCALE-Sim runs one layer per channel, each with one channel and
  ``Num Filter`` filters.
- GEMM (SCALE-Sim's ``-i gemm``): ``name, M, N, K,`` with the same optional ``N:M`` cell.

A written topology is always in the conv format (one SCALE-Sim run takes one format): a Linear
is a 1x1 convolution over a ``tokens x 1`` image, a MatMul one such row per head, a grouped
convolution one row per group and a depthwise one a ``DP`` row. A SCALE-Sim run also needs a
layout file (one row per topology row, read even when custom layouts are off): ``format_layout``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from workloads.importers.errors import ImportFormatError
from workloads.importers.imported import Imported
from workloads.importers.text_file import read_text
from workloads.layers import Conv2d, Layer, Linear, MatMul
from workloads.network import Network, NetworkBuilder

__all__ = [
    "ExportFormatError",
    "TopologyRow",
    "format_layout",
    "format_topology",
    "layer_rows",
    "network_rows",
    "parse_topology",
    "read_topology",
]

CONV_COLUMNS = (
    "IFMAP Height",
    "IFMAP Width",
    "Filter Height",
    "Filter Width",
    "Channels",
    "Num Filter",
    "Strides",
)
GEMM_COLUMNS = ("M", "N", "K")
# Custom layouts are off in every cfg we write; SCALE-Sim still parses 20 integers per layout row.
_LAYOUT_CELLS = 20


class ExportFormatError(ValueError):
    """A layer or hardware feature the target format cannot express; the message names which."""


@dataclass(frozen=True)
class TopologyRow:
    """One conv-format topology row; ``nm`` is the optional ``N:M`` sparsity cell (``None``: absent)."""

    name: str
    ifmap_h: int
    ifmap_w: int
    filter_h: int
    filter_w: int
    channels: int
    num_filter: int
    stride: int
    nm: tuple[int, int] | None = None

    @property
    def depthwise(self) -> bool:
        """SCALE-Sim treats any row whose name contains ``DP`` as depthwise."""
        return "DP" in self.name


# ------------------------------------------------------------------------------------ writing


def layer_rows(layer: Layer, name: str | None = None) -> list[TopologyRow]:
    """The conv-format rows SCALE-Sim needs to run ``layer`` (``[]`` for layers without MACs).

    A convolution's IFMAP is written as the padded extent its windows read, ``(Ho - 1) * S + FH``:
    on it SCALE-Sim's ``ceil`` output rule and PyTorch's ``floor`` agree. ``name`` (default: the
    layer's) must already be safe for SCALE-Sim (see ``network_rows``).
    """
    base = layer.name if name is None else name
    if isinstance(layer, Conv2d):
        (sh, sw), (kh, kw) = layer.stride, layer.kernel_size
        if sh != sw:
            raise ExportFormatError(
                f"layer {layer.name!r}: SCALE-Sim has one stride, got stride={layer.stride}"
            )
        if layer.dilation != (1, 1):
            raise ExportFormatError(
                f"layer {layer.name!r}: SCALE-Sim has no dilation, got dilation={layer.dilation}"
            )
        ho, wo = layer.output_hw
        per_group = layer.in_channels // layer.groups
        filters = layer.out_channels // layer.groups
        shape = ((ho - 1) * sh + kh, (wo - 1) * sw + kw, kh, kw)
        if per_group == 1 and layer.groups > 1:  # one DP row: SCALE-Sim splits it per channel itself
            return [TopologyRow(f"{base}_DP", *shape, channels=layer.groups, num_filter=filters, stride=sh)]
        if layer.groups == 1:
            return [TopologyRow(base, *shape, channels=per_group, num_filter=filters, stride=sh)]
        return [
            TopologyRow(f"{base}_g{i}", *shape, channels=per_group, num_filter=filters, stride=sh)
            for i in range(layer.groups)
        ]
    if isinstance(layer, (Linear, MatMul)):
        g = layer.gemm
        shape = (g.m, 1, 1, 1)
        if g.groups == 1:
            return [TopologyRow(base, *shape, channels=g.k, num_filter=g.n, stride=1)]
        return [
            TopologyRow(f"{base}_h{i}", *shape, channels=g.k, num_filter=g.n, stride=1)
            for i in range(g.groups)
        ]
    return []


def _safe_name(name: str) -> str:
    # A comma would split the cell; "DP" would make SCALE-Sim split a dense layer per channel.
    cleaned = name.replace(",", "_").strip().replace("DP", "Dp")
    return cleaned or "layer"


def network_rows(network: Network) -> tuple[list[TopologyRow], list[str]]:
    """Rows for every MAC layer of ``network`` and notes naming what SCALE-Sim cannot run.

    Names are made safe for SCALE-Sim (no commas, ``DP`` only on depthwise rows) and unique.
    """
    rows: list[TopologyRow] = []
    skipped: list[str] = []
    used: set[str] = set()
    for layer in network:
        name = _safe_name(layer.name)
        while name in used:
            name += "_"
        used.add(name)
        layer_out = layer_rows(layer, name)
        if not layer_out:
            skipped.append(layer.name)
        rows.extend(layer_out)
    if not rows:
        raise ExportFormatError(
            f"network {network.name!r} has no layer SCALE-Sim can run (conv, linear, matmul)"
        )
    notes = []
    if skipped:
        notes.append(
            f"SCALE-Sim models only MAC layers; left out {len(skipped)} layer(s): {', '.join(skipped)}"
        )
    return rows, notes


def format_topology(rows: Sequence[TopologyRow]) -> str:
    """Conv-format topology text; the ``N:M`` column is written only if some row has one."""
    with_nm = any(row.nm is not None for row in rows)
    header = ["Layer name", *CONV_COLUMNS] + (["Sparsity"] if with_nm else [])
    lines = [", ".join(header) + ","]
    for row in rows:
        cells = [
            row.name,
            row.ifmap_h,
            row.ifmap_w,
            row.filter_h,
            row.filter_w,
            row.channels,
            row.num_filter,
            row.stride,
        ]
        if with_nm:
            n, m = row.nm or (1, 1)
            cells.append(f"{n}:{m}")
        lines.append(", ".join(str(c) for c in cells) + ",")
    return "\n".join(lines) + "\n"


def format_layout(rows: Sequence[TopologyRow]) -> str:
    """The layout file SCALE-Sim 3.0.0 insists on reading, with custom layouts off."""
    lines = ["Layer name, layout,"]
    lines += [row.name + ", " + ", ".join(["1"] * _LAYOUT_CELLS) + "," for row in rows]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ reading


def _int_cell(cell: str, where: str, column: str) -> int:
    text = cell.strip()
    try:
        value = int(text)
    except ValueError:
        raise ImportFormatError(f"{where}: {column}: must be a positive integer, got {text!r}") from None
    if value < 1:
        raise ImportFormatError(f"{where}: {column}: must be a positive integer, got {value}")
    return value


def _nm_cell(cell: str, where: str) -> tuple[int, int]:
    text = cell.strip()
    n_text, sep, m_text = text.partition(":")
    try:
        n, m = int(n_text), int(m_text)
    except ValueError:
        n = m = 0
    if not sep or not 1 <= n <= m:
        raise ImportFormatError(f"{where}: Sparsity: must be N:M with 1 <= N <= M, got {text!r}")
    return n, m


def parse_topology(text: str, source: str = "<string>") -> tuple[list[TopologyRow], str]:
    """Rows of a topology text and its format (``"conv"`` or ``"gemm"``, told apart by column count).

    GEMM rows come back as the conv rows SCALE-Sim makes of them (an ``M x K`` IFMAP, a ``1 x K``
    filter, one channel, ``N`` filters). Errors name ``source``, the line and the column.
    """
    rows: list[TopologyRow] = []
    kind = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if number == 1 or not line:  # SCALE-Sim skips the first line whatever it holds
            continue
        where = f"{source}:{number}"
        cells = line.split(",")
        if cells[-1].strip():
            raise ImportFormatError(
                f"{where}: row must end with a comma (SCALE-Sim drops the last cell), got {line!r}"
            )
        cells = cells[:-1]
        row_kind = {4: "gemm", 5: "gemm", 8: "conv", 9: "conv"}.get(len(cells))
        if row_kind is None:
            raise ImportFormatError(
                f"{where}: expected a conv row (name, {', '.join(CONV_COLUMNS)}[, N:M],) or a GEMM row "
                f"(name, M, N, K[, N:M],), got {len(cells)} cells"
            )
        if kind and row_kind != kind:
            raise ImportFormatError(f"{where}: a {row_kind} row in a {kind} topology (one format per file)")
        kind = row_kind
        name = cells[0].strip()
        if not name:
            raise ImportFormatError(f"{where}: Layer name: must not be empty")
        columns = CONV_COLUMNS if kind == "conv" else GEMM_COLUMNS
        values = [_int_cell(cell, where, column) for cell, column in zip(cells[1:], columns)]
        nm = _nm_cell(cells[len(columns) + 1], where) if len(cells) > len(columns) + 1 else None
        if kind == "gemm":
            m, n, k = values
            row = TopologyRow(name, m, k, 1, k, channels=1, num_filter=n, stride=1, nm=nm)
        else:
            h, w, fh, fw, channels, filters, stride = values
            row = TopologyRow(name, h, w, fh, fw, channels, filters, stride, nm=nm)
            for extent, kernel, column in (
                (row.ifmap_h, row.filter_h, "Filter Height"),
                (row.ifmap_w, row.filter_w, "Filter Width"),
            ):
                if kernel > extent:
                    raise ImportFormatError(f"{where}: {column}: {kernel} exceeds the IFMAP extent {extent}")
        rows.append(row)
    if not rows:
        raise ImportFormatError(f"{source}: no layer rows (the first line is the header)")
    return rows, kind


def _scalesim_padding(extent: int, kernel: int, stride: int) -> int:
    """Symmetric padding giving PyTorch's rule SCALE-Sim's output size ``ceil((H - FH + S) / S)``."""
    out = math.ceil((extent - kernel + stride) / stride)
    missing = (out - 1) * stride + kernel - extent  # the partial last window reads this far past the edge
    return -(-missing // 2)


def row_layer(row: TopologyRow, kind: str) -> Layer:
    """The layer SCALE-Sim runs for ``row`` (same output size, window and filter count)."""
    if kind == "gemm":
        return Linear(row.name, in_features=row.filter_w, out_features=row.num_filter, tokens=row.ifmap_h)
    padding = (
        _scalesim_padding(row.ifmap_h, row.filter_h, row.stride),
        _scalesim_padding(row.ifmap_w, row.filter_w, row.stride),
    )
    groups = row.channels if row.depthwise else 1
    return Conv2d(
        row.name,
        row.channels,
        row.num_filter * groups,
        (row.filter_h, row.filter_w),
        (row.ifmap_h, row.ifmap_w),
        stride=(row.stride, row.stride),
        padding=padding,
        groups=groups,
    )


def read_topology(path: str | os.PathLike[str], *, name: str | None = None) -> Imported:
    """A SCALE-Sim topology CSV as a chain ``Network`` named ``name`` (default: the file's stem).

    Its ``N:M`` cells are not part of a ``Network`` (shapes only): they come back in the notes,
    since accelsim applies sparsity through masks.
    """
    source, text = read_text(path, "topology", ImportFormatError)
    rows, kind = parse_topology(text, source)
    builder = NetworkBuilder(name or os.path.splitext(os.path.basename(source))[0] or "topology")
    notes: list[str] = []
    for row, line in zip(rows, _row_lines(text)):
        try:
            builder.add(row_layer(row, kind))
        except ValueError as exc:
            raise ImportFormatError(f"{source}:{line}: {exc}") from None
        if kind == "conv" and any(
            _scalesim_padding(*dims, row.stride)
            for dims in ((row.ifmap_h, row.filter_h), (row.ifmap_w, row.filter_w))
        ):
            notes.append(f"layer {row.name!r}: SCALE-Sim's last window overhangs the IFMAP; read as padding")
    sparse = [
        f"{row.name} {row.nm[0]}:{row.nm[1]}" for row in rows if row.nm is not None and row.nm[0] != row.nm[1]
    ]
    if sparse:
        notes.append(
            "N:M sparsity in the topology is not applied (accelsim prunes through masks): "
            + ", ".join(sparse)
        )
    return Imported(builder.build(), None, tuple(notes))


def _row_lines(text: str) -> list[int]:
    return [n for n, raw in enumerate(text.splitlines(), start=1) if n > 1 and raw.strip()]
