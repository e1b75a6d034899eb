"""Sparse-aware simulation from real masks: acceptance properties of issue 6."""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from accelsim.arch.hardware import load_hardware
from accelsim.sparse.formats import encode
from accelsim.timing.report import SPEEDUP_LOSSES, Report
from accelsim.timing.simulate import simulate
from workloads.layers import Conv2d, Linear
from workloads.models import lenet_network
from workloads.network import Network

MODES = ("analytical", "event")


def _weighted(network):
    return [
        layer for layer in network.layers() if layer.gemm is not None and getattr(layer, "weight_shape", None)
    ]


def _random_masks(network, density, seed=0):
    rng = np.random.default_rng(seed)
    return {layer.name: rng.random(layer.weight_shape) < density for layer in _weighted(network)}


def _hw(name="sparse_edge_16x16", **changes):
    hardware = load_hardware(name)
    for path, value in changes.items():
        hardware = hardware.replace(path.replace("__", "."), value)
    return hardware


def _one_layer(layer):
    return Network.sequential(f"net_{layer.name}", [layer])


LENET = lenet_network()


# ------------------------------------------------------------------------------ dense identity


@pytest.mark.parametrize("preset", ["sparse_edge_16x16", "nm_tensor_32x32", "scalesim_32x32", "tpu_v1_like"])
@pytest.mark.parametrize("mode", MODES)
def test_all_ones_masks_reproduce_the_dense_report(preset, mode):
    hardware = load_hardware(preset)
    dense = simulate(LENET, hardware, mode=mode)
    ones = {layer.name: np.ones(layer.weight_shape, dtype=bool) for layer in _weighted(LENET)}
    sparse = simulate(LENET, hardware, mode=mode, masks=ones)
    assert sparse == dense
    assert sparse.to_records() == dense.to_records()
    assert sparse.energy_pj == dense.energy_pj
    assert sparse.achieved_speedup == 1.0 and sparse.ideal_speedup == 1.0


def test_all_zero_layer_costs_no_macs():
    masks = {"fc1": np.zeros((120, 64), dtype=bool)}
    for preset, multiplied in (("sparse_edge_16x16", 0), ("scalesim_32x32", 120 * 64)):
        report = simulate(LENET, preset, mode="analytical", masks=masks)
        layer = report.layer("fc1")
        assert layer.macs == 0 and layer.sparse.effectual_macs == 0
        assert math.isinf(layer.ideal_speedup)
        # Hardware without sparse support multiplies the zeros anyway.
        assert layer.action_counts.get(("pe_array", "mac"), 0) == multiplied


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    dataflow=st.sampled_from(["ws", "os", "is"]),
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
)
def test_effectual_macs_are_mask_sum_times_reuse(density, seed, dataflow, rows, cols):
    hardware = _hw(pe__dataflow=dataflow, pe__rows=rows, pe__cols=cols)
    masks = _random_masks(LENET, density, seed)
    report = simulate(LENET, hardware, mode="analytical", masks=masks, explain=False)
    for layer in _weighted(LENET):
        expected = int(masks[layer.name].sum()) * layer.gemm.m
        assert report.layer(layer.name).macs == expected
        assert report.layer(layer.name).sparse.effectual_macs == expected


# ------------------------------------------------------------------------------ skipping, gating


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    density=st.floats(0.02, 1.0),
    seed=st.integers(0, 2**16),
    dataflow=st.sampled_from(["ws", "os", "is"]),
    fmt=st.sampled_from(["dense", "bitmap", "csr"]),
    mode=st.sampled_from(MODES),
)
def test_achieved_speedup_never_exceeds_ideal(density, seed, dataflow, fmt, mode):
    # Without channel compaction: compaction may beat the MAC ratio (test_compaction.py).
    hardware = _hw(pe__dataflow=dataflow, sparsity__weights__format=fmt)
    report = simulate(
        LENET, hardware, mode=mode, masks=_random_masks(LENET, density, seed), compact_channels=False
    )
    assert report.achieved_speedup <= report.ideal_speedup + 1e-12
    for layer in report.layers:
        if layer.sparse and layer.sparse.effectual_macs:
            assert layer.achieved_speedup <= layer.ideal_speedup + 1e-12, layer.name


