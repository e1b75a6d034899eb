"""The CLI: tables on stdout, one-line errors with exit status 2."""

import subprocess
import sys

import pytest

from accelsim.cli.main import main
from accelsim.timing.report import Report


def test_simulate_prints_table_and_totals(capsys):
    assert main(["simulate", "--network", "lenet5", "--hardware", "edge_16x16"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "cycles" in out and "energy" in out and "uJ" in out


def test_simulate_writes_json(tmp_path, capsys):
    target = tmp_path / "r.json"
    assert main(["simulate", "--network", "mlp", "--hardware", "scalesim_32x32", "--json", str(target)]) == 0
    report = Report.from_json(target.read_text())
    assert report.network == "mlp" and report.layers


def test_set_override_changes_the_result(capsys):
    main(["simulate", "--network", "lenet5", "--hardware", "scalesim_32x32", "--json", "/dev/null"])
    base = capsys.readouterr().out
    main(["simulate", "--network", "lenet5", "--hardware", "scalesim_32x32", "--set", "pe.rows=8"])
    assert capsys.readouterr().out != base


@pytest.mark.parametrize("what", ["networks", "presets", "energy-tables"])
def test_list(what, capsys):
    assert main(["list", what]) == 0
    assert capsys.readouterr().out.strip()


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["simulate", "--network", "resnet51"], "resnet51"),
        (["simulate", "--hardware", "nope_preset"], "nope_preset"),
        (["simulate", "--network", "lenet5", "--set", "pe.rows=-3"], "pe.rows"),
        (["simulate", "--network", "lenet5", "--set", "pe.dataflow=xs"], "xs"),
        (["simulate", "--network", "lenet5", "--set", "pe.bogus=1"], "pe.bogus"),
        (["simulate", "--network", "lenet5", "--set", "novalue"], "novalue"),
        (["simulate", "--network", "lenet5", "--hardware", "/nonexistent/hw.yaml"], "hw.yaml"),
        (["simulate", "--network", "lenet5", "--masks", "/nonexistent/m.npz"], "m.npz"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_simulate_with_codesign_masks_reports_speedup_and_compaction(tmp_path, capsys):
    from pruning import prune
    from workloads.models import build_model

    model = build_model("lenet_digits")
    masks = prune(model.network, model.weights, amount=0.5, granularity="channel")
    path = tmp_path / "masks.npz"
    masks.save(path)
    argv = [
        "simulate",
        "--network",
        "lenet_digits",
        "--hardware",
        "scalesim_32x32",
        "--mode",
        "analytical",
        "--masks",
        str(path),
    ]
    assert main(argv + ["--json", str(tmp_path / "on.json")]) == 0
    out = capsys.readouterr().out
    assert "achieved" in out and "compacted" in out and "channel_compaction" in out
    assert main(argv + ["--no-compact", "--json", str(tmp_path / "off.json")]) == 0
    assert "compacted" not in capsys.readouterr().out
    on = Report.from_json((tmp_path / "on.json").read_text())
    off = Report.from_json((tmp_path / "off.json").read_text())
    assert on.achieved_speedup > 1.2 and off.achieved_speedup == pytest.approx(1.0, abs=0.01)
    # Masks of another network are refused, naming the file, the layer and the shapes.
    assert main(["simulate", "--network", "lenet5", "--masks", str(path)]) == 2
    assert (
        "masks.npz: Masks: layer 'conv1': mask shape (6, 1, 3, 3) != weight shape" in capsys.readouterr().err
    )


def test_malformed_yaml_file_exits_2_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    from accelsim.arch.hardware import load_hardware

    text = load_hardware("edge_16x16").to_yaml().replace("rows: 16", "rows: 16\n  rows: 8", 1)
    bad.write_text(text)
    assert main(["simulate", "--network", "lenet5", "--hardware", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "rows" in err


def test_module_entry_point_runs():
    result = subprocess.run(
        [sys.executable, "-m", "accelsim", "list", "presets"], capture_output=True, text=True, check=True
    )
    assert "scalesim_32x32" in result.stdout


def test_help_on_every_command():
    for argv in (["--help"], ["simulate", "--help"], ["list", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0


def test_cache_clear_removes_cached_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACCELSIM_CACHE_DIR", str(tmp_path))
    from workloads.weight_cache import cache_dir

    weights = cache_dir() / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    (weights / "stale.npz").write_bytes(b"x")
    assert main(["cache", "clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (weights / "stale.npz").exists()
