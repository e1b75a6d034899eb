"""SCALE-Sim topology CSVs: reading keeps SCALE-Sim's shapes, writing gives rows it runs as our layers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from workloads.importers import ImportFormatError
from workloads.importers.scalesim_topology import (
    ExportFormatError,
    TopologyRow,
    format_layout,
    format_topology,
    layer_rows,
    network_rows,
    parse_topology,
    read_topology,
    row_layer,
)
from workloads.layers import Add, Conv2d, Linear, MatMul, Pool
from workloads.network import Network

HEADER = (
    "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
)


def _write(tmp_path: Path, body: str, header: str = HEADER, name: str = "topo.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + body)
    return path


def test_conv_rows_become_conv_layers_with_scalesim_output_size(tmp_path: Path) -> None:
    path = _write(tmp_path, "c1, 10, 12, 3, 3, 4, 8, 2,\n\nc2, 5, 6, 1, 1, 8, 16, 1,\n")
    imported = read_topology(path)
    c1, c2 = imported.network.layers()
    assert imported.network.name == "topo"
    # SCALE-Sim: ceil((10 - 3 + 2) / 2) = 5 rows, ceil((12 - 3 + 2) / 2) = 6 columns (a partial window).
    assert c1.output_hw == (5, 6) and c1.stride == (2, 2) and c1.kernel_size == (3, 3)
    assert (c1.in_channels, c1.out_channels, c1.groups) == (4, 8, 1)
    assert c2.output_hw == (5, 6) and c2.padding == (0, 0) and c2.macs == 5 * 6 * 8 * 16
    assert any("c1" in note and "padding" in note for note in imported.notes)
    assert imported.weights is None


@settings(max_examples=200, deadline=None)
@given(extent=st.integers(1, 60), kernel=st.integers(1, 11), stride=st.integers(1, 6))
def test_output_size_follows_scalesims_ceil_rule(extent: int, kernel: int, stride: int) -> None:
    if kernel > extent:
        return
    layer = row_layer(TopologyRow("x", extent, extent, kernel, kernel, 2, 3, stride), "conv")
    expected = math.ceil((extent - kernel + stride) / stride)
    assert layer.output_hw == (expected, expected)
    assert layer.macs == expected * expected * kernel * kernel * 2 * 3


def test_gemm_rows_become_linear_layers(tmp_path: Path) -> None:
    path = _write(tmp_path, "qk, 8, 16, 32,\nav, 4, 2, 6, 2:4,\n", header="Layer, M, N, K,\n")
    imported = read_topology(path, name="gemms")
    qk, av = imported.network.layers()
    assert isinstance(qk, Linear) and (qk.gemm.m, qk.gemm.k, qk.gemm.n) == (8, 32, 16)
    assert (av.tokens, av.in_features, av.out_features) == (4, 6, 2)
    assert imported.network.name == "gemms"
    assert any("av 2:4" in note for note in imported.notes)


def test_dp_rows_are_depthwise_like_scalesims_per_channel_split(tmp_path: Path) -> None:
    path = _write(tmp_path, "conv_DP, 6, 6, 3, 3, 5, 2, 1,\n")
    (layer,) = read_topology(path).network.layers()
    # SCALE-Sim runs 5 layers of 1 channel and 2 filters each.
    assert (layer.groups, layer.in_channels, layer.out_channels) == (5, 5, 10)
    assert layer.macs == 5 * (4 * 4 * 3 * 3 * 1 * 2)


def test_nm_column_is_parsed_and_dense_ratio_needs_no_note(tmp_path: Path) -> None:
    rows, kind = parse_topology(HEADER + "a, 4, 4, 1, 1, 8, 8, 1, 1:1,\nb, 4, 4, 1, 1, 8, 8, 1, 2:4,\n")
    assert kind == "conv" and [r.nm for r in rows] == [(1, 1), (2, 4)]
    notes = read_topology(_write(tmp_path, "a, 4, 4, 1, 1, 8, 8, 1, 1:1,\n")).notes
    assert not notes


@pytest.mark.parametrize(
    "body, needle",
    [
        ("c1, 10, 10, 3, 3, 4, 8, 1\n", "topo.csv:2: row must end with a comma"),
        ("c1, 10, 10, 3, 3, four, 8, 1,\n", "topo.csv:2: Channels: must be a positive integer, got 'four'"),
        ("c1, 10, 10, 3, 3, 4, 0, 1,\n", "topo.csv:2: Num Filter: must be a positive integer, got 0"),
        ("c1, 10, 10, 3, 3, 4,\n", "topo.csv:2: expected a conv row"),
        ("c1, 2, 10, 3, 3, 4, 8, 1,\n", "topo.csv:2: Filter Height: 3 exceeds the IFMAP extent 2"),
        ("c1, 10, 10, 3, 3, 4, 8, 1,\ng, 1, 2, 3,\n", "topo.csv:3: a gemm row in a conv topology"),
        (
            "c1, 10, 10, 3, 3, 4, 8, 1, 5:4,\n",
            "topo.csv:2: Sparsity: must be N:M with 1 <= N <= M, got '5:4'",
        ),
        (" , 10, 10, 3, 3, 4, 8, 1,\n", "topo.csv:2: Layer name: must not be empty"),
        (
            "c1, 10, 10, 3, 3, 4, 8, 1,\nc1, 10, 10, 3, 3, 4, 8, 1,\n",
            "topo.csv:3: network 'topo': duplicate layer",
        ),
        ("", "topo.csv: no layer rows"),
    ],
)
def test_malformed_topology_names_file_line_and_field(tmp_path: Path, body: str, needle: str) -> None:
    with pytest.raises(ImportFormatError) as info:
        read_topology(_write(tmp_path, body))
    assert needle in str(info.value)


def test_missing_file_is_an_import_error(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="missing.csv: cannot read topology"):
        read_topology(tmp_path / "missing.csv")


# --------------------------------------------------------------------------------------- writing


def _gemms(layer) -> list[tuple[int, int, int]]:
    g = layer.gemm
    return [(g.m, g.k, g.n)] * g.groups


def _row_gemms(row: TopologyRow) -> list[tuple[int, int, int]]:
    """The GEMMs SCALE-Sim runs for a row (its own formulas: ceil output, DP split per channel)."""
    ho = math.ceil((row.ifmap_h - row.filter_h + row.stride) / row.stride)
    wo = math.ceil((row.ifmap_w - row.filter_w + row.stride) / row.stride)
    if row.depthwise:
        return [(ho * wo, row.filter_h * row.filter_w, row.num_filter)] * row.channels
    return [(ho * wo, row.filter_h * row.filter_w * row.channels, row.num_filter)]


conv_layers = st.builds(
    lambda c, groups, k, kh, kw, h, w, s, p: Conv2d(
        "c", c * groups, k * groups, (kh, kw), (max(h, kh), max(w, kw)), stride=s, padding=p, groups=groups
    ),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 12),
    st.integers(1, 12),
    st.integers(1, 4),
    st.integers(0, 2),
)
gemm_layers = st.one_of(
    st.builds(Linear, st.just("fc"), st.integers(1, 40), st.integers(1, 40), st.integers(1, 9)),
    st.builds(
        MatMul, st.just("mm"), st.integers(1, 9), st.integers(1, 9), st.integers(1, 9), st.integers(1, 3)
    ),
)


@settings(max_examples=200, deadline=None)
@given(layer=st.one_of(conv_layers, gemm_layers))
def test_written_rows_run_the_same_gemms_in_scalesim_and_read_back(layer) -> None:
    rows = layer_rows(layer)
    assert [g for row in rows for g in _row_gemms(row)] == _gemms(layer)
    parsed, kind = parse_topology(format_topology(rows))
    assert parsed == rows and kind == "conv"
    back = [row_layer(row, kind) for row in parsed]
    assert [g for b in back for g in _gemms(b)] == _gemms(layer)


def test_network_rows_make_names_safe_and_skip_layers_without_macs() -> None:
    network = Network.sequential(
        "n",
        [
            Conv2d("aDPb", 2, 4, 3, 6),
            Conv2d("x,y", 4, 4, 1, 4),
            Conv2d("x_y", 4, 4, 1, 4),
            Pool("pool", 4, 4, 2, 2),
            Conv2d("dw", 4, 4, 3, 2, padding=1, groups=4),
            Add("add", (4, 2, 2)),
        ],
    )
    rows, notes = network_rows(network)
    assert [r.name for r in rows] == ["aDpb", "x_y", "x_y_", "dw_DP"]
    assert [r.depthwise for r in rows] == [False, False, False, True]
    assert notes == ["SCALE-Sim models only MAC layers; left out 2 layer(s): pool, add"]
    layout = format_layout(rows).splitlines()
    assert layout[1].startswith("aDpb, 1,") and layout[1].endswith(",") and len(layout) == 5
    assert len(layout[1].split(",")) == 22  # name, 20 integers, the trailing empty cell


@pytest.mark.parametrize(
    "layer, needle",
    [
        (Conv2d("c", 2, 2, 3, 8, stride=(1, 2)), "one stride"),
        (Conv2d("c", 2, 2, 3, 8, dilation=2), "no dilation"),
    ],
)
def test_what_scalesim_cannot_express_is_refused(layer, needle: str) -> None:
    with pytest.raises(ExportFormatError, match=needle):
        layer_rows(layer)


def test_a_network_without_mac_layers_is_refused() -> None:
    with pytest.raises(ExportFormatError, match="no layer SCALE-Sim can run"):
        network_rows(Network.sequential("p", [Pool("pool", 4, 4, 2, 2)]))


def test_nm_column_is_written_only_when_some_row_has_one() -> None:
    dense = TopologyRow("a", 4, 4, 1, 1, 8, 8, 1)
    assert "Sparsity" not in format_topology([dense])
    text = format_topology([dense, TopologyRow("b", 4, 4, 1, 1, 8, 8, 1, nm=(2, 4))])
    assert text.splitlines()[1:] == ["a, 4, 4, 1, 1, 8, 8, 1, 1:1,", "b, 4, 4, 1, 1, 8, 8, 1, 2:4,"]