def _balanced_mask(out_channels, reduction, keep, rng):
    """Every output channel keeps exactly `keep` of its `reduction` weights."""
    mask = np.zeros((out_channels, reduction), dtype=bool)
    for row in mask:
        row[rng.choice(reduction, keep, replace=False)] = True
    return mask


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("keep", [1, 5, 16, 32])
def test_balanced_mask_achieves_ideal_speedup_exactly(mode, keep):
    # A 1x1 output-stationary array has no fill cycles and unbounded DRAM hides nothing: a fold
    # is exactly its streamed work, so a balanced mask's achieved speedup is the ideal one.
    layer = Linear("fc", 64, 24, tokens=10)
    hardware = _hw(
        pe__rows=1,
        pe__cols=1,
        pe__dataflow="os",
        sparsity__weights__format="dense",
        sparsity__weights__decode_cycles_per_fold=0,
        dram__bandwidth_bytes_per_cycle=math.inf,
        dram__latency_cycles=0,
    )
    mask = _balanced_mask(24, 64, keep, np.random.default_rng(keep))
    report = simulate(_one_layer(layer), hardware, mode=mode, masks={"fc": mask})
    assert report.layer("fc").ideal_speedup == 64 / keep
    assert report.achieved_speedup == pytest.approx(report.ideal_speedup, rel=1e-12)
    assert report.achieved_speedup == 64 / keep


@pytest.mark.parametrize("dataflow", ["os", "is"])
def test_balanced_mask_loses_nothing_but_fixed_overhead(dataflow):
    # On a real array the fill cycles stay; nothing is lost to imbalance, pattern or metadata.
    layer = Linear("fc", 64, 32, tokens=32)
    hardware = _hw(pe__dataflow=dataflow, sparsity__weights__format="dense")
    rng = np.random.default_rng(3)
    if dataflow == "os":
        mask = _balanced_mask(32, 64, 16, rng)  # lanes = output channels
    else:
        mask = _balanced_mask(64, 32, 8, rng).T  # lanes = reduction indices
    report = simulate(_one_layer(layer), hardware, mode="analytical", masks={"fc": mask})
    losses = report.layer("fc").sparse.losses_cycles
    assert losses["load_imbalance"] == 0 and losses["unsupported_pattern"] == 0
    assert losses["metadata_traffic"] == 0
    assert 1.0 < report.achieved_speedup < report.ideal_speedup == 4.0


def test_imbalanced_mask_is_slower_than_balanced_and_says_why():
    layer = Linear("fc", 64, 16, tokens=32)
    hardware = _hw(pe__dataflow="os", sparsity__weights__format="dense")
    balanced = _balanced_mask(16, 64, 16, np.random.default_rng(0))
    skewed = np.zeros((16, 64), dtype=bool)
    skewed[0, :] = True  # one busy lane, same nnz as 64/16 each
    skewed[1:, :] = False
    skewed[np.arange(1, 16), 0] = True
    assert skewed.sum() == 79 and balanced.sum() == 256
    net = _one_layer(layer)
    report = simulate(net, hardware, mode="analytical", masks={"fc": skewed})
    assert report.layer("fc").sparse.losses_cycles["load_imbalance"] > 0
    assert report.achieved_speedup < 1.1 < report.ideal_speedup


@pytest.mark.parametrize("mode", MODES)
def test_gating_keeps_cycles_and_gates_mac_energy(mode):
    hardware = _hw(
        sparsity__weights__mode="gating", sparsity__weights__format="dense", sparsity__ifmap__mode="none"
    )
    dense = simulate(LENET, hardware, mode=mode)
    masks = _random_masks(LENET, 0.4, seed=7)
    # Random masks empty a few fc input features; compacting them would shorten the layer.
    report = simulate(LENET, hardware, mode=mode, masks=masks, compact_channels=False)
    assert report.cycles == dense.cycles
    for layer in _weighted(LENET):
        got, ref = report.layer(layer.name), dense.layer(layer.name)
        kept = got.sparse.effectual_macs / got.sparse.dense_macs
        assert got.action_counts[("pe_array", "mac")] == got.sparse.effectual_macs
        assert (
            got.action_counts[("pe_array", "mac_gated")] == got.sparse.dense_macs - got.sparse.effectual_macs
        )
        assert math.isclose(
            got.dynamic_energy_pj[("pe_array", "mac")],
            ref.dynamic_energy_pj[("pe_array", "mac")] * kept,
            rel_tol=1e-12,
        )
    assert report.energy_pj < dense.energy_pj


