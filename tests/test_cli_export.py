"""`accelsim export` and the new `--network` / `--hardware` inputs: files in, files out, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.cli import export as cli_export
from accelsim.cli.main import main
from accelsim.timing.report import Report
from workloads.importers import MissingExtraError


def _report(tmp_path: Path, name: str, *argv: str) -> Report:
    target = tmp_path / f"{name}.json"
    assert main(["simulate", "--mode", "analytical", "--json", str(target), *argv]) == 0
    return Report.from_json(target.read_text())


def test_export_network_then_simulate_the_file_gives_the_same_report(tmp_path: Path, capsys) -> None:
    path = tmp_path / "r18.yaml"
    assert main(["export", "network", "--network", "resnet18", "--input-size", "64", "--out", str(path)]) == 0
    assert "31 layers" in capsys.readouterr().out
    from_zoo = _report(tmp_path, "zoo", "--network", "resnet18", "--input-size", "64")
    from_file = _report(tmp_path, "file", "--network", str(path))
    assert from_file.to_records() == from_zoo.to_records()


def test_export_scalesim_then_simulate_its_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "ss"
    argv = [
        "export",
        "scalesim",
        "--network",
        "lenet5",
        "--hardware",
        "edge_16x16",
        "--set",
        "pe.dataflow=ws",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "python -m scalesim.scale -c" in captured.out and str(out / "topology.csv") in captured.out
    assert (
        "accelsim: note: SCALE-Sim models only MAC layers; left out 2 layer(s): pool1, pool2" in captured.err
    )
    report = _report(
        tmp_path, "ss", "--network", str(out / "topology.csv"), "--hardware", str(out / "scalesim.cfg")
    )
    zoo = _report(
        tmp_path, "zoo", "--network", "lenet5", "--hardware", "edge_16x16", "--set", "pe.dataflow=ws"
    )
    assert report.hardware == "lenet5" and [layer.name for layer in report.layers] == [
        "conv1",
        "conv2",
        "fc1",
        "fc2",
        "fc3",
    ]
    # Same array and dataflow, so every MAC layer computes for as long as it did from the zoo.
    zoo_compute = {layer.name: layer.compute_cycles for layer in zoo.layers}
    assert {layer.name: layer.compute_cycles for layer in report.layers} == {
        name: zoo_compute[name] for name in ("conv1", "conv2", "fc1", "fc2", "fc3")
    }


@pytest.mark.parametrize(
    "files, argv_tail, needle",
    [
        (
            {
                "bad.cfg": "[general]\nrun_name = x\n[run_presets]\nInterfaceBandwidth : CALC\n"
                "[architecture_presets]\nArrayHeight : 0\n"
            },
            ["--hardware", "{tmp}/bad.cfg"],
            "bad.cfg:6: ArrayHeight: must be a positive integer, got '0'",
        ),
        (
            {"bad.csv": "h,\nc1, 4, 4, 1, 1, 2, two, 1,\n"},
            ["--network", "{tmp}/bad.csv"],
            "--network: {tmp}/bad.csv:2: Num Filter: must be a positive integer, got 'two'",
        ),
        (
            {"bad.yaml": "name: n\nlayers: [{type: Pool, name: p}]\n"},
            ["--network", "{tmp}/bad.yaml"],
            "bad.yaml:2: layers[0] (Pool)",
        ),
        (
            {},
            ["--network", "nonexistent_pkg_xyz:build"],
            "--network 'nonexistent_pkg_xyz:build': cannot import module 'nonexistent_pkg_xyz'",
        ),
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path, capsys, files, argv_tail, needle) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    argv = ["simulate"] + [a.format(tmp=tmp_path) for a in argv_tail]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle.format(tmp=tmp_path) in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_optional_dependency_names_the_extra(monkeypatch, capsys) -> None:
    def needs_onnx(spec: str, *, input_size: int | None = None):
        raise MissingExtraError("onnx", "onnx")

    monkeypatch.setattr("workloads.importers.source.load_network", needs_onnx)
    assert main(["simulate", "--network", "model.onnx"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == "accelsim: error: --network: this needs the optional dependency 'onnx': "
        "install it with pip install 'accelsim[onnx]'"
    )


def test_export_scalesim_refuses_what_scalesim_cannot_run(tmp_path: Path, capsys) -> None:
    path = tmp_path / "dil.yaml"
    path.write_text(
        "name: d\nlayers:\n  - {type: Conv2d, name: c, in_channels: 1, out_channels: 1, "
        "kernel_size: 3, input_hw: 9, dilation: 2}\n"
    )
    assert main(["export", "scalesim", "--network", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "layer 'c': SCALE-Sim has no dilation" in capsys.readouterr().err


def test_simulate_help_names_the_new_inputs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert " ".join(cli_export.NETWORK_HELP.split()) in help_text and "SCALE-Sim .cfg" in help_text
