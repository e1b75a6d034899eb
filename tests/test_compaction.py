"""Channel compaction: masks that empty whole channels run as smaller layers (accelsim.sparse.compaction)."""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from reference_kernels import conv2d as conv_reference

from accelsim.arch.hardware import load_hardware
from accelsim.sparse.compaction import compact_channels
from accelsim.timing.report import SPEEDUP_LOSSES, Report
from accelsim.timing.simulate import simulate
from pruning import prune
from workloads.layers import Conv2d, Linear
from workloads.network import Network
from workloads.zoo import get_network


def _one_layer(layer):
    return Network.sequential(f"net_{layer.name}", [layer])


def _hw(name="scalesim_32x32"):
    return load_hardware(name)


# ------------------------------------------------------------------------------ the layer rewrite


def test_conv_loses_empty_filters_and_unread_input_channels():
    layer = Conv2d("conv", 6, 8, 3, (10, 10), padding=1)
    rng = np.random.default_rng(0)
    mask = rng.random(layer.weight_shape) < 0.5
    mask[[1, 4, 5]] = False  # three empty filters
    mask[:, [0, 3]] = False  # two input channels no weight reads
    c = compact_channels(layer, mask)
    assert (c.layer.out_channels, c.layer.in_channels, c.layer.groups) == (5, 4, 1)
    assert c.out_channels.tolist() == [0, 2, 3, 6, 7] and c.in_channels.tolist() == [1, 2, 4, 5]
    assert (c.removed_out_channels, c.removed_in_channels) == (3, 2)
    np.testing.assert_array_equal(c.mask, mask[np.ix_(c.out_channels, c.in_channels)])
    assert c.layer.output_hw == layer.output_hw and c.layer.kernel_size == layer.kernel_size


def test_linear_drops_unread_features():
    layer = Linear("fc", 12, 5, tokens=3)
    mask = np.ones(layer.weight_shape, dtype=bool)
    mask[:, 7:] = False
    mask[2] = False
    c = compact_channels(layer, mask)
    assert (c.layer.in_features, c.layer.out_features, c.layer.tokens) == (7, 4, 3)
    assert c.mask.all()


def test_depthwise_stays_depthwise_with_fewer_channels():
    layer = Conv2d("dw", 8, 8, 3, (6, 6), padding=1, groups=8)
    mask = np.ones(layer.weight_shape, dtype=bool)
    mask[[0, 5]] = False
    c = compact_channels(layer, mask)
    assert c.layer.is_depthwise and c.layer.groups == 6
    assert c.out_channels.tolist() == c.in_channels.tolist() == [1, 2, 3, 4, 6, 7]


def test_uneven_groups_are_padded_to_the_largest_group():
    layer = Conv2d("g", 8, 8, 1, (4, 4), groups=2)  # 4 outputs and 4 inputs per group
    mask = np.ones(layer.weight_shape, dtype=bool)
    mask[[0, 1, 7]] = False  # group 0 keeps 2 outputs, group 1 keeps 3
    mask[:4, 2:] = False  # group 0 reads 2 of its inputs
    mask[4:, 3] = False  # group 1 reads 3
    c = compact_channels(layer, mask)
    assert (c.layer.groups, c.layer.out_channels, c.layer.in_channels) == (2, 6, 6)
    assert c.out_channels.tolist() == [2, 3, -1, 4, 5, 6]
    assert c.in_channels.tolist() == [0, 1, -1, 4, 5, 6]
    assert (c.removed_out_channels, c.removed_in_channels) == (3, 3)
    assert c.mask.sum() == mask.sum() and not c.mask[2].any() and not c.mask[:3, 2].any()
    # Padding that would leave every group its full size removes nothing.
    only_first_filter_pruned = np.ones(layer.weight_shape, dtype=bool)
    only_first_filter_pruned[0] = False
    assert compact_channels(layer, only_first_filter_pruned) is None


@pytest.mark.parametrize("fill", [True, False])
def test_full_or_empty_masks_are_left_alone(fill):
    layer = Conv2d("conv", 4, 4, 3, (5, 5))
    assert compact_channels(layer, np.full(layer.weight_shape, fill)) is None


