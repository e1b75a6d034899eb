"""`--network` end to end for the sources that need the importers: an ONNX file and a Python
`module:function` returning a PyTorch module. Both describe the same model, so both reports agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from accelsim.cli.main import main

MODEL_SOURCE = """
import torch
from torch import nn


def build():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )
    return model.eval(), torch.randn(1, 3, 16, 16)
"""


def _simulate(network: str, out: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    code = main(
        [
            "simulate",
            "--network",
            network,
            "--hardware",
            "scalesim_32x32",
            "--mode",
            "analytical",
            "--json",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(out.read_text())


def test_onnx_file_and_module_function_give_the_same_report(tmp_path: Path, capsys, monkeypatch) -> None:
    source = tmp_path / "my_model.py"
    source.write_text(MODEL_SOURCE)
    from_module = _simulate(f"{source}:build", tmp_path / "module.json", capsys)

    monkeypatch.syspath_prepend(str(tmp_path))
    import my_model

    model, example = my_model.build()
    onnx_path = tmp_path / "my_model.onnx"
    torch.onnx.export(model, (example,), str(onnx_path), dynamo=False, opset_version=13)
    from_onnx = _simulate(str(onnx_path), tmp_path / "onnx.json", capsys)

    layers = [layer["name"] for layer in from_module["layers"]]
    assert layers == [layer["name"] for layer in from_onnx["layers"]]
    assert any(name.startswith("0") for name in layers), layers  # torch module names, not invented ones

    def total(report: dict, field: str) -> int:
        return sum(layer[field] for layer in report["layers"])

    assert total(from_module, "cycles") == total(from_onnx, "cycles") > 0
    # conv 3->8 3x3 at 16x16, depthwise 3x3 stride 2 at 8x8, linear 8->10 (BatchNorm folded away)
    assert total(from_module, "macs") == total(from_onnx, "macs") == 16 * 16 * 8 * 27 + 8 * 8 * 8 * 9 + 8 * 10


def test_a_module_function_that_returns_something_else_is_one_line(tmp_path: Path, capsys) -> None:
    source = tmp_path / "bad_model.py"
    source.write_text("def build():\n    return 42\n")
    assert main(["simulate", "--network", f"{source}:build", "--mode", "analytical"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must return (nn.Module, example_input)" in err[0]
