"""Issue 17: every malformed-input scenario a new user hit, as a test. Each ends in a named error
(one line, exit 2 from the CLI) or a correct result, never a traceback or a silent loss."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_inputs import alias_bomb, deep_nesting

from accelsim.arch.hardware import HardwareError, load_hardware
from accelsim.cli.main import main
from accelsim.dse.outputs import MANIFEST_NAME, OutputError, check_run_directory, run_directory
from accelsim.dse.store import Store
from accelsim.dse.sweep_config import SweepConfigError, parse_sweep
from workloads import strict_yaml

ROOT = Path(__file__).resolve().parents[1]
SWEEP = "hardware: scalesim_32x32\nnetworks: [lenet5]\nmodes: [analytical]\nexecutor: serial\n"


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# ---- bounded input ------------------------------------------------------------------------------
def test_alias_bomb_is_refused_before_it_expands():
    with pytest.raises(strict_yaml.StrictYAMLError, match=r"bomb\.yaml:\d+: more than 200,000 YAML nodes"):
        strict_yaml.load(alias_bomb(), "bomb.yaml")
    # The same structure below the limit still loads, aliases shared rather than copied.
    small = strict_yaml.load(alias_bomb(3), "small.yaml")
    assert small["a2"][0] is small["a1"]


def test_alias_bomb_in_a_hardware_file_through_the_cli(tmp_path, capsys):
    path = tmp_path / "hw.yaml"
    path.write_text(alias_bomb() + "name: x\n")
    assert main(["simulate", "--network", "lenet5", "--hardware", str(path)]) == 2
    assert "hw.yaml" in _error_line(capsys)


@pytest.mark.parametrize("text", [deep_nesting(100_000), "{a: " * 100_000, "- " * 100_000 + "x"])
def test_deep_nesting_is_refused(text):
    with pytest.raises(strict_yaml.StrictYAMLError, match=r"deep\.yaml:1: nested deeper than 64 levels"):
        strict_yaml.load(text, "deep.yaml")


def test_huge_integer_scalar_is_a_named_error():
    with pytest.raises(strict_yaml.StrictYAMLError, match=r"big\.yaml: invalid YAML value"):
        strict_yaml.load("rows: " + "9" * 5000, "big.yaml")


def test_bad_values_are_quoted_as_a_short_prefix():
    long_name = "n" * 10_000
    with pytest.raises(HardwareError) as info:
        load_hardware("scalesim_32x32").replace("pe.dataflow", long_name)
    assert len(str(info.value)) < 300 and "..." in str(info.value)


def test_sweep_of_10_to_the_8_points_is_refused_from_the_axis_lengths():
    values = "[" + ", ".join(str(v) for v in range(1, 101)) + "]"
    grid = "".join(
        f"  {path}: {values}\n"
        for path in ("pe.rows", "pe.cols", "buffers.ifmap.size_bytes", "buffers.filter.size_bytes")
    )
    with pytest.raises(SweepConfigError, match=r"big\.yaml: 100,000,000 points \(100 x 100 x 100 x 100\)"):
        parse_sweep(SWEEP + "grid:\n" + grid, "big.yaml")


def test_max_points_override(tmp_path, capsys):
    text = SWEEP + "grid:\n  pe.rows: [8, 16, 32]\n  pe.dataflow: [ws, os]\n"
    with pytest.raises(SweepConfigError, match=r"6 points \(3 x 2\) is more than the 5 allowed"):
        parse_sweep(text, "s.yaml", max_points=5)
    assert len(parse_sweep(text, "s.yaml", max_points=6).points) == 6
    sweep = tmp_path / "s.yaml"
    sweep.write_text(text)
    assert main(["sweep", str(sweep), "--store", str(tmp_path / "s.sqlite"), "--max-points", "5"]) == 2
    assert "--max-points" in _error_line(capsys)
    # A sample of a huge grid is fine: only the sampled points count.
    values = "[" + ", ".join(str(v) for v in range(1, 101)) + "]"
    sampled = SWEEP + f"grid:\n  pe.rows: {values}\n  pe.cols: {values}\nsample: {{n: 3, seed: 1}}\n"
    assert len(parse_sweep(sampled, "s.yaml", max_points=5).points) == 3


@pytest.mark.parametrize(
    "override, bound",
    [
        ("pe.rows=1000000000", "16,384"),
        ("clock_mhz=1.0e+9", "10,000"),
        ("buffers.ifmap.size_bytes=1e30", "positive integer"),
        ("buffers.ifmap.size_bytes=137438953472", "68,719,476,736"),
    ],
)
def test_hardware_fields_have_physical_upper_bounds(override, bound, capsys):
    assert main(["simulate", "--network", "lenet5", "--set", override]) == 2
    line = _error_line(capsys)
    assert override.split("=")[0] in line and bound in line


def test_input_size_zero_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--network", "resnet18", "--input-size", "0"])
    assert info.value.code == 2
    assert "--input-size: must be in 1..8192 pixels, got 0" in _error_line(capsys)


def test_a_file_named_like_a_preset_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "edge_16x16").write_text("not: [a hardware file")
    os.mkdir(tmp_path / "scalesim_32x32")
    assert load_hardware("edge_16x16").name == "edge_16x16"
    assert load_hardware("scalesim_32x32").pe.rows == 32
    with pytest.raises(HardwareError, match=r"edge_16x16"):
        load_hardware("./edge_16x16")


# ---- stores through the CLI ---------------------------------------------------------------------
def _sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SWEEP + "grid:\n  pe.rows: [8, 16]\n")
    return path


@pytest.mark.parametrize("damage", ["garbage", "foreign", "directory", "missing_dir"])
def test_bad_stores_through_sweep_and_plot(tmp_path, capsys, damage):
    store = tmp_path / "store.sqlite"
    if damage == "garbage":
        store.write_bytes(b"SQLite format 3\0" + os.urandom(2000))
    elif damage == "foreign":
        with sqlite3.connect(store) as db:
            db.execute("CREATE TABLE t (x)")
    elif damage == "directory":
        store.mkdir()
    else:
        store = tmp_path / "missing" / "store.sqlite"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--store", str(store)]) == 2
    assert str(store) in _error_line(capsys)
    assert main(["plot", str(store), "--out", str(tmp_path / "fig")]) == 2
    assert str(store) in _error_line(capsys)


# ---- masks files --------------------------------------------------------------------------------
def test_masks_file_covering_only_some_layers_is_refused(tmp_path, capsys):
    from pruning import Masks
    from workloads.zoo import get_network

    network = get_network("lenet5")
    dense = Masks.dense(network)
    first = next(iter(dense))
    path = tmp_path / "partial.npz"
    Masks({first: dense[first]}).save(path)
    assert main(["simulate", "--network", "lenet5", "--masks", str(path)]) == 2
    line = _error_line(capsys)
    assert f"partial.npz: covers 1 of the {len(dense)} weighted layers of lenet5; missing" in line


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04broken", b"\x93NUMPY garbage", os.urandom(300)])
def test_garbage_masks_file_through_the_cli(tmp_path, capsys, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    assert main(["simulate", "--network", "lenet5", "--masks", str(path)]) == 2
    line = _error_line(capsys)
    assert "m.npz" in line and "allow_pickle" not in line


# ---- outputs: never replaced silently, checked before the work -----------------------------------
def test_simulate_json_refuses_to_overwrite_without_force(tmp_path, capsys):
    target = tmp_path / "r.json"
    target.write_text("precious")
    argv = ["simulate", "--network", "lenet5", "--mode", "analytical", "--json", str(target)]
    assert main(argv) == 2
    assert "r.json: already exists" in _error_line(capsys) and target.read_text() == "precious"
    assert main(argv + ["--force"]) == 0
    assert target.read_text().startswith("{") and not list(tmp_path.glob(".*partial"))


def test_sweep_csv_is_checked_before_the_sweep(tmp_path, capsys):
    target = tmp_path / "t.csv"
    target.write_text("precious")
    store = tmp_path / "s.sqlite"
    assert main(["sweep", str(_sweep_file(tmp_path)), "--store", str(store), "--csv", str(target)]) == 2
    assert "t.csv: already exists" in _error_line(capsys)
    assert not store.exists() and target.read_text() == "precious"


def test_plot_out_is_checked_before_plotting(tmp_path, capsys):
    (tmp_path / "fig.png").write_text("precious")
    assert main(["plot", str(tmp_path / "absent.sqlite"), "--out", str(tmp_path / "fig")]) == 2
    assert "fig.png: already exists" in _error_line(capsys)


@pytest.mark.parametrize(
    "setup, message",
    [("file", "it is a file"), ("under_file", "is not a directory"), ("foreign", "not written by accelsim")],
)
def test_codesign_out_is_refused_before_the_search(tmp_path, capsys, monkeypatch, setup, message):
    import accelsim.cli.codesign as cli_codesign

    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("the search must not start")

    monkeypatch.setattr(cli_codesign, "run_codesign", no_search)
    out = tmp_path / "out"
    if setup == "file":
        out.write_text("x")
    elif setup == "under_file":
        (tmp_path / "f").write_text("x")
        out = tmp_path / "f" / "out"
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("precious")
    assert main(["codesign", "--out", str(out), "--no-progress"]) == 2
    assert message in _error_line(capsys)


def test_run_directory_replaces_its_own_runs_and_nothing_else(tmp_path):
    out = tmp_path / "results" / "run"
    with run_directory(out, command="test") as staging:
        (staging / "a.txt").write_text("first")
        (staging / "sub").mkdir()
        (staging / "sub" / "b.txt").write_text("first")
    assert (out / MANIFEST_NAME).is_file() and (out / "sub" / "b.txt").read_text() == "first"
    with run_directory(out, command="test") as staging:  # ours: replaced as a whole
        (staging / "c.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "c.txt"]
    with pytest.raises(RuntimeError):  # a failed run leaves the old one
        with run_directory(out, command="test") as staging:
            (staging / "d.txt").write_text("third")
            raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "c.txt"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no staging left behind
    (out / "notes.txt").write_text("mine")  # someone added a file: refused
    with pytest.raises(OutputError, match=r"did not write \(\['notes\.txt'\]\)"):
        check_run_directory(out)


# ---- shutdown -----------------------------------------------------------------------------------
SLOW_SWEEP = (
    "hardware: scalesim_32x32\nnetworks: [resnet18]\nmodes: [event]\n"
    "grid:\n  pe.rows: [" + ", ".join(str(r) for r in range(8, 48)) + "]\n"
)


def _start_sweep(tmp_path: Path, executor: str) -> tuple[subprocess.Popen[str], Path]:
    sweep = tmp_path / "slow.yaml"
    sweep.write_text(SLOW_SWEEP)
    store = tmp_path / "slow.sqlite"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accelsim",
            "sweep",
            str(sweep),
            "--store",
            str(store),
            "--executor",
            executor,
            "--workers",
            "2",
            "--no-progress",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, store


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat_fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat_fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for_points(store: Path, process: subprocess.Popen[str], count: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if store.exists():
            try:
                with sqlite3.connect(store, timeout=1) as db:
                    if db.execute("SELECT COUNT(*) FROM points").fetchone()[0] >= count:
                        return
            except sqlite3.Error:
                pass
        time.sleep(0.2)
    raise AssertionError("the sweep wrote no points in time")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker pids from /proc")
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_sweep_ends_with_one_line_and_a_consistent_store(tmp_path, signum, status):
    process, store = _start_sweep(tmp_path, "process")
    _wait_for_points(store, process, 1)
    workers = _children(process.pid)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status
    assert err.count("\n") == 1 and "Traceback" not in err and "interrupted by" in err, err
    with Store(store) as db:
        assert db.integrity_check() == "ok" and len(db) >= 1
    assert not [
        pid
        for pid in workers
        if Path(f"/proc/{pid}").exists()
        and "Z" not in (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
    ]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads worker pids from /proc")
def test_pool_workers_exit_when_the_sweep_is_sigkilled(tmp_path):
    process, store = _start_sweep(tmp_path, "process")
    _wait_for_points(store, process, 1)
    workers = _children(process.pid)
    assert workers
    process.kill()
    process.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    assert not alive, f"workers {alive} outlived their parent"
    with Store(store) as db:
        assert db.integrity_check() == "ok"


def test_brackets_in_quotes_and_comments_are_not_nesting():
    text = "a: '" + "[" * 200 + '\'\nb: "\\"' + "{" * 200 + '"\n# ' + "[" * 200 + "\nc: [[1, {d: [2]}]]\n"
    data = strict_yaml.load(text, "q.yaml")
    assert data["a"] == "[" * 200 and data["b"] == '"' + "{" * 200 and data["c"] == [[1, {"d": [2]}]]
    with pytest.raises(strict_yaml.StrictYAMLError, match=r"q\.yaml:5: nested deeper than 64 levels"):
        strict_yaml.load(text + "e: " + deep_nesting(65) + "\n", "q.yaml")


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--network", "lenet5", "--json", "{d}/r.json"],
        ["codesign", "--out", "{d}/run", "--no-progress"],
        ["plot", "{d}/s.sqlite", "--out", "{d}/fig"],
    ],
)
def test_unwritable_output_directory_is_refused_before_work(tmp_path, monkeypatch, capsys, argv):
    # Root may write anywhere, so the refusal os.access would give another user is simulated.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path and real_access(path, mode))
    assert main([arg.format(d=tmp_path) for arg in argv]) == 2
    assert f"directory {tmp_path} is not writable" in _error_line(capsys)
