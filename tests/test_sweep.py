"""Sweep files and the `accelsim sweep` / `accelsim plot` commands."""

import textwrap
from pathlib import Path

import pytest

from accelsim.cli.main import main
from accelsim.dse import Store
from accelsim.dse.sweep_config import SweepConfigError, load_sweep, parse_sweep

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
hardware: scalesim_32x32
networks: [lenet5, {name: mlp}]
zip:
  pe.rows: [8, 16]
  pe.cols: [8, 16]
grid:
  pe.dataflow: [ws, os]
executor: serial
store: out.sqlite
"""


def write(tmp_path, text):
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_sweep_expands_in_order(tmp_path):
    config = load_sweep(write(tmp_path, GOOD))
    assert len(config.points) == 8
    assert [
        (p.network, p.hardware.pe.rows, p.hardware.pe.cols, p.hardware.pe.dataflow) for p in config.points[:3]
    ] == [("lenet5", 8, 8, "ws"), ("lenet5", 8, 8, "os"), ("lenet5", 16, 16, "ws")]
    assert config.store == tmp_path / "out.sqlite" and config.executor == {"kind": "serial"}
    assert config.axes == ("network", "mode", "pe.rows", "pe.cols", "pe.dataflow")


def test_sample_is_a_seeded_subset(tmp_path):
    text = GOOD + "sample: {n: 5, seed: 3}\n"
    a = parse_sweep(text)
    assert len(a.points) == 5 and [p.key for p in a.points] == [p.key for p in parse_sweep(text).points]
    assert {p.key for p in a.points} <= {p.key for p in parse_sweep(GOOD).points}


@pytest.mark.parametrize(
    "text, message",
    [
        (
            GOOD.replace("pe.dataflow: [ws, os]", "pe.rowz: [8]"),
            r"sweep.yaml:7: grid.pe.rowz: unknown hardware field",
        ),
        (
            GOOD.replace("pe.dataflow: [ws, os]", "pe.dataflow: []"),
            r"sweep.yaml:7: grid.pe.dataflow: empty axis",
        ),
        (GOOD.replace("{name: mlp}", "resnet51"), r"sweep.yaml:2: networks\[1\]: unknown network 'resnet51'"),
        (
            GOOD.replace("pe.dataflow: [ws, os]", "pe.dataflow: [ws, xs]"),
            r"sweep.yaml:7: grid.pe.dataflow: .*'xs'",
        ),
        (
            GOOD.replace("pe.cols: [8, 16]", "pe.cols: [8]"),
            r"sweep.yaml:3: zip: zipped axes must have equal lengths",
        ),
        (GOOD + "colour: red\n", r"sweep.yaml:10: colour: unknown key"),
        (GOOD + "modes: [exact]\n", r"modes\[0\]: unknown mode 'exact'"),
        (
            GOOD + "pruning: [{granularity: element, amount: 0.5}]\n",
            r"sweep.yaml:10: pruning\[0\].granularity: must be one of unstructured, block, nm, channel, got 'element'",
        ),
        (
            GOOD + "pruning: [null, {granularity: block, amount: 0.5}]\n",
            r"sweep.yaml:10: pruning\[1\].block_shape: granularity block needs block_shape",
        ),
        (
            GOOD + "pruning:\n  - null\n  - granularity: block\n    amount: 0.5\n    block_shape: [4]\n",
            r"sweep.yaml:14: pruning\[1\].block_shape: must be \[rows, cols\]",
        ),
        (
            GOOD + "pruning: [{granularity: block, amount: 0.5, block_shape: [7, 7]}]\n",
            r"pruning\[0\].block_shape: \[7, 7\] fits no weighted layer of 'lenet5'",
        ),
        (
            GOOD + "pruning: [{granularity: nm, n: 2, m: 4, amount: 0.5}]\n",
            r"pruning\[0\].amount: does not apply to .*nm",
        ),
        (
            GOOD + "pruning: [{granularity: nm, n: 5, m: 4}]\n",
            r"pruning\[0\].n: must be an integer in 0..m=4",
        ),
        (
            GOOD + "pruning: [{granularity: unstructured, amount: 1.5}]\n",
            r"pruning\[0\].amount: must be a fraction",
        ),
        (
            GOOD + "pruning: [{granularity: unstructured, amount: 0.5, sope: global}]\n",
            r"pruning\[0\].sope: unknown field; allowed: granularity, amount",
        ),
        (
            GOOD + "pruning: [{granularity: channel, amount: 0.5, scope: everywhere}]\n",
            r"pruning\[0\].scope: must be",
        ),
        (
            GOOD + "pruning: [{granularity: unstructured, amount: 0.5, seed: -1}]\n",
            r"pruning\[0\].seed: must be",
        ),
        (GOOD + "pruning: [null, 0.5]\n", r"sweep.yaml:10: pruning\[1\]: must be a plan mapping"),
        (
            GOOD + "pruning: {granularity: unstructured, amount: 0.5}\n",
            r"sweep.yaml:10: pruning: must be a list of plans",
        ),
        (GOOD + "pruning: []\n", r"sweep.yaml:10: pruning: empty axis"),
        (
            GOOD.replace("hardware: scalesim_32x32", "hardware: [scalesim_32x32, nope_8x8]"),
            r"sweep.yaml:1: hardware\[1\]: ",
        ),
        (GOOD.replace("hardware: scalesim_32x32", "hardware: []"), r"sweep.yaml:1: hardware: empty list"),
        (GOOD + "executor: serial\n", r"duplicate key 'executor'"),
        (GOOD.replace("executor: serial", "executor: {kind: ray}"), r"executor.kind"),
    ],
)
def test_malformed_sweeps_fail_naming_the_key(tmp_path, text, message):
    with pytest.raises(SweepConfigError, match=message):
        load_sweep(write(tmp_path, text))


@pytest.mark.parametrize(
    "edit",
    [
        ("pe.dataflow: [ws, os]", "pe.rowz: [8]"),
        ("pe.dataflow: [ws, os]", "pe.dataflow: []"),
        ("{name: mlp}", "resnet51"),
        ("store: out.sqlite", "store: out.sqlite\npruning: [null, {granularity: nm, n: 2}]"),
    ],
)
def test_cli_rejects_bad_sweeps_before_any_point_runs(tmp_path, capsys, edit):
    path = write(tmp_path, GOOD.replace(*edit))
    assert main(["sweep", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelsim: error: ") and err.count("\n") == 1
    assert not (tmp_path / "out.sqlite").exists()  # nothing ran, not even the store was created


def test_cli_sweep_runs_resumes_and_plots(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert main(["sweep", str(path), "--csv", str(tmp_path / "all.csv")]) == 0
    out, err = capsys.readouterr()
    assert "8 evaluated, 0 already in the store" in out
    assert "8/8 100.0%" in err and "pt/s" in err  # progress bar with rate on stderr, not stdout
    assert "pt/s" not in out
    assert (tmp_path / "all.csv").read_text().startswith("point_key,network,")
    assert main(["sweep", str(path), "--no-progress", "--executor", "process", "--workers", "2"]) == 0
    assert "0 evaluated, 8 already in the store" in capsys.readouterr().out
    with Store(tmp_path / "out.sqlite") as store:
        assert len(store) == 8

    stem = tmp_path / "figs" / "heat"
    assert (
        main(
            [
                "plot",
                str(tmp_path / "out.sqlite"),
                "--kind",
                "heatmap",
                "--x",
                "pe.rows",
                "--y",
                "network",
                "--value",
                "cycles",
                "--where",
                "pe.dataflow=ws",
                "--out",
                str(stem),
            ]
        )
        == 0
    )
    for suffix in (".pdf", ".png", ".csv"):
        assert stem.with_suffix(suffix).stat().st_size > 0
    assert stem.with_suffix(".csv").read_text().splitlines()[0] == "pe.rows,network,cycles,n_points"
    assert (
        main(
            [
                "plot",
                str(tmp_path / "out.sqlite"),
                "--kind",
                "pareto",
                "--group",
                "pe.dataflow",
                "--out",
                str(tmp_path / "pareto"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "plot",
                str(tmp_path / "out.sqlite"),
                "--kind",
                "heatmap",
                "--x",
                "nope",
                "--y",
                "network",
                "--out",
                str(tmp_path / "bad"),
            ]
        )
        == 2
    )
    assert "no column 'nope'" in capsys.readouterr().err


def test_example_sweep_file_is_valid():
    config = load_sweep(ROOT / "examples" / "sweep_resnet50.yaml")
    assert len(config.points) == 60 and {p.network for p in config.points} == {"resnet50"}


def test_example_sparsity_sweep_is_plan_major_over_both_presets():
    config = load_sweep(ROOT / "examples" / "sweep_sparsity.yaml")
    assert config.axes == ("network", "pruning", "mode", "hardware")
    assert [(p.pruning and p.pruning["granularity"], p.hardware.name) for p in config.points[:4]] == [
        (None, "sparse_edge_16x16"),
        (None, "nm_tensor_32x32"),
        ("unstructured", "sparse_edge_16x16"),
        ("unstructured", "nm_tensor_32x32"),
    ]
    assert len(config.points) == 14 == len({p.key for p in config.points})
    assert {p.network_params["input_hw"][0] for p in config.points} == {64}


def test_pruning_and_hardware_axes_cross_the_other_axes(tmp_path):
    text = GOOD.replace("hardware: scalesim_32x32", "hardware: [scalesim_32x32, sparse_edge_16x16]") + (
        "pruning: [null, {granularity: nm, n: 2, m: 4}, {granularity: unstructured, amount: 0.5, scope: local}]\n"
    )
    config = load_sweep(write(tmp_path, text))
    assert config.axes == ("network", "pruning", "mode", "hardware", "pe.rows", "pe.cols", "pe.dataflow")
    assert len(config.points) == 2 * 3 * 2 * 2 * 2 == len({p.key for p in config.points})
    first = config.points[0]
    assert (first.network, first.pruning, first.hardware.name, first.hardware.pe.rows) == (
        "lenet5",
        None,
        "scalesim_32x32",
        8,
    )
    # plans are stored canonical (defaults filled in), so spelling a default out changes nothing
    assert config.points[16].pruning == {
        "granularity": "unstructured",
        "amount": 0.5,
        "scope": "local",
        "seed": 0,
        "compact": True,
    }
    assert (
        config.points[8].hardware.name == "scalesim_32x32" and config.points[8].pruning["granularity"] == "nm"
    )
    assert config.points[4].hardware.name == "sparse_edge_16x16" and config.points[4].hardware.pe.rows == 8
