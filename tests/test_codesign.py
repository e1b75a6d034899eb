"""The co-design pipeline (`accelsim codesign`): results, determinism, files and bad input."""

import json

import numpy as np
import pytest

from accelsim.cli.main import main
from accelsim.codesign.loop import CodesignConfig, run_codesign
from accelsim.timing.bottleneck import bottlenecks
from reports.codesign import write_results

# Cheap but complete: greedy search without per-candidate fine-tuning, analytical timing.
FAST = dict(candidate_epochs=0, final_epochs=1, mode="analytical")


@pytest.fixture(scope="module")
def result():
    events = []
    res = run_codesign(CodesignConfig(**FAST), progress=events.append)
    return res, events


def test_three_designs_and_consistent_ratios(result):
    res, _ = result
    s = res.summary()
    assert set(s["designs"]) == {"dense", "uniform", "searched"}
    d, u, r = (s["designs"][k] for k in ("dense", "uniform", "searched"))
    assert d["density"] == 1.0 and r["density"] < 1.0
    assert s["ratios"]["edp_dense_over_searched"] == pytest.approx(d["edp"] / r["edp"])
    # The search starts from dense and keeps only improvements, and sees every uniform plan's
    # neighbourhood: it cannot do worse than dense, and every record is one it evaluated.
    assert r["edp"] < d["edp"]
    assert res.search.best_objective <= res.search.dense_objective
    assert res.search.feasible and res.search.best_accuracy >= res.search.threshold - 1e-12
    assert r["achieved_speedup"] <= r["ideal_speedup"] + 1e-12
    assert sum(r["energy_by_component_pj"].values()) == pytest.approx(r["energy_pj"])
    assert {row["layer"] for row in r["layers"]} == {"conv1", "conv2", "fc1", "fc2", "fc3"}


def test_progress_reports_every_phase_and_candidate(result):
    res, events = result
    phases = [e["phase"] for e in events if e.get("event") == "phase"]
    assert phases == ["train", "dense", "uniform", "finetune_uniform", "searched", "finetune_searched"]
    evaluations = [e for e in events if e.get("event") == "evaluation" and e["phase"] == "searched"]
    assert len(evaluations) == res.search.evaluations


def test_same_config_same_numbers(result):
    res, _ = result
    again = run_codesign(CodesignConfig(**FAST))
    a, b = res.summary(), again.summary()
    a.pop("seconds"), b.pop("seconds")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert again.searched.masks == res.searched.masks


def test_results_directory(result, tmp_path):
    res, _ = result
    written = write_results(res, tmp_path)
    names = {p.name for p in written}
    for stem in ("candidates_pareto", "layer_plan", "energy_breakdown"):
        assert {f"{stem}.pdf", f"{stem}.png", f"{stem}.csv"} <= names
    assert {"summary.json", "report.md", "candidates.csv", "masks_searched.npz", "masks_uniform.npz"} <= names
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["designs"]["searched"]["cycles"] == res.searched.report.cycles
    report = (tmp_path / "report.md").read_text()
    for label in ("| dense |", "| uniform |", "| searched |", "ideal speedup", "achieved speedup"):
        assert label in report
    from pruning import Masks

    assert Masks.load(tmp_path / "masks_searched.npz") == res.searched.masks