def test_hardware_without_sparse_support_runs_masks_dense():
    hardware = load_hardware("scalesim_32x32")
    dense = simulate(LENET, hardware, mode="analytical")
    report = simulate(
        LENET, hardware, mode="analytical", masks=_random_masks(LENET, 0.3), compact_channels=False
    )
    assert report.cycles == dense.cycles
    assert report.action_counts[("pe_array", "mac")] == dense.macs
    assert report.ideal_speedup > 2 and report.speedup_losses_cycles()["unsupported_pattern"] > 0


# ------------------------------------------------------------------------------ formats


def _resident_conv():
    # Small enough that every weight is fetched from DRAM exactly once (resident filter slices).
    return Conv2d("conv", 16, 32, 3, (8, 8), padding=1)


@pytest.mark.parametrize(
    "fmt, extra",
    [
        ("bitmap", {}),
        ("csr", {}),
        ("bsr", {"sparsity__weights__block": [4, 4]}),
        ("nm", {"sparsity__weights__n": 2, "sparsity__weights__m": 4}),
    ],
)
def test_compressed_bytes_moved_equal_format_storage(fmt, extra):
    layer = _resident_conv()
    hardware = _hw(sparsity__weights__format=fmt, sparsity__weights__index_bits=12, **extra)
    rng = np.random.default_rng(11)
    w = rng.standard_normal(layer.weight_shape).astype(np.float32)
    if fmt == "nm":
        from pruning import prune

        mask = prune(_one_layer(layer), {"conv": w}, amount=0.5, granularity="nm2:4")["conv"]
    else:
        mask = rng.random(layer.weight_shape) < 0.3
    dense = simulate(_one_layer(layer), hardware, mode="analytical")
    assert dense.layer("conv").dram_read_bytes["filter"] == w.size  # int8: one pass, one byte each
    report = simulate(_one_layer(layer), hardware, mode="analytical", masks={"conv": mask})
    spec = hardware.sparsity.weights.format_spec
    stored = encode(w, mask, spec).storage_bytes(
        value_bits=8, index_bits=None if fmt == "nm" else 12, pointer_bits=12
    )
    got = report.layer("conv")
    assert got.dram_read_bytes["filter"] == stored == got.sparse.storage_bytes
    assert got.sparse.fallback is None


def test_nm_hardware_speeds_up_nm_masks_and_falls_back_otherwise():
    from pruning import prune

    layer = Linear("fc", 256, 128, tokens=64)
    net = _one_layer(layer)
    # SCALE-Sim's refetches keep this small layer's DRAM stalls proportional to its folds, which
    # the 1.6x bound below was set for; the reuse model exposes its first tile's load instead.
    hardware = load_hardware("nm_tensor_32x32").replace("memory.model", "scalesim")
    w = np.random.default_rng(0).standard_normal(layer.weight_shape).astype(np.float32)
    dense = simulate(net, hardware, mode="analytical")
    nm_masks = prune(net, {"fc": w}, amount=0.5, granularity="nm2:4")
    nm = simulate(net, hardware, mode="analytical", masks=nm_masks, baseline=dense)
    assert nm.layer("fc").sparse.fallback is None and nm.layer("fc").sparse.skipping
    assert 1.6 < nm.achieved_speedup <= nm.ideal_speedup == 2.0
    unstructured = np.random.default_rng(1).random(layer.weight_shape) < 0.5
    fallback = simulate(net, hardware, mode="analytical", masks={"fc": unstructured}, baseline=dense)
    info = fallback.layer("fc").sparse
    assert info.fallback is not None and "not 2:4" in info.fallback
    assert fallback.cycles == dense.cycles
    assert fallback.speedup_losses_cycles()["unsupported_pattern"] > 0


