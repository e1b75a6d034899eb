"""Co-design with bit widths (`--bits`): config and CLI checks, and a small end-to-end run on bitfusion."""

import json

import pytest

from accelsim.arch.hardware import load_hardware
from accelsim.arch.hardware_schema import CrossFieldError
from accelsim.cli.main import main
from accelsim.codesign.loop import CodesignConfig, run_codesign
from accelsim.timing.simulate import simulate
from reports.codesign import write_results
from workloads.models import build_model

# Cheap but complete: one granularity, two widths, no per-candidate fine-tuning, analytical timing.
SMALL = dict(
    hardware="bitfusion_16x32",
    bits=(8, 4),
    granularities=("nm2:4",),
    candidate_epochs=0,
    final_epochs=1,
    mode="analytical",
)


@pytest.mark.parametrize(
    ("bits", "message"),
    [
        ((8, 1), "codesign: bits must be an int bit width in [2, 16] or None, got 1"),
        ((4, 4), "codesign: bits must name each width once, got [4, 4]"),
        ((), "codesign: bits must be a non-empty list of widths"),
        ("8,4", "codesign: bits must be a non-empty list of widths"),
    ],
)
def test_bad_widths_in_the_config_are_named(bits, message):
    with pytest.raises(ValueError) as err:
        CodesignConfig(bits=bits)
    assert message in str(err.value)


def test_a_width_the_precision_mode_cannot_run_fails_before_training():
    events = []
    with pytest.raises(
        CrossFieldError, match=r"codesign: bits: width 6 cannot run on bitfusion_16x32 \(.*int6"
    ):
        run_codesign(CodesignConfig(hardware="bitfusion_16x32", bits=(8, 6)), progress=events.append)
    assert events == []  # not even the training phase began


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("8,1", "bit widths must be at least 2, got '8,1'"),
        ("8,four", "must be comma-separated bit widths, e.g. 8,4,2, got '8,four'"),
        ("8,6,4,2", "codesign: bits: width 6 cannot run on bitfusion_16x32"),
        ("8,3", "codesign: bits: width 3: no integer datatype of width 3"),
    ],
)
def test_cli_bits_errors_are_one_line_and_exit_2(value, message, tmp_path, capsys):
    argv = ["codesign", "--hardware", "bitfusion_16x32", "--bits", value, "--out", str(tmp_path / "run")]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_small_joint_run_writes_bits_into_summary_and_report(tmp_path):
    result = run_codesign(CodesignConfig(model="lenet_digits", **SMALL))
    write_results(result, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = (tmp_path / "report.md").read_text()
    assert summary["config"]["bits"] == [8, 4]
    searched = result.searched
    rows = summary["designs"]["searched"]["layers"]
    for row in rows:
        pair = searched.bits.get(row["layer"])
        assert (row["weight_bits"], row["activation_bits"]) == (
            (None, None) if pair is None else (pair.weights, pair.activations)
        )
        text = "w{}a{}".format(
            *("f" if v is None else v for v in (row["weight_bits"], row["activation_bits"]))
        )
        assert f"| {row['layer']} |" in report and text in report
    # The design is simulated at its widths: the same report as simulating them directly.
    network = build_model("lenet_digits", seed=0).network
    direct = simulate(
        network,
        load_hardware("bitfusion_16x32"),
        mode="analytical",
        masks=dict(searched.masks),
        baseline=result.dense.report,
        bits=searched.bits,
    )
    assert direct.cycles == searched.report.cycles and direct.energy_pj == searched.report.energy_pj
    # The joint uniform baseline tried each width with and without pruning.
    widths = {frozenset(gene.weight_bits for gene in r.plan) for r in result.uniform_search.candidates}
    assert {frozenset({None}), frozenset({8}), frozenset({4})} <= widths


def test_the_bounded_oracle_scores_quantized_candidates_on_calibrated_inputs():
    from accelsim.codesign.honesty import BoundedAccuracy
    from accelsim.codesign.sources import correct, digits_source
    from pruning import FinetunedAccuracy, Masks
    from pruning.statistics import PairedCounts, newcombe_paired_interval
    from workloads.quantization import LayerBits

    source = digits_source("mlp_digits", seed=0)
    model, dataset = source.model, source.dataset
    dense_correct = correct(model, dataset, "val")
    oracle = FinetunedAccuracy(model, dataset, epochs=0)
    masks, bits = Masks.dense(source.network), {"fc1": LayerBits(weights=2, activations=2)}
    bounded = BoundedAccuracy(oracle, dense_correct, dataset, 0.95)(masks, bits=bits)
    quantized = correct(model, dataset, "val", masks, bits=bits)
    counts = PairedCounts.from_correct(dense_correct, quantized)
    assert bounded == dense_correct.mean() - newcombe_paired_interval(counts, confidence=0.95).high
    assert bounded < dense_correct.mean()  # dense masks, but int2: not scored as the dense model
