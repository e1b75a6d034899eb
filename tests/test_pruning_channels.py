import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from pruning import (
    Channel,
    Masks,
    channel_consistency_problems,
    channel_groups,
    check_channel_consistency,
    prune,
)
from workloads.layers import Add, Conv2d, Linear, Pool, depthwise_conv2d
from workloads.network import NetworkBuilder
from workloads.zoo import get_network


def _weights(net, seed=0):
    rng = np.random.default_rng(seed)
    return {
        layer.name: rng.standard_normal(layer.weight_shape).astype(np.float32)
        for layer in net
        if layer.weight_shape
    }


@pytest.fixture(scope="module")
def resnet18():
    net = get_network("resnet18", input_hw=32)
    return net, _weights(net)


@pytest.fixture(scope="module")
def mobilenet():
    net = get_network("mobilenet_v2", input_hw=32)
    return net, _weights(net, 1)


@pytest.fixture
def residual():
    """stem -> (a -> dw -> b) + stem -> add -> pool -> fc, plus a grouped conv branch off the add."""
    builder = NetworkBuilder("residual")
    builder.add(Conv2d("stem", 3, 8, 3, 8, padding=1, activation="relu"), inputs=())
    builder.add(Conv2d("a", 8, 16, 1, 8, activation="relu"))
    builder.add(depthwise_conv2d("dw", 16, 3, 8, padding=1, activation="relu"))
    builder.add(Conv2d("b", 16, 8, 1, 8))
    builder.add(Add("add", (8, 8, 8), activation="relu"), inputs=("b", "stem"))
    builder.add(Conv2d("grouped", 8, 8, 3, 8, padding=1, groups=2, activation="relu"))
    builder.add(Pool("pool", 8, 8, 2, 2, kind="avg"))
    builder.add(Linear("fc", 8 * 16, 10))
    return builder.build()


def test_groups_through_adds_depthwise_and_flatten(residual):
    groups = {g.producers: g for g in channel_groups(residual)}
    joined = groups[("stem", "b")]
    assert joined.joins == ("add",) and joined.prunable
    assert [(c.name, c.span) for c in joined.consumers] == [("a", 1), ("grouped", 1)]
    hidden = groups[("a",)]
    assert hidden.passthrough == ("dw",) and [c.name for c in hidden.consumers] == ["b"]
    flatten = groups[("grouped",)]
    assert [(c.name, c.span) for c in flatten.consumers] == [("fc", 16)]  # through the pool, C-major
    assert not groups[("fc",)].prunable and "network output" in groups[("fc",)].reason


def test_residual_channel_removal_is_joint(residual):
    masks = prune(residual, _weights(residual), amount=3, granularity="channel")
    check_channel_consistency(residual, masks)
    stem_rows = ~masks["stem"].reshape(8, -1).any(axis=1)
    b_rows = ~masks["b"].reshape(8, -1).any(axis=1)
    np.testing.assert_array_equal(stem_rows, b_rows)
    assert stem_rows.sum() == 3
    assert not masks["a"][:, stem_rows].any()
    # grouped conv (2 groups of 4 in -> 4 out): input channel c lives in group c // 4.
    for c in np.flatnonzero(stem_rows):
        g, j = divmod(c, 4)
        assert not masks["grouped"][4 * g : 4 * g + 4, j].any()
    dw_rows = ~masks["dw"].reshape(16, -1).any(axis=1)
    a_rows = ~masks["a"].reshape(16, -1).any(axis=1)
    np.testing.assert_array_equal(dw_rows, a_rows)  # the depthwise conv loses the channel with its producer
    fc_dead = ~masks["fc"].any(axis=0)
    grouped_rows = ~masks["grouped"].reshape(8, -1).any(axis=1)
    np.testing.assert_array_equal(fc_dead, np.repeat(grouped_rows, 16))
    assert masks.density_of("fc") < 1.0 and masks["fc"].any(axis=1).all()  # no class removed


@pytest.mark.parametrize("scope", ["local", "global"])
def test_resnet18_channel_pruning_is_consistent(resnet18, scope):
    net, w = resnet18
    masks = prune(net, w, amount=0.4, granularity="channel", scope=scope)
    check_channel_consistency(net, masks)
    assert masks.density < 0.8
    # Every prunable group lost channels in local scope; the fc kept its classes.
    assert masks["fc"].any(axis=1).all()
    if scope == "local":
        for group in channel_groups(net):
            if group.prunable:
                removed = ~masks[group.producers[0]].reshape(group.channels, -1).any(axis=1)
                assert removed.sum() == round(0.4 * group.channels)


def test_mobilenet_v2_channel_pruning_is_consistent(mobilenet):
    net, w = mobilenet
    first = prune(net, w, amount=0.3, granularity="channel")
    check_channel_consistency(net, first)
    second = prune(net, w, amount=0.5, granularity="channel", current=first)
    check_channel_consistency(net, second)
    assert all(not (second[n] & ~first[n]).any() for n in first)
    assert second.density < first.density < 1.0
    # Unstructured pruning on top keeps the removed channels removed.
    third = prune(net, w, amount=0.8, current=second)
    check_channel_consistency(net, third)


def test_inconsistent_masks_are_reported_by_layer(residual):
    masks = Masks.dense(residual)
    stem = np.array(masks["stem"])
    stem[2] = False
    only_stem = masks.replace("stem", stem)
    assert channel_consistency_problems(residual, only_stem) == []  # b still produces channel 2
    b = np.array(masks["b"])
    b[2] = False
    both = only_stem.replace("b", b)
    problems = channel_consistency_problems(residual, both)
    assert len(problems) == 2 and "'a'" in problems[0] and "'grouped'" in problems[1]
    with pytest.raises(ValueError, match="'a'"):
        check_channel_consistency(residual, both)
    fc = np.ones((10, 10), bool)
    assert "'fc'" in channel_consistency_problems(residual, {"fc": fc})[0]


def test_classifier_channels_only_by_request(residual):
    w = _weights(residual)
    with pytest.raises(ValueError, match="'fc'.*network output"):
        prune(residual, w, amount=0.5, overrides={"fc": {"granularity": Channel()}})
    with pytest.raises(ValueError, match=r"\['stem', 'b'\].*different amounts"):
        prune(residual, w, amount=0.5, granularity="channel", overrides={"b": {"amount": 0.25}})


def test_bert_groups_blocked_by_attention_and_layernorm():
    net = get_network("bert_base_encoder")
    groups = channel_groups(net)
    prunable = [g.producers for g in groups if g.prunable]
    assert prunable == [("ffn.intermediate",)]
    reasons = {g.producers: g.reason for g in groups}
    assert "MatMul" in reasons[("attention.query",)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.floats(0.0, 0.9), seed=st.integers(0, 2**16), scope=st.sampled_from(["local", "global"]))
def test_channel_pruning_keeps_the_network_executable(residual, amount, seed, scope):
    from accelsim.sparse.execute import execute

    net = residual
    weights = _weights(net, seed)
    masks = prune(net, weights, amount=amount, granularity="channel", scope=scope)
    check_channel_consistency(net, masks)
    x = np.random.default_rng(seed).standard_normal((2, 3, 8, 8)).astype(np.float32)
    outputs = execute(net, weights, masks, x, return_all=True)
    assert outputs["fc"].reshape(2, 10).shape == (2, 10) and np.isfinite(outputs["fc"]).all()
    # A removed output channel of the stem is zero everywhere downstream of it (no bias here).
    removed = ~masks["stem"].reshape(8, -1).any(axis=1)
    assert np.all(outputs["stem"][:, removed] == 0)
