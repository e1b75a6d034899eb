"""The reuse memory model (accelsim.timing.tiling): its traffic against an explicit loop-nest walk, the
SCALE-Sim schedule and the compulsory bound, and how the bytes reach the folds."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch.hardware import load_hardware
from accelsim.timing.fold_table import fold_table
from accelsim.timing.mapping import map_layer
from accelsim.timing.tiling import _refetch, search_tiling, traffic_segments
from workloads.layers import Conv2d, Linear, MatMul
from workloads.zoo import get_network, list_networks

SMALL = load_hardware("edge_16x16")


def _hardware(base, size_bytes: int, model: str = "reuse"):
    hw = base.replace("memory.model", model)
    if hw.buffers.unified:
        return hw.replace("buffers.glb.size_bytes", 3 * size_bytes)
    for op in ("ifmap", "filter", "ofmap"):
        hw = hw.replace(f"buffers.{op}.size_bytes", size_bytes)
    return hw


def _dram(mapping) -> int:
    return sum(mapping.dram_read_bytes.values()) + sum(mapping.dram_write_bytes.values())


# -- an independent twin: walk the loop nest tile by tile --------------------------------------
def _touched_rows(layer, first_row: int, rows: int) -> set[int]:
    """Input rows (unpadded) the windows of output rows [first_row, first_row + rows) read."""
    if not isinstance(layer, Conv2d):
        return set(range(first_row, first_row + rows))
    (kh, _), (ih, _), (sh, _), (ph, _), (dh, _) = (
        layer.kernel_size,
        layer.input_hw,
        layer.stride,
        layer.padding,
        layer.dilation,
    )
    return {
        o * sh - ph + j * dh
        for o in range(first_row, first_row + rows)
        for j in range(kh)
        if 0 <= o * sh - ph + j * dh < ih
    }


def _touched_cols(layer) -> int:
    if not isinstance(layer, Conv2d):
        return 1
    (_, kw), (_, iw), (_, sw), (_, pw), (_, dw) = (
        layer.kernel_size,
        layer.input_hw,
        layer.stride,
        layer.padding,
        layer.dilation,
    )
    return len(
        {
            o * sw - pw + j * dw
            for o in range(layer.output_hw[1])
            for j in range(kw)
            if 0 <= o * sw - pw + j * dw < iw
        }
    )


def _walk(layer, order: str, m_tile: int, k_tile: int, n_tile: int, word: int = 1) -> tuple[int, int]:
    """(ifmap, filter) bytes of one buffer holding one tile per operand, refilled whenever the loop
    nest (`order` over output tiles, reduction innermost) moves to a tile it does not hold."""
    if isinstance(layer, Conv2d):
        rows, window = layer.output_hw[0], math.prod(layer.kernel_size)
        channels = layer.in_channels // layer.groups
    else:
        rows, channels, window = layer.gemm.m, layer.gemm.k, 1
    n = layer.gemm.n
    ranges = {"m": range(0, rows, m_tile), "n": range(0, n, n_tile), "k": range(0, channels, k_tile)}
    held = {"ifmap": None, "filter": None}
    moved = {"ifmap": 0, "filter": 0}
    for outer, middle, k in itertools.product(ranges[order[0]], ranges[order[1]], ranges["k"]):
        at = {order[0]: outer, order[1]: middle, "k": k}
        kc = min(k_tile, channels - k)
        tiles = {
            "ifmap": (
                (at["m"], k),
                kc * len(_touched_rows(layer, at["m"], min(m_tile, rows - at["m"]))) * _touched_cols(layer),
            ),
            "filter": ((k, at["n"]), kc * window * min(n_tile, n - at["n"])),
        }
        for operand, (tile, size) in tiles.items():
            if held[operand] != tile:
                held[operand] = tile
                moved[operand] += size * word
    return moved["ifmap"] * layer.gemm.groups, moved["filter"] * layer.gemm.groups


@st.composite
def layers(draw):
    kind = draw(st.sampled_from(["conv", "linear", "matmul"]))
    if kind == "linear":
        return Linear(
            "fc", draw(st.integers(1, 300)), draw(st.integers(1, 300)), tokens=draw(st.integers(1, 40))
        )
    if kind == "matmul":
        sizes = st.integers(1, 64)
        return MatMul("mm", m=draw(sizes), k=draw(sizes), n=draw(sizes), heads=draw(st.integers(1, 3)))
    g = draw(st.integers(1, 2))
    kh = draw(st.integers(1, 5))
    size = draw(st.integers(kh, 20))
    return Conv2d(
        "conv",
        g * draw(st.integers(1, 40)),
        g * draw(st.integers(1, 40)),
        (kh, kh),
        (size, size),
        stride=(draw(st.integers(1, 3)),) * 2,
        padding=(draw(st.integers(0, kh // 2)),) * 2,
        groups=g,
    )


@settings(max_examples=80, deadline=None)
@given(layer=layers(), size=st.sampled_from([256, 1024, 4096, 16384]))
def test_chosen_schedule_moves_what_the_loop_nest_walk_moves(layer, size):
    tiling = search_tiling(layer, _hardware(SMALL, size))
    rhs = math.prod(layer.rhs_shape) if isinstance(layer, MatMul) else layer.weight_count
    tensors = (math.prod(layer.input_shape), rhs, math.prod(layer.output_shape))
    if max(tensors) <= size // 2:  # int8: every tensor fits in half its buffer
        assert tiling is not None and tiling.total_bytes == tiling.compulsory_bytes
    if tiling is None:
        return
    ifmap, weights = _walk(layer, tiling.order, tiling.m_tile, tiling.k_tile, tiling.n_tile)
    assert (tiling.ifmap_bytes, tiling.filter_bytes) == (ifmap, weights)
    assert tiling.ofmap_bytes == math.prod(layer.output_shape)
    assert tiling.total_bytes >= tiling.compulsory_bytes


def test_refetch_follows_the_loop_order():
    # (ifmap, filter) factors for 4 output-row tiles, 2 output-channel tiles, 1 reduction tile.
    # Output channels outer: the input rows are walked again for each channel tile, weights once.
    assert _refetch("nm", 4, 2, 1) == (2, 1)
    assert _refetch("mn", 4, 2, 1) == (1, 4)
    # A reduction split in tiles refetches the reused operand on every pass of the enclosing loop.
    assert _refetch("nm", 4, 2, 3) == (2, 4)
    assert _refetch("mn", 4, 2, 3) == (2, 4)
    assert _refetch("nm", 1, 5, 1) == (1, 1)  # the one input tile stays resident


@pytest.mark.parametrize("preset", ["edge_16x16", "scalesim_32x32", "cloud_128x128", "tpu_v1_like"])
def test_reuse_never_moves_more_than_scalesim_on_any_zoo_layer(preset):
    reuse = load_hardware(preset).replace("memory.model", "reuse")
    scalesim = reuse.replace("memory.model", "scalesim")
    for name in list_networks():
        for layer in get_network(name).layers():
            if layer.gemm is None:
                continue
            # The searched schedule itself beats SCALE-Sim's (no layer falls back to it).
            tiling = search_tiling(layer, reuse)
            assert tiling is not None and tiling.total_bytes <= _dram(map_layer(layer, scalesim)), layer.name
            assert _dram(map_layer(layer, reuse)) == tiling.total_bytes


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "bert_base_encoder"])
def test_a_layer_that_fits_moves_exactly_its_compulsory_traffic(name):
    big = _hardware(SMALL, 64 << 20)  # every tensor of these networks fits in half a buffer
    for layer in get_network(name).layers():
        if layer.gemm is None:
            continue
        mapping = map_layer(layer, big)
        if isinstance(layer, Conv2d):
            per_channel = len(_touched_rows(layer, 0, layer.output_hw[0])) * _touched_cols(layer)
            inputs = per_channel * layer.in_channels
        else:
            inputs = math.prod(layer.input_shape)
        weights = math.prod(layer.rhs_shape) if isinstance(layer, MatMul) else layer.weight_count
        assert mapping.dram_read_bytes == {"ifmap": inputs, "filter": weights}, layer.name
        assert mapping.dram_write_bytes == {"ofmap": math.prod(layer.output_shape)}, layer.name
        assert mapping.tiling.total_bytes == mapping.tiling.compulsory_bytes


def test_scalesim_model_keeps_the_scalesim_folds():
    layer = get_network("resnet18")["layer1.0.conv1"]
    hw = _hardware(SMALL, 4096, "scalesim")
    assert map_layer(layer, hw).tiling is None and fold_table(layer, hw).tiling is None


@pytest.mark.parametrize("preset", ["edge_16x16", "cloud_128x128"])
def test_folds_carry_the_schedule_bytes_first_tile_first(preset):
    hw = load_hardware(preset)
    for layer in get_network("resnet18").layers():
        if layer.gemm is None:
            continue
        mapping, table = map_layer(layer, hw), fold_table(layer, hw)
        tiling = mapping.tiling
        assert tiling is not None and table.tiling == tiling
        assert mapping.dram_read_bytes == {"ifmap": tiling.ifmap_bytes, "filter": tiling.filter_bytes}
        assert int(table.table[:, 5].sum()) == tiling.ifmap_bytes
        assert int(table.table[0, 5]) == min(tiling.first_ifmap_bytes, tiling.ifmap_bytes)
        assert int(table.table[0, 6]) == min(tiling.first_filter_bytes, tiling.filter_bytes)
        # Run by run, the folds are the fold table's rows.
        rows = [tuple(row) for row in table.table[:, 5:8].tolist()]
        runs = [
            (t.dram_read_bytes["ifmap"], t.dram_read_bytes["filter"], t.dram_write_bytes["ofmap"])
            for t in mapping.tiles
            for _ in range(t.count)
        ]
        assert runs == rows


@given(total=st.integers(0, 10_000), folds=st.integers(1, 50), first=st.integers(0, 500))
def test_segments_cover_every_fold_and_add_up(total, folds, first):
    from accelsim.timing.tiling import Tiling

    tiling = Tiling("nm", 1, 1, 1, total, total // 2, total // 3, first, first // 2, 0, 1)
    segments = traffic_segments(tiling, folds)
    assert segments[0][0] == 0 and segments[-1][1] == folds
    assert all(a[1] == b[0] for a, b in itertools.pairwise(segments))
    sums = [sum((e - s) * seg[2 + i] for seg in segments for s, e in [seg[:2]]) for i in range(3)]
    assert sums == [total, total // 2, total // 3]
