"""The ViT-base array-size study at toy size: files, bounds on its numbers, the verdict logic, the figure."""

import math

import pytest

from reports.labels import scaled
from reports.studies.array_size_vit import (
    TOY_NETWORK,
    TOY_SIZES,
    array_size_figure,
    main,
    sweep,
    verdict,
    verdict_markdown,
)
from workloads.zoo import get_network


@pytest.fixture(scope="module")
def toy_frame():
    return sweep(TOY_SIZES, TOY_NETWORK)


def test_toy_run_writes_pdf_png_csv(tmp_path):
    paths = main(["--out", str(tmp_path), "--toy"])
    assert {p.suffix for p in paths} == {".pdf", ".png", ".csv"} and all(p.stat().st_size for p in paths)
    header = (tmp_path / "array_size_vit.csv").read_text().splitlines()[0].split(",")
    assert {"pe.dataflow", "pe.rows", "cycles", "energy_pj", "edp_j_s"} <= set(header)


def test_rows_respect_the_compute_bound(toy_frame):
    macs = get_network("vit_b16", **TOY_NETWORK).total_macs
    assert {(r["pe.dataflow"], r["pe.rows"]) for r in toy_frame} == {
        (df, s) for df in ("ws", "os") for s in TOY_SIZES
    }
    for row in toy_frame:
        # No array finishes faster than all its PEs busy every cycle.
        assert row["cycles"] >= math.ceil(macs / row["pe.rows"] ** 2)
        assert 0 < row["utilisation"] <= 1
        assert row["edp_j_s"] == pytest.approx(row["energy_pj"] * 1e-12 * row["seconds"])
        assert 0 < row["leakage_energy_pj"] < row["energy_pj"]
        parts = ("dram", "sram", "mac", "array", "vector")
        dynamic = sum(row[f"{p}_energy_pj"] for p in parts)
        assert dynamic + row["leakage_energy_pj"] == pytest.approx(row["energy_pj"], rel=1e-9)
        # Every MAC is priced at least once: int8 on Horowitz 45 nm is 0.2 + 0.03 pJ.
        assert row["mac_energy_pj"] == pytest.approx(macs * 0.23, rel=1e-9)


def _frame(points):
    return [
        {"pe.dataflow": "ws", "pe.rows": s, "cycles": c, "energy_pj": e, "edp_j_s": c * e}
        for s, c, e in points
    ]


def test_verdict_reads_the_three_claims():
    # The paper's shape: 128 faster than 32, 32 cheaper than 128, 64 best in EDP (8*5 < 5*10 < 30*2 < 60*2.5).
    paper_like = verdict(_frame([(16, 60, 2.5), (32, 30, 2.0), (64, 8, 5.0), (128, 5, 10.0)]), "ws")
    assert paper_like["speedup_large_over_small"] == pytest.approx(6.0)
    assert paper_like["efficiency_small_over_large"] == pytest.approx(5.0)
    assert (
        paper_like["faster_at_large"],
        paper_like["more_efficient_at_small"],
        paper_like["best_edp_between"],
        paper_like["best_edp_size"],
    ) == (True, True, True, 64)
    # "Bigger is always better": the claims on energy and EDP fail.
    bigger = verdict(_frame([(32, 30, 4.0), (64, 15, 3.0), (128, 8, 2.0)]), "ws")
    assert (bigger["faster_at_large"], bigger["more_efficient_at_small"], bigger["best_edp_between"]) == (
        True,
        False,
        False,
    )
    table = verdict_markdown([bigger])
    assert "3.75x (reproduces)" in table and "128x128 (does not reproduce)" in table


def test_figure_plots_the_frame(toy_frame):
    fig = array_size_figure(toy_frame)
    metrics = ("cycles", "energy_pj", "edp_j_s", "area_mm2")[: len(fig.axes)]
    for ax, metric in zip(fig.axes, metrics):
        unit = scaled(metric, [r[metric] for r in toy_frame])
        assert ax.get_ylabel() == unit.label  # the one label map, scaled to the values' unit
        lines = ax.get_lines()
        assert len({line.get_marker() for line in lines}) == len(lines)  # tells series apart without colour
        for line in lines:
            dataflow = line.get_label().lower()
            rows = sorted((r for r in toy_frame if r["pe.dataflow"] == dataflow), key=lambda r: r["pe.rows"])
            assert list(line.get_xdata()) == [r["pe.rows"] for r in rows]
            assert list(line.get_ydata()) == pytest.approx([r[metric] * unit.factor for r in rows])