def test_block_hardware_issues_whole_blocks():
    layer = Linear("fc", 64, 64, tokens=16)
    hardware = _hw(sparsity__weights__format="bsr", sparsity__weights__block=[4, 4])
    mask = np.zeros((64, 64), dtype=bool)
    bi, bj = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    # One weight in every 4x4 block (all blocks stored), placed so no row or column is empty.
    mask[bi * 4 + bj % 4, bj * 4 + bi % 4] = True
    assert mask.sum() == 256 and mask.any(axis=0).all() and mask.any(axis=1).all()
    report = simulate(_one_layer(layer), hardware, mode="analytical", masks={"fc": mask})
    info = report.layer("fc").sparse
    assert info.issued_macs == info.dense_macs and info.effectual_macs == info.dense_macs // 16
    assert (
        report.layer("fc").action_counts[("pe_array", "mac_gated")] == info.dense_macs - info.effectual_macs
    )


# ------------------------------------------------------------------------------ activations, report


def test_activation_density_gates_or_skips():
    masks = _random_masks(LENET, 0.5, 2)
    densities = {layer.name: 0.4 for layer in _weighted(LENET)}
    gated = simulate(LENET, "sparse_edge_16x16", mode="analytical", masks=masks)
    with_acts = simulate(LENET, "sparse_edge_16x16", mode="analytical", masks=masks, ifmap_density=densities)
    assert with_acts.cycles == gated.cycles  # the preset gates input zeros
    assert with_acts.action_counts[("pe_array", "mac")] < gated.action_counts[("pe_array", "mac")]
    skipping = _hw(sparsity__ifmap__mode="skipping")
    skipped = simulate(LENET, skipping, mode="analytical", masks=masks, ifmap_density=densities)
    assert skipped.cycles < gated.cycles
    assert (
        skipped.action_counts[("pe_array", "mac_skipped")] > gated.action_counts[("pe_array", "mac_skipped")]
    )


@pytest.mark.parametrize("preset", ["sparse_edge_16x16", "scalesim_32x32"])
def test_speedup_losses_add_up_to_the_gap(preset):
    report = simulate(LENET, preset, mode="event", masks=_random_masks(LENET, 0.25, 5))
    losses = report.speedup_losses_cycles()
    assert set(losses) == set(SPEEDUP_LOSSES)
    gap = report.cycles - report.dense_cycles / report.ideal_speedup
    assert math.isclose(sum(losses.values()), gap, rel_tol=1e-9, abs_tol=1e-6)
    for layer in report.layers:
        if layer.sparse:
            ideal_cycles = layer.sparse.dense_cycles * layer.sparse.effectual_macs / layer.sparse.dense_macs
            assert math.isclose(
                sum(layer.sparse.losses_cycles.values()),
                layer.cycles - ideal_cycles,
                rel_tol=1e-9,
                abs_tol=1e-6,
            )


def test_sparse_report_json_round_trip():
    report = simulate(LENET, "sparse_edge_16x16", mode="analytical", masks=_random_masks(LENET, 0.3))
    back = Report.from_json(report.to_json())
    assert back == report
    assert [layer.sparse for layer in back.layers] == [layer.sparse for layer in report.layers]
    assert json.loads(report.to_json())["layers"][0]["sparse"]["dense_macs"] > 0


def test_same_inputs_same_numbers():
    masks = _random_masks(LENET, 0.3, 9)
    a = simulate(LENET, "sparse_edge_16x16", masks=masks)
    b = simulate(LENET, "sparse_edge_16x16", masks=masks)
    assert a.to_json() == b.to_json()


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "masks, message",
    [
        ({"nope": np.ones((1,), bool)}, "masks['nope']: no such layer"),
        ({"pool1": np.ones((1,), bool)}, "masks['pool1']: a Pool layer has no weights"),
        (
            {"fc1": np.ones((120, 63), bool)},
            "masks['fc1']: shape must be the weight shape (120, 64), got (120, 63)",
        ),
        ({"fc1": np.ones((120, 64))}, "masks['fc1']: dtype must be bool, got float64"),
        ([1, 2], "masks: expected a mapping"),
    ],
)
def test_bad_masks_are_named(masks, message):
    with pytest.raises(ValueError, match=None) as err:
        simulate(LENET, "sparse_edge_16x16", mode="analytical", masks=masks)
    assert message in str(err.value)


