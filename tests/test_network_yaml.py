"""The network YAML file: lossless for every zoo network and layer kind; bad input named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from workloads.importers import ImportFormatError
from workloads.importers.network_yaml import dump_network, parse_network, read_network
from workloads.layers import Add, Conv2d, LayerNorm, Linear, MatMul, Pool, Softmax
from workloads.models import MODELS, build_model
from workloads.network import Network, NetworkBuilder
from workloads.zoo import get_network, list_networks


def assert_same_network(a: Network, b: Network) -> None:
    assert a.name == b.name
    assert a.layer_names == b.layer_names
    assert a.layers() == b.layers()
    assert sorted(a.graph.edges) == sorted(b.graph.edges)


@pytest.mark.parametrize("name", list_networks())
def test_every_zoo_network_round_trips(name: str) -> None:
    network = get_network(name)
    assert_same_network(parse_network(dump_network(network), f"{name}.yaml"), network)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_trainable_model_networks_round_trip(name: str) -> None:
    network = build_model(name).network
    assert_same_network(parse_network(dump_network(network)), network)


pairs = st.one_of(st.integers(1, 4), st.tuples(st.integers(1, 4), st.integers(1, 4)))
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)
activations = st.sampled_from([None, "relu", "relu6", "gelu"])
layers = st.one_of(
    st.builds(
        lambda c, k, g, ks, hw, s, p, d, a: Conv2d(
            "l", c * g, k * g, ks, (20, 23), stride=s, padding=p, dilation=d, groups=g, activation=a
        ),
        st.integers(1, 3),
        st.integers(1, 3),
        st.integers(1, 3),
        pairs,
        st.none(),
        pairs,
        st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
        st.one_of(st.integers(1, 2), st.tuples(st.integers(1, 2), st.integers(1, 2))),
        activations,
    ),
    st.builds(
        lambda i, o, t, a: Linear("l", i, o, tokens=t, activation=a),
        st.integers(1, 9),
        st.integers(1, 9),
        st.integers(1, 9),
        activations,
    ),
    st.builds(lambda m, k, n, h: MatMul("l", m, k, n, heads=h), *[st.integers(1, 5)] * 4),
    st.builds(
        lambda c, k, s, kind: Pool("l", c, (8, 9), k, s, kind=kind),
        st.integers(1, 4),
        pairs,
        pairs,
        st.sampled_from(["max", "avg"]),
    ),
    st.builds(lambda shape, a: Add("l", shape, activation=a), shapes, activations),
    st.builds(lambda shape: Softmax("l", shape), shapes),
    st.builds(lambda shape: LayerNorm("l", shape), shapes),
)


@settings(max_examples=150, deadline=None)
@given(kinds=st.lists(layers, min_size=1, max_size=6), links=st.lists(st.integers(0, 10), max_size=6))
def test_any_layers_and_edges_round_trip(kinds, links) -> None:
    builder = NetworkBuilder("random net")
    names: list[str] = []
    for i, layer in enumerate(kinds):
        # Rename by rebuilding: layers are frozen; every field but the name is kept.
        fields = {f: getattr(layer, f) for f in layer.__dataclass_fields__ if f != "name"}
        renamed = type(layer)(name=f"layer {i}", **fields)
        inputs = sorted({names[j % len(names)] for j in links[:i]}) if names and i % 2 else None
        builder.add(renamed, inputs if i != 3 else [])
        names.append(renamed.name)
    network = builder.build()
    assert_same_network(parse_network(dump_network(network)), network)


def test_a_hand_written_file_with_defaults_short_pairs_and_branches(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "name: tiny\n"
        "layers:\n"
        "  - {type: Conv2d, name: conv1, in_channels: 3, out_channels: 8, kernel_size: 3, input_hw: [8, 6], padding: 1}\n"
        "  - type: Conv2d\n"
        "    name: conv2\n"
        "    in_channels: 8\n"
        "    out_channels: 8\n"
        "    kernel_size: 1\n"
        "    input_hw: [8, 6]\n"
        "  - {type: Add, name: skip, shape: [8, 8, 6], inputs: [conv1, conv2], activation: relu}\n"
        "  - {type: Linear, name: head, in_features: 384, out_features: 10, inputs: []}\n"
    )
    expected = NetworkBuilder("tiny")
    expected.add(Conv2d("conv1", 3, 8, (3, 3), (8, 6), padding=(1, 1)))
    expected.add(Conv2d("conv2", 8, 8, (1, 1), (8, 6)))
    expected.add(Add("skip", (8, 8, 6), activation="relu"), ["conv1", "conv2"])
    expected.add(Linear("head", 384, 10), [])
    imported = read_network(path)
    assert_same_network(imported.network, expected.build())
    assert imported.weights is None and imported.notes == ()


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            "name: n\nlayers:\n  - {type: Conv3d, name: c}\n",
            "net.yaml:3: layers[0].type: must be one of Conv2d,",
        ),
        (
            "name: n\nlayers:\n  - {type: Linear, name: fc, in_features: 4, out_features: 2, bias: true}\n",
            "net.yaml:3: layers[0].bias: unknown field of Linear; allowed: type, name, in_features",
        ),
        (
            "name: n\nlayers:\n  - {type: Linear, name: a, in_features: 4, out_features: 2}\n"
            "  - {type: Linear, name: b, in_features: 0, out_features: 2}\n",
            "net.yaml:4: layers[1]: layer 'b': in_features must be an int >= 1, got 0",
        ),
        (
            "name: n\nlayers:\n  - {type: Linear, name: fc, in_features: 4}\n",
            "net.yaml:3: layers[0] (Linear): ",
        ),
        (
            "name: n\nlayers:\n  - {type: Linear, name: fc, in_features: 4, out_features: 2, inputs: [x]}\n",
            "net.yaml:3: layers[0]: network 'n': layer 'fc' input 'x' is not defined",
        ),
        (
            "name: n\nlayers:\n  - {type: Linear, name: fc, in_features: 4, out_features: 2, inputs: fc0}\n",
            "net.yaml:3: layers[0].inputs: must be a list of layer names, got 'fc0'",
        ),
        ("name: n\nname: m\nlayers: []\n", "net.yaml:2: duplicate key 'name'"),
        ("name: n\nlayers: []\n", "net.yaml:2: layers: must be a non-empty list"),
        ("layers: [{type: Softmax, name: s, shape: 3}]\n", "net.yaml:1: name: missing required key"),
        ("name: n\nlayer: []\n", "net.yaml:2: layer: unknown key; allowed: name, layers"),
        ("- a\n- b\n", "net.yaml: a network file is a mapping"),
        ("name: n\nlayers: [{type: Softmax, name: s, shape: 3}\n", "net.yaml:3: invalid YAML"),
        (
            "name: n\nlayers: [{type: Softmax, name: s, shape: 3}, 7]\n",
            "net.yaml:2: layers[1]: must be a mapping",
        ),
    ],
)
def test_bad_files_name_file_line_path_and_field(text: str, needle: str) -> None:
    with pytest.raises(ImportFormatError) as info:
        parse_network(text, "net.yaml")
    assert needle in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match="gone.yaml: cannot read network file"):
        read_network(tmp_path / "gone.yaml")