def test_simulated_cost_reuses_unchanged_layers(result):
    res, _ = result
    from accelsim.arch.hardware import load_hardware
    from accelsim.codesign.loop import SimulatedCost
    from accelsim.timing.simulate import simulate
    from workloads.models import lenet_network

    hw = load_hardware("sparse_edge_16x16")
    net = lenet_network()
    cost = SimulatedCost(net, hw, "analytical", simulate(net, hw, mode="analytical"))
    masks = dict(res.search.best_masks)
    first = cost(masks)
    assert cost.cache.misses == len(masks) and cost.cache.hits == 0
    masks["fc3"] = np.zeros_like(masks["fc3"])
    second = cost(masks)
    assert cost.cache.misses == len(masks) + 1 and cost.cache.hits == len(masks) - 1
    assert second["cycles"] != first["cycles"] or second["energy_pj"] != first["energy_pj"]


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "strategy",
            "annealing",
            "codesign: strategy must be one of ['uniform', 'greedy', 'evolutionary'], got 'annealing'",
        ),
        ("objective", "power", "codesign: objective must be one of ['cycles', 'energy', 'edp'], got 'power'"),
        (
            "max_accuracy_drop",
            -1.0,
            "codesign: max_accuracy_drop must be percentage points in [0, 100], got -1.0",
        ),
        ("model", "resnet50", "codesign: model must be one of"),
        ("seed", 1.5, "codesign: seed must be an int >= 0, got 1.5"),
        (
            "granularities",
            ("unstructured", "block4"),
            "codesign: granularities: granularity label must be unstructured, "
            "channel, block<rows>x<cols> or nm<n>:<m> (e.g. block4x4, nm2:4), "
            "got 'block4'",
        ),
        ("granularities", (), "codesign: granularities must be a non-empty list of labels, got ()"),
    ],
)
def test_bad_config_is_named(field, value, message):
    with pytest.raises(ValueError) as err:
        CodesignConfig(**{field: value})
    assert message in str(err.value)


def test_cli_json_and_bad_values(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "codesign",
            "--strategy",
            "uniform",
            "--mode",
            "analytical",
            "--out",
            str(out),
            "--json",
            "--no-progress",
            "--granularities",
            "unstructured, channel",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "summary.json").read_text())
    assert printed["config"]["strategy"] == "uniform"
    assert printed["config"]["granularities"] == ["unstructured", "channel"]
    used = {
        row["granularity"] for label in ("uniform", "searched") for row in printed["designs"][label]["layers"]
    }
    assert used <= {"unstructured", "channel", "dense"}
    assert main(["codesign", "--max-accuracy-drop", "150", "--out", str(tmp_path / "x")]) == 2
    assert "max_accuracy_drop must be percentage points in [0, 100], got 150.0" in capsys.readouterr().err
    assert main(["codesign", "--hardware", "no_such_preset", "--out", str(tmp_path / "y")]) == 2
    assert "no_such_preset" in capsys.readouterr().err
    assert main(["codesign", "--granularities", "nm2", "--out", str(tmp_path / "z")]) == 2
    assert "got 'nm2'" in capsys.readouterr().err


def test_final_designs_are_rechecked_on_validation(result):
    from accelsim.codesign.loop import FINAL_ATTEMPTS

    res, _ = result
    for design, search in ((res.uniform, res.uniform_search), (res.searched, res.search)):
        record = search.candidates[design.candidate]
        assert record.feasible and record.plan == design.plan
        assert record.objective >= search.best_objective
        feasible = sum(c.feasible for c in search.candidates)
        assert 1 <= design.attempts <= min(FINAL_ATTEMPTS, feasible)
        holds = design.val_accuracy >= search.threshold - 1e-12
        # Either the chosen one held up, or every attempt failed and the best is reported as is.
        assert holds or (
            design.candidate == search.best_index and design.attempts == min(FINAL_ATTEMPTS, feasible)
        )


def test_plan_cells_say_when_a_dense_layer_lost_inputs_upstream():
    from reports.codesign import _plan_cell

    assert _plan_cell({"granularity": "channel", "density": 0.25}) == "channel @ 0.75"
    assert _plan_cell({"granularity": "dense", "density": 1.0}) == "dense @ 0.00"
    assert _plan_cell({"granularity": "dense", "density": 0.4}) == "dense @ 0.60 (inputs removed upstream)"


def test_the_search_reports_the_dense_cost_shares_it_visited_layers_by(result):
    res, _ = result
    priorities = res.summary()["search"]["layer_priorities"]
    shares = {r.layer: r.edp_share for r in bottlenecks(res.dense.report) if r.layer in priorities}
    assert list(priorities) == list(res.search.layers)
    assert priorities == pytest.approx({name: share / sum(shares.values()) for name, share in shares.items()})
    from reports.codesign import markdown_report

    costliest = max(priorities, key=priorities.get)
    assert f"costliest first: {costliest} {priorities[costliest]:.0%}" in markdown_report(res)
