"""Closed-form properties of accelsim.timing.mapping (SCALE-Sim agreement lives in test_scalesim_xval)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from accelsim.timing.mapping import LayerMapping, TileClass, map_layer
from workloads.layers import Add, Conv2d, Linear, MatMul


def hw(rows=4, cols=4, dataflow="ws", capacity=1 << 20, word=1):
    # SCALE-Sim's fold order and refetches: the closed forms tested here (tests/test_tiling.py
    # covers the default reuse model).
    return SimpleNamespace(
        pe=SimpleNamespace(rows=rows, cols=cols, dataflow=dataflow, stream_cycles=lambda steps, *_: steps),
        buffers=SimpleNamespace(capacity_bytes=lambda op: capacity),
        word_bytes=lambda op: word,
        bytes_of=lambda op, words: words * word,
        datatypes=SimpleNamespace(bits=lambda op: 8 * word),
        memory=SimpleNamespace(model="scalesim"),
    )


dims = st.integers(1, 40)
arrays = st.tuples(st.integers(1, 9), st.integers(1, 9))
dataflows = st.sampled_from(["ws", "os", "is"])


@st.composite
def gemm_layers(draw):
    kind = draw(st.sampled_from(["conv", "linear", "matmul"]))
    if kind == "linear":
        return Linear("fc", in_features=draw(dims), out_features=draw(dims), tokens=draw(dims))
    if kind == "matmul":
        return MatMul("mm", m=draw(dims), k=draw(dims), n=draw(dims), heads=draw(st.integers(1, 4)))
    g = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return Conv2d(
        "conv",
        g * draw(st.integers(1, 4)),
        g * draw(st.integers(1, 4)),
        (kh, kw),
        (draw(st.integers(kh, 9)), draw(st.integers(kw, 9))),
        stride=(draw(st.integers(1, 2)),) * 2,
        groups=g,
    )


def _folds(df, g, R, C):
    sr, sc = {"ws": (g.k, g.n), "is": (g.k, g.m), "os": (g.m, g.n)}[df]
    return g.groups * math.ceil(sr / R) * math.ceil(sc / C)


@settings(max_examples=150, deadline=None)
@given(layer=gemm_layers(), array=arrays, df=dataflows)
def test_gemm_invariants(layer, array, df):
    R, C = array
    g = layer.gemm
    m = map_layer(layer, hw(R, C, df))
    assert m.unit == "array" and m.dataflow == df
    assert m.macs == layer.macs == sum(t.count * t.macs for t in m.tiles)
    assert m.folds == _folds(df, g, R, C)
    assert 0 < m.mapping_efficiency <= 1
    assert 0 < m.compute_utilisation <= m.mapping_efficiency
    assert m.compute_cycles >= math.ceil(m.macs / (R * C))
    assert m.compute_cycles == sum(t.count * t.compute_cycles for t in m.tiles)
    T = {"ws": g.m, "is": g.n, "os": g.k}[df]
    per_fold = (R + C + T - 2) if df == "os" else (2 * R + C + T - 2)
    assert all(t.compute_cycles == per_fold for t in m.tiles)
    # Useful MACs of a fold never exceed the array's capacity over the streamed dimension.
    assert all(0 < t.macs <= R * C * T for t in m.tiles)
    # SRAM: the stationary operand is read once; the streamed ones once per fold that needs them.
    if df == "ws":
        assert m.sram_reads["filter"] == g.groups * g.k * g.n
        assert m.sram_reads["ifmap"] == g.groups * g.m * g.k * math.ceil(g.n / C)
        assert m.sram_writes["ofmap"] == g.groups * g.m * g.n * math.ceil(g.k / R)
    elif df == "is":
        assert m.sram_reads["ifmap"] == g.groups * g.m * g.k
        assert m.sram_reads["filter"] == g.groups * g.k * g.n * math.ceil(g.m / C)
        assert m.sram_writes["ofmap"] == g.groups * g.m * g.n * math.ceil(g.k / R)
    else:
        assert m.sram_writes["ofmap"] == g.groups * g.m * g.n
        assert m.sram_reads["ifmap"] == g.groups * g.m * g.k * math.ceil(g.n / C)
        assert m.sram_reads["filter"] == g.groups * g.k * g.n * math.ceil(g.m / R)


@settings(max_examples=100, deadline=None)
@given(layer=gemm_layers(), array=arrays, df=dataflows, word=st.sampled_from([1, 2, 4]))
def test_dram_fits_means_each_operand_moves_once(layer, array, df, word):
    g = layer.gemm
    m = map_layer(layer, hw(*array, df, capacity=1 << 30, word=word))
    assert m.dram_read_bytes["ifmap"] == g.groups * g.m * g.k * word
    assert m.dram_read_bytes["filter"] == g.groups * g.k * g.n * word
    assert m.dram_write_bytes["ofmap"] == g.groups * g.m * g.n * word


@settings(max_examples=100, deadline=None)
@given(layer=gemm_layers(), array=arrays, df=dataflows)
def test_dram_tiny_buffers_refetch_but_never_less_than_once(layer, array, df):
    big = map_layer(layer, hw(*array, df, capacity=1 << 30))
    tiny = map_layer(layer, hw(*array, df, capacity=1))
    for op in ("ifmap", "filter"):
        assert tiny.dram_read_bytes[op] >= big.dram_read_bytes[op]
        # Never more than every SRAM read coming from DRAM.
        assert tiny.dram_read_bytes[op] <= tiny.sram_reads[op]
    assert tiny.dram_write_bytes["ofmap"] == tiny.sram_writes["ofmap"]
    assert tiny.compute_cycles == big.compute_cycles


def test_tiles_are_run_length_encoded_in_order():
    m = map_layer(Conv2d("c", 6, 10, (3, 3), (8, 8), groups=2), hw(4, 4, "ws"))
    for a, b in zip(m.tiles, m.tiles[1:]):
        assert not a.same_fold(b)
    depthwise = map_layer(Conv2d("dw", 64, 64, (3, 3), (8, 8), groups=64), hw(16, 16, "ws"))
    assert len(depthwise.tiles) == 1 and depthwise.folds == 64


def test_hand_worked_ws_example():
    # m = 12 (4x3 output), k = 18, n = 6 on 4x4: 5 row folds x 2 column folds.
    m = map_layer(Conv2d("a", 2, 6, (3, 3), (6, 5)), hw(4, 4, "ws"))
    assert (m.folds, m.compute_cycles) == (10, 10 * (2 * 4 + 4 + 12 - 2))
    assert m.mapping_efficiency == pytest.approx(18 * 6 / 16 / 10)
    assert m.compute_utilisation == pytest.approx(18 * 6 * 12 / (16 * (8 + 8 + 12 - 3)) / 10)
    assert m.sram_reads == {"ifmap": 432, "filter": 108}
    assert m.sram_writes == {"ofmap": 360}


def test_vector_layer():
    add = Add("add", (8, 5, 5))
    m = map_layer(add, hw(4, 6, "os", word=2))
    assert m.unit == "vector" and m.macs == 0 and m.folds == 1
    assert m.compute_cycles == math.ceil(add.ops / 6)
    assert m.sram_reads["ifmap"] == 2 * 200 and m.sram_writes["ofmap"] == 200
    assert m.dram_read_bytes["ifmap"] == 800 and m.dram_write_bytes["ofmap"] == 400
    assert 0 < m.mapping_efficiency <= 1


def test_errors_name_the_value():
    with pytest.raises(ValueError, match="count"):
        TileClass(
            count=0,
            compute_cycles=1,
            macs=0,
            sram_reads={},
            sram_writes={},
            dram_read_bytes={},
            dram_write_bytes={},
        )
    with pytest.raises(ValueError, match="dataflow"):
        map_layer(Linear("fc", 3, 3, 1), hw(2, 2, "xs"))
    with pytest.raises(ValueError, match="unit"):
        LayerMapping(
            layer="x", unit="gpu", dataflow="ws", tiles=(), mapping_efficiency=1.0, compute_utilisation=1.0
        )


def test_real_preset_hardware():
    from accelsim.arch.hardware import load_hardware

    hwp = load_hardware("scalesim_32x32")
    m = map_layer(Conv2d("c", 64, 64, (3, 3), (56, 56), padding=(1, 1)), hwp)
    assert m.macs == 64 * 64 * 9 * 56 * 56 and m.dataflow == "os"


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 70),
    k=st.integers(1, 70),
    n=st.integers(1, 70),
    groups=st.sampled_from([1, 2, 3]),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    dataflow=st.sampled_from(["ws", "os", "is"]),
    sram=st.sampled_from([64, 1024, 1 << 20]),
)
def test_fold_table_is_map_layer_fold_by_fold(m, k, n, groups, rows, cols, dataflow, sram):
    import numpy as np

    from accelsim.arch.hardware import load_hardware
    from accelsim.timing.fold_table import fold_table, tiles_of

    hw = load_hardware("scalesim_32x32")
    for path, value in (
        ("pe.rows", rows),
        ("pe.cols", cols),
        ("pe.dataflow", dataflow),
        ("buffers.ifmap.size_bytes", sram),
        ("buffers.filter.size_bytes", sram),
        ("buffers.ofmap.size_bytes", sram),
    ):
        hw = hw.replace(path, value)
    layer = Conv2d("c", groups * k, groups * n, (1, 1), (m, 1), groups=groups)  # groups x (m, k) @ (k, n)
    mapping = map_layer(layer, hw)
    expanded = np.repeat(
        np.array(
            [
                [
                    t.compute_cycles,
                    t.macs,
                    t.sram_reads["ifmap"],
                    t.sram_reads["filter"],
                    t.sram_writes["ofmap"],
                    t.dram_read_bytes["ifmap"],
                    t.dram_read_bytes["filter"],
                    t.dram_write_bytes["ofmap"],
                ]
                for t in mapping.tiles
            ]
        ),
        [t.count for t in mapping.tiles],
        axis=0,
    )
    folds = fold_table(layer, hw)
    assert np.array_equal(folds.table, expanded)
    assert tiles_of(folds.table) == mapping.tiles
    assert folds.mapping_efficiency == pytest.approx(mapping.mapping_efficiency, rel=1e-12)
    assert folds.compute_utilisation == pytest.approx(mapping.compute_utilisation, rel=1e-12)
    assert int((folds.r * folds.c).sum()) * folds.T == mapping.macs
