"""Notebook views: Report and store rows as pandas DataFrames, and Report's HTML summary."""

import re
import sys
from dataclasses import replace
from html.parser import HTMLParser

import pandas as pd
import pytest

from accelsim import load_hardware, simulate
from accelsim.dse import Point, explore, serial
from accelsim.timing.report_views import TOP_LAYERS, to_frame
from reports import frames
from workloads.importers.errors import MissingExtraError


@pytest.fixture(scope="module")
def report():
    return simulate("lenet5", "scalesim_32x32")


class _Tables(HTMLParser):
    """Every table of an HTML string as (caption, header row, body rows) of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self.cell: list[str] | None = None
        self.row: list[str] = []
        self.in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "caption":
            self.in_caption = True
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self.in_caption = False
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell))
            self.cell = None
        elif tag == "tr":
            self.tables[-1]["rows"].append(self.row)

    def handle_data(self, data):
        if self.in_caption:
            self.tables[-1]["caption"] += data
        elif self.cell is not None:
            self.cell.append(data)


def _tables(html: str) -> list[dict]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def test_report_to_frame_holds_the_records(report):
    frame = report.to_frame()
    records = report.to_records()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(records[0]) and len(frame) == len(report.layers)
    assert frame["cycles"].sum() == report.cycles
    assert list(frame["layer"]) == [layer.name for layer in report.layers]
    energy = report.to_frame(energy=True)
    assert {"layer", "component", "action", "energy_pj"} <= set(energy.columns)
    assert energy["energy_pj"].sum() == pytest.approx(report.energy_pj)


def test_store_rows_as_a_dataframe(tmp_path):
    hardware = load_hardware("scalesim_32x32")
    store = tmp_path / "s.sqlite"
    explore([Point("lenet5", hardware), Point("mlp", hardware)], executor=serial(), store=store)
    rows = frames.from_store(store)
    frame = frames.to_dataframe(rows)
    assert list(frame.columns) == list(rows[0]) and len(frame) == 2
    assert frame.set_index("network")["cycles"].to_dict() == {r["network"]: r["cycles"] for r in rows}


def test_to_frame_without_pandas_names_the_extra(monkeypatch, report):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` raise ImportError
    with pytest.raises(MissingExtraError, match=r"accelsim\[pandas\]"):
        report.to_frame()
    with pytest.raises(MissingExtraError):
        to_frame([{"a": 1}])


def test_html_summary_has_totals_top_layers_and_energy_by_component(report):
    totals, layers, energy = _tables(report._repr_html_())
    values = dict(totals["rows"][1:])
    assert values["cycles"] == f"{report.cycles:,}" and values["MACs"] == f"{report.macs:,}"
    assert (
        int(values["compute cycles"].replace(",", "")) + int(values["stall cycles"].replace(",", ""))
        == report.cycles
    )
    assert "speedup" not in " ".join(values)  # a dense run has nothing to compare with
    # The busiest layers, most cycles first, no more than TOP_LAYERS of them.
    busiest = sorted(report.layers, key=lambda layer: layer.cycles, reverse=True)[:TOP_LAYERS]
    assert layers["rows"][0] == ["layer", "kind", "MACs", "cycles", "% cycles", "util %", "energy"]
    assert [row[0] for row in layers["rows"][1:]] == [layer.name for layer in busiest]
    assert layers["caption"] == f"top {TOP_LAYERS} of {len(report.layers)} layers by cycles"
    shares = [float(row[2]) for row in energy["rows"][1:]]
    assert sum(shares) == pytest.approx(100.0, abs=0.1 * len(shares))
    assert {row[0] for row in energy["rows"][1:]} == set(report.energy_by_component_pj())
    unit = re.fullmatch(r"([\d.,]+) (pJ|nJ|µJ|mJ|J)", values["energy"])
    scale = {"pJ": 1, "nJ": 1e3, "µJ": 1e6, "mJ": 1e9, "J": 1e12}[unit[2]]
    assert float(unit[1].replace(",", "")) * scale == pytest.approx(report.energy_pj, rel=5e-3)


def test_html_escapes_names(report):
    html = replace(report, network="<script>alert(1)</script>")._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_html_shows_speedups_of_a_sparse_run():
    import numpy as np

    from workloads.zoo import get_network

    network = get_network("lenet5")
    layer = next(layer for layer in network if getattr(layer, "weight_shape", None))
    mask = np.zeros(layer.weight_shape, dtype=bool)
    mask.flat[::2] = True
    sparse = simulate(network, "sparse_edge_16x16", masks={layer.name: mask})
    values = dict(_tables(sparse._repr_html_())[0]["rows"][1:])
    assert values["achieved speedup"] == f"{sparse.achieved_speedup:.2f}×"
    assert values["ideal speedup"] == f"{sparse.ideal_speedup:.2f}×"
