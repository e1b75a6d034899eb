"""`accelsim plot --kind roofline|timeline`: one stored point, re-simulated, drawn per layer or over time."""

import csv

import pytest

from accelsim import load_hardware, simulate
from accelsim.cli.main import main
from accelsim.dse import Point, explore, grid, serial
from reports.replay import point_figure


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("kinds") / "s.sqlite"
    base = load_hardware("scalesim_32x32")
    points = [Point("lenet5", hw) for hw in grid(base, {"pe.rows": [16, 32]})]
    points.append(Point("lenet5", base, pruning={"granularity": "unstructured", "amount": 0.5}))
    explore(points, executor=serial(), store=path)
    return path


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_roofline_draws_the_selected_points_layers(store, tmp_path, capsys):
    stem = tmp_path / "roof"
    assert (
        main(
            [
                "plot",
                str(store),
                "--kind",
                "roofline",
                "--where",
                "pe.rows=16",
                "--where",
                "pruning.granularity=dense",
                "--out",
                str(stem),
            ]
        )
        == 0
    )
    assert stem.with_suffix(".png").stat().st_size > 0
    rows = _rows(stem.with_suffix(".csv"))
    expected = simulate("lenet5", load_hardware("scalesim_32x32").replace("pe.rows", 16), mode="analytical")
    assert [r["layer"] for r in rows] == [layer.name for layer in expected.layers]
    assert sum(int(r["cycles"]) for r in rows) == expected.cycles
    assert {float(r["peak_mac_per_cycle"]) for r in rows} == {16 * 32}


def test_timeline_runs_the_point_in_event_mode(store, tmp_path):
    stem = tmp_path / "time"
    assert (
        main(
            [
                "plot",
                str(store),
                "--kind",
                "timeline",
                "--where",
                "pe.rows=32",
                "--where",
                "pruning.granularity=dense",
                "--out",
                str(stem),
            ]
        )
        == 0
    )
    rows = _rows(stem.with_suffix(".csv"))
    event = simulate("lenet5", "scalesim_32x32", mode="event")
    power = [r for r in rows if r["kind"] == "power"]
    assert power and max(int(r["end_cycles"]) for r in power) == event.cycles
    ends = {r["component"] for r in rows if r["kind"] == "layer_end"}
    assert ends == {layer.name for layer in event.layers}


def test_a_pruned_point_is_replayed_with_its_masks(store):
    from reports import frames

    rows = frames.where(frames.from_store(store), **{"pruning.granularity": "unstructured"})
    fig, plotted = point_figure("roofline", store, rows)
    assert sum(r["cycles"] for r in plotted) == rows[0]["cycles"]  # the stored total, re-simulated
    assert sum(r["macs"] for r in plotted) < sum(r["dense_macs"] for r in plotted)
    assert fig.axes


def test_several_matching_points_is_a_one_line_error(store, tmp_path, capsys):
    assert main(["plot", str(store), "--kind", "roofline", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "3 points match" in err and "--where" in err and "pe.rows" in err and "pruning.granularity" in err
    assert not (tmp_path / "x.png").exists()


def test_uncompacted_channel_plans_are_their_own_series():
    from reports import frames

    rows = [
        {"pruning.granularity": "channel", "pruning.compact": compact, "density": 0.5}
        for compact in (True, False)
    ] + [{"pruning.granularity": "dense", "pruning.compact": None}]
    split, group = frames.split_uncompacted(rows, "pruning.granularity")
    assert group == "plan"
    assert [r["plan"] for r in split] == ["channel", "channel (full size)", "dense"]
    unchanged, group = frames.split_uncompacted(rows[:1] + rows[2:], "pruning.granularity")
    assert group == "pruning.granularity" and unchanged == rows[:1] + rows[2:]