def test_bad_density_and_baseline_are_named():
    with pytest.raises(ValueError, match=r"ifmap_density\['fc1'\]: must be a fraction in \[0, 1\] .*got 1.5"):
        simulate(LENET, "sparse_edge_16x16", mode="analytical", ifmap_density={"fc1": 1.5})
    other = simulate(LENET, "scalesim_32x32", mode="analytical")
    with pytest.raises(ValueError, match="baseline.hardware: must be 'sparse_edge_16x16'"):
        simulate(
            LENET, "sparse_edge_16x16", mode="analytical", masks=_random_masks(LENET, 0.5), baseline=other
        )


def test_ifmap_densities_are_measured_from_real_activations():
    from accelsim.sparse.activations import ifmap_densities
    from workloads.models import init_weights

    weights = init_weights(LENET, seed=0)
    x = np.random.default_rng(0).random((16, 1, 8, 8)).astype(np.float32)
    x[:, :, :4] = 0.0  # half of every image is zero
    densities = ifmap_densities(LENET, weights, x)
    assert set(densities) == {layer.name for layer in _weighted(LENET)}
    assert densities["conv1"] == 0.5
    for name in ("conv2", "fc1", "fc2", "fc3"):  # after ReLUs: some zeros, not all
        assert 0.0 < densities[name] <= 1.0
    assert densities["fc2"] < 1.0
    report = simulate(LENET, "sparse_edge_16x16", mode="analytical", ifmap_density=densities)
    dense = simulate(LENET, "sparse_edge_16x16", mode="analytical")
    assert report.cycles == dense.cycles and report.energy_pj < dense.energy_pj


def test_layer_cache_reuses_unchanged_layers_and_changes_nothing():
    from accelsim.timing.layer_cache import LayerCache

    cache = LayerCache()
    masks = _random_masks(LENET, 0.3, 1)
    first = simulate(LENET, "sparse_edge_16x16", masks=masks, cache=cache)
    assert cache.misses == len(masks) and cache.hits == 0
    changed = dict(masks, fc2=_random_masks(LENET, 0.6, 2)["fc2"])
    second = simulate(LENET, "sparse_edge_16x16", masks=changed, cache=cache)
    assert cache.misses == len(masks) + 1 and cache.hits == len(masks) - 1
    assert second.to_json() == simulate(LENET, "sparse_edge_16x16", masks=changed).to_json()
    assert first.to_json() == simulate(LENET, "sparse_edge_16x16", masks=masks, cache=cache).to_json()
    with pytest.raises(ValueError, match="max_entries must be an int >= 1, got 0"):
        LayerCache(0)


def test_reuse_schedule_moves_compressed_weights_once_per_weight_pass():
    # Weights (128 x 64 x 3 x 3 = 72 KiB int8) far exceed half of a 16 KiB filter buffer, so the
    # schedule walks them once per output-row tile; each walk moves the compressed storage.
    layer = Conv2d("conv", 64, 128, (3, 3), (28, 28), padding=(1, 1))
    hardware = _hw(buffers__filter__size_bytes=16384, buffers__ifmap__size_bytes=16384)
    dense = simulate(_one_layer(layer), hardware, mode="analytical")
    passes = dense.layer("conv").dram_read_bytes["filter"] // layer.weight_count
    assert passes > 1 and passes * layer.weight_count == dense.layer("conv").dram_read_bytes["filter"]
    mask = np.random.default_rng(3).random(layer.weight_shape) < 0.2
    sparse = simulate(_one_layer(layer), hardware, mode="analytical", masks={"conv": mask})
    got = sparse.layer("conv")
    assert got.dram_read_bytes["filter"] == passes * got.sparse.storage_bytes
