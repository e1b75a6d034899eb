"""The sparsity study sweeps real masks on a dense and two sparse presets and plots them."""

import pytest

from reports.studies import sparsity_speedup


@pytest.fixture(scope="module")
def rows():
    return sparsity_speedup.sweep(input_size=32, sparsities=(0.5, 0.9), mode="analytical")


def test_every_case_has_a_row(rows):
    cases = {(r["hardware"], r["pattern"], r["sparsity"]) for r in rows}
    for preset in sparsity_speedup.PRESETS:
        for pattern in sparsity_speedup.PATTERNS:
            assert (preset, pattern, 0.0) in cases
        assert (preset, "2:4", 0.5) in cases and (preset, "2:4", 0.9) not in cases
        assert (preset, "unstructured", 0.9) in cases
    assert len(rows) == len(cases)


def test_speedups_are_consistent(rows):
    by = {(r["hardware"], r["pattern"], r["sparsity"]): r for r in rows}
    for r in rows:
        if r["pattern"] != "channel":  # compacted channels may beat the MAC ratio
            assert r["speedup"] <= r["ideal_speedup"] + 1e-12
    # 2:4 hardware speeds up 2:4 masks and falls back to dense for anything else.
    assert by[("nm_tensor_32x32", "2:4", 0.5)]["speedup"] > 1.3
    assert by[("nm_tensor_32x32", "unstructured", 0.9)]["speedup"] == 1.0
    # Bitmap skipping gains more at 90% than at 50%.
    edge = "sparse_edge_16x16"
    assert by[(edge, "unstructured", 0.9)]["speedup"] > by[(edge, "unstructured", 0.5)]["speedup"] > 1.0
    # Without sparse support only channel pruning pays, through compaction; an unstructured mask
    # gains only the few fc inputs it happens to empty.
    dense_hw = "scalesim_32x32"
    assert by[(dense_hw, "channel", 0.9)]["speedup"] > by[(dense_hw, "channel", 0.5)]["speedup"] > 1.3
    assert 1.0 <= by[(dense_hw, "unstructured", 0.9)]["speedup"] < 1.01
    assert by[(dense_hw, "block 4x4", 0.5)]["speedup"] < 1.01
    # Pooling and adds do not shrink, so even the ideal stays below 1 / (1 - 0.9).
    assert (
        by[(edge, "unstructured", 0.9)]["speedup"] < by[(edge, "unstructured", 0.9)]["ideal_speedup"] < 10.0
    )


def test_main_writes_both_figures(tmp_path):
    written = sparsity_speedup.main(["--out", str(tmp_path), "--toy", "--mode", "analytical"])
    names = {p.name for p in written}
    for stem in ("sparsity_speedup", "sparsity_energy"):
        assert {f"{stem}.pdf", f"{stem}.png", f"{stem}.csv"} <= names
    assert all(p.stat().st_size > 0 for p in written)