@st.composite
def _conv_cases(draw):
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 4))
    cout = groups * draw(st.integers(1, 4))
    k = draw(st.sampled_from([1, 3]))
    layer = Conv2d("c", cin, cout, k, (5, 5), padding=k // 2, groups=groups)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    mask = rng.random(layer.weight_shape) < draw(st.floats(0.05, 0.9))
    mask[rng.random(cout) < 0.3] = False  # whole filters, as channel pruning leaves
    mask[:, rng.random(cin // groups) < 0.3] = False  # whole inputs
    return layer, mask


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_conv_cases())
def test_compacted_layer_computes_the_same_outputs(case):
    """The compacted conv on the kept input channels gives the kept outputs; removed outputs are 0."""
    layer, mask = case
    c = compact_channels(layer, mask)
    rng = np.random.default_rng(1)
    w = rng.standard_normal(layer.weight_shape) * mask
    x = rng.standard_normal((1, layer.in_channels, 5, 5))
    y = conv_reference(x, w, padding=layer.padding, groups=layer.groups)
    if c is None:
        return
    assert c.mask.sum() == mask.sum()
    per_group = layer.in_channels // layer.groups
    n_keep = c.layer.out_channels // c.layer.groups
    c_keep = c.layer.in_channels // c.layer.groups
    small_w = np.zeros(c.layer.weight_shape)
    for o, src_o in enumerate(c.out_channels):
        if src_o < 0:
            continue
        t = o // n_keep
        for i, src_i in enumerate(c.in_channels[t * c_keep : (t + 1) * c_keep]):
            if src_i >= 0:
                assert src_i // per_group == src_o // (layer.out_channels // layer.groups)  # same group
                small_w[o, i] = w[src_o, src_i % per_group]
    assert not (small_w * ~c.mask).any()  # only kept weights survive
    x_small = np.where((c.in_channels >= 0)[None, :, None, None], x[:, np.maximum(c.in_channels, 0)], 0.0)
    y_small = conv_reference(x_small, small_w, padding=c.layer.padding, groups=c.layer.groups)
    kept = c.out_channels >= 0
    np.testing.assert_allclose(y_small[:, kept], y[:, c.out_channels[kept]], rtol=1e-12, atol=1e-12)
    removed = np.setdiff1d(np.arange(layer.out_channels), c.out_channels)
    assert not y[:, removed].any()


# ------------------------------------------------------------------------------ in simulation


def test_channel_pruned_layer_times_like_the_smaller_layer_on_dense_hardware():
    layer = Conv2d("conv", 32, 64, 3, (16, 16), padding=1)
    mask = np.ones(layer.weight_shape, dtype=bool)
    mask[40:] = False  # 24 of 64 filters pruned
    mask[:, 20:] = False  # 12 of 32 inputs unread
    hardware = _hw()
    report = simulate(_one_layer(layer), hardware, mode="analytical", masks={"conv": mask})
    smaller = simulate(
        _one_layer(Conv2d("conv", 20, 40, 3, (16, 16), padding=1)), hardware, mode="analytical"
    )
    got, ref = report.layer("conv"), smaller.layer("conv")
    assert got.cycles == ref.cycles and got.dram_read_bytes == ref.dram_read_bytes
    assert got.action_counts == ref.action_counts
    assert got.sparse.compacted_weight_shape == (40, 20, 3, 3)
    assert got.sparse.run_macs == ref.macs == got.sparse.effectual_macs
    assert got.sparse.dense_macs == layer.macs
    (row,) = report.to_records()
    assert (row["dense_macs"], row["run_macs"]) == (layer.macs, ref.macs)
    uncompacted = simulate(
        _one_layer(layer), hardware, mode="analytical", masks={"conv": mask}, compact_channels=False
    )
    assert uncompacted.cycles == simulate(_one_layer(layer), hardware, mode="analytical").cycles
    assert report.achieved_speedup > 1.3 and uncompacted.achieved_speedup == 1.0


@pytest.mark.parametrize("mode", ["analytical", "event"])
def test_packing_gain_is_attributed_to_compaction(mode):
    # 20 output channels on a 16-column os array take two column folds; 16 take one. The MACs
    # shrink by 20/16, the folds by 2: achieved beats the MAC ratio and the attribution says why.
    layer = Linear("fc", 256, 20, tokens=64)
    hardware = _hw("sparse_edge_16x16")
    assert hardware.pe.dataflow == "os" and hardware.pe.cols == 16
    mask = np.ones(layer.weight_shape, dtype=bool)
    mask[16:] = False
    report = simulate(_one_layer(layer), hardware, mode=mode, masks={"fc": mask})
    info = report.layer("fc").sparse
    assert info.ideal_speedup == 20 / 16
    assert report.achieved_speedup > info.ideal_speedup
    losses = info.losses_cycles
    assert set(losses) == set(SPEEDUP_LOSSES) and losses["channel_compaction"] < 0
    ideal_cycles = info.dense_cycles * info.effectual_macs / info.dense_macs
    assert math.isclose(
        sum(losses.values()), report.layer("fc").cycles - ideal_cycles, rel_tol=1e-9, abs_tol=1e-6
    )
    assert Report.from_json(report.to_json()) == report


def test_compaction_never_changes_effectual_work_or_loses_time():
    network = get_network("resnet18", input_hw=(32, 32))
    rng = np.random.default_rng(3)
    weights = {
        layer.name: rng.standard_normal(layer.weight_shape).astype(np.float32)
        for layer in network.layers()
        if getattr(layer, "weight_shape", None)
    }
    masks = prune(network, weights, amount=0.4, granularity="channel")
    hardware = _hw()
    on = simulate(network, hardware, mode="analytical", masks=masks)
    off = simulate(network, hardware, mode="analytical", masks=masks, compact_channels=False)
    assert on.macs == off.macs
    compacted = [layer for layer in on.layers if layer.sparse and layer.sparse.compacted_weight_shape]
    assert len(compacted) > 10
    for layer in compacted:
        assert layer.cycles <= off.layer(layer.name).cycles, layer.name
        assert layer.sparse.run_macs < layer.sparse.dense_macs
    assert off.achieved_speedup == pytest.approx(1.0, abs=1e-9)  # no sparse support, no compaction
    assert on.achieved_speedup > 1.3
    json.loads(on.to_json())


# ------------------------------------------------------------------------------ activation density


def test_per_channel_densities_average_to_the_layer_density():
    from accelsim.sparse.activations import ifmap_densities
    from workloads.models import init_weights, lenet_network

    net = lenet_network()
    weights = init_weights(net, seed=0)
    x = np.random.default_rng(0).random((8, 1, 8, 8)).astype(np.float32)
    x[:, :, :3] = 0.0
    whole = ifmap_densities(net, weights, x)
    per_channel = ifmap_densities(net, weights, x, per_channel=True)
    for layer in net.layers():
        if layer.name in whole:
            got = per_channel[layer.name]
            channels = layer.in_channels if isinstance(layer, Conv2d) else layer.in_features
            assert got.shape == (channels,) and ((got >= 0) & (got <= 1)).all()
            assert got.mean() == pytest.approx(whole[layer.name], rel=1e-12)
    masks = prune(net, weights, amount=0.5, granularity="channel")
    pruned = ifmap_densities(net, weights, x, masks=masks, per_channel=True)
    assert (pruned["conv2"] == 0).any()  # pruned conv1 filters output zeros


def test_compacted_layer_reads_only_the_density_of_its_kept_channels():
    layer = Conv2d("conv", 8, 16, 3, (8, 8), padding=1)
    mask = np.ones(layer.weight_shape, dtype=bool)
    mask[:, :4] = False  # inputs 0-3 come from pruned filters
    density = np.array([0.0] * 4 + [0.5] * 4)
    hardware = _hw("sparse_edge_16x16")
    assert hardware.sparsity.ifmap.mode == "gating"

    def zero_input_macs(**kw):
        counts = (
            simulate(
                _one_layer(layer),
                hardware,
                mode="analytical",
                masks={"conv": mask},
                ifmap_density={"conv": density},
                **kw,
            )
            .layer("conv")
            .action_counts
        )
        return counts[("pe_array", "mac_gated")]

    effectual = int(mask.sum()) * layer.gemm.m
    assert zero_input_macs() == round(effectual * 0.5)  # kept channels: 0.5
    assert zero_input_macs(compact_channels=False) == round(effectual * 0.75)  # all channels: 0.25
    with pytest.raises(
        ValueError,
        match=r"ifmap_density\['conv'\]: a per-channel density needs one number "
        r"per input channel \(8\), got shape \(3,\)",
    ):
        simulate(_one_layer(layer), hardware, masks={"conv": mask}, ifmap_density={"conv": np.ones(3)})
    with pytest.raises(
        ValueError, match=r"ifmap_density\['conv'\]: per-channel fractions must lie in \[0, 1\]"
    ):
        simulate(_one_layer(layer), hardware, masks={"conv": mask}, ifmap_density={"conv": np.full(8, 1.5)})


def test_compaction_that_breaks_an_nm_pattern_is_declined_when_it_would_run_slower():
    # 2:4 along the reduction; every row keeps slots {0, 1} of group 0, so inputs 2 and 3 are
    # unread. Removing them leaves 62 inputs, which groups of 4 no longer tile (and would realign
    # the groups if they did), so compacted the layer would fall back to dense on 2:4 hardware.
    layer = Linear("fc", 64, 32, tokens=64)
    mask = np.zeros(layer.weight_shape, dtype=bool)
    for row in range(32):
        for group in range(16):
            first = 0 if group == 0 or (row + group) % 2 else 2
            mask[row, 4 * group + first : 4 * group + first + 2] = True
    assert compact_channels(layer, mask).removed_in_channels == 2
    hardware = _hw("nm_tensor_32x32")
    on = simulate(_one_layer(layer), hardware, mode="analytical", masks={"fc": mask})
    off = simulate(_one_layer(layer), hardware, mode="analytical", masks={"fc": mask}, compact_channels=False)
    assert off.layer("fc").sparse.fallback is None and off.achieved_speedup > 1.2
    from accelsim.timing.sparse_model import SparseLayerModel

    assert SparseLayerModel(layer, hardware, mask).fallback is not None  # compacted, it would run dense
    assert on.layer("fc").sparse.fallback is None and on.layer("fc").sparse.compacted_weight_shape is None
    assert on.layer("fc").cycles == off.layer("fc").cycles
    # On hardware that stores any pattern, the same mask is compacted.
    edge = simulate(_one_layer(layer), _hw("sparse_edge_16x16"), mode="analytical", masks={"fc": mask})
    assert edge.layer("fc").sparse.compacted_weight_shape == (32, 62)
