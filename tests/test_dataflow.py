"""Dataflow values (accelsim.arch.dataflow) and the named fold-table columns they feed."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accelsim.arch.dataflow import DATAFLOWS, IS, OS, WS, dataflow
from accelsim.arch.hardware import HardwareError, load_hardware
from accelsim.timing.fold_table import FOLD_COLUMNS, FoldColumn, fold_table
from accelsim.timing.mapping import map_layer
from workloads.layers import Conv2d


def test_each_dataflow_maps_the_gemm_dimensions_of_its_name():
    # Weight-stationary holds the filter (k x n) in the PEs and streams the m output pixels;
    # input-stationary holds the ifmap (k x m) and streams the n filters; output-stationary
    # accumulates the m x n outputs in place and streams the reduction k.
    m, k, n = 2, 3, 5
    assert WS.dims(m, k, n) == (k, n, m) and WS.stationary == "filter"
    assert IS.dims(m, k, n) == (k, m, n) and IS.stationary == "ifmap"
    assert OS.dims(m, k, n) == (m, n, k) and OS.stationary == "ofmap"
    assert [dataflow(name) for name in DATAFLOWS] == [WS, OS, IS]
    assert len({flow.code for flow in (WS, OS, IS)}) == 3


def test_unknown_dataflows_are_named():
    with pytest.raises(ValueError, match=r"unknown dataflow 'rs'; expected one of ws, os, is"):
        dataflow("rs")
    with pytest.raises(HardwareError, match=r"pe.dataflow.*'rs'"):
        load_hardware("edge_16x16").replace("pe.dataflow", "rs")


def _hw(rows: int, cols: int, name: str) -> SimpleNamespace:
    return SimpleNamespace(
        pe=SimpleNamespace(rows=rows, cols=cols, dataflow=name, stream_cycles=lambda steps, *_: steps),
        buffers=SimpleNamespace(capacity_bytes=lambda op: 1 << 20),
        word_bytes=lambda op: 1,
        bytes_of=lambda op, words: words * 1,
        datatypes=SimpleNamespace(bits=lambda op: 8 * 1),
        # the SCALE-Sim fold order: DRAM bytes per fold as the fold table lays them
        memory=SimpleNamespace(model="scalesim"),
    )


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8), st.sampled_from(DATAFLOWS), st.integers(1, 3), st.integers(3, 8))
def test_fold_table_columns_by_name_add_up_to_the_layer(rows, cols, name, groups, hw_out):
    layer = Conv2d("c", 2 * groups, 3 * groups, 3, (hw_out, hw_out), groups=groups)
    table = fold_table(layer, _hw(rows, cols, name)).table
    assert tuple(column.name for column in FoldColumn) == FOLD_COLUMNS and table.shape[1] == len(FOLD_COLUMNS)
    # Every MAC of the layer happens in exactly one fold, whatever the dataflow.
    assert int(table[:, FoldColumn.macs].sum()) == layer.gemm.macs
    # Each fold reads its whole filter slice (r x c, or T x r / T x c words) from SRAM at least once.
    assert np.all(table[:, FoldColumn.sram_filter] > 0)
    mapping = map_layer(layer, _hw(rows, cols, name))
    assert int(table[:, FoldColumn.compute_cycles].sum()) == mapping.compute_cycles
