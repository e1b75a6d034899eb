import networkx as nx
import pytest

from workloads.layers import Add, Conv2d, Linear, Pool
from workloads.network import Network, NetworkBuilder


def _conv(name: str, cin: int = 4, cout: int = 4) -> Conv2d:
    return Conv2d(name, cin, cout, 3, 8, padding=1, activation="relu")


def _diamond() -> Network:
    """x -> (a, b) -> add -> fc, with b added before a to check insertion order drives ties."""
    builder = NetworkBuilder("diamond")
    builder.add(_conv("x", 3, 4))
    builder.add(_conv("b"), inputs=("x",))
    builder.add(_conv("a"), inputs=("x",))
    builder.add(Add("add", (4, 8, 8)), inputs=("a", "b"))
    builder.add(Pool("pool", 4, 8, 8, 8, kind="avg"))
    builder.add(Linear("fc", 4, 10))
    return builder.build()


def test_sequential_keeps_construction_order():
    layers = [_conv("z", 3, 4), _conv("y"), _conv("a")]  # names deliberately not sorted
    net = Network.sequential("chain", layers)
    assert net.layers() == layers
    assert list(net) == layers
    assert net.layer_names == ["z", "y", "a"]
    assert net.predecessors("y") == ["z"] and net.successors("y") == ["a"]


def test_topological_order_on_branches():
    net = _diamond()
    assert net.layer_names == ["x", "b", "a", "add", "pool", "fc"]
    position = {n: i for i, n in enumerate(net.layer_names)}
    for src, dst in net.graph.edges:
        assert position[src] < position[dst]
    assert net.predecessors("add") == ["b", "a"]  # insertion order, not edge order
    assert net.successors("x") == ["b", "a"]


def test_order_is_deterministic_across_builds():
    assert _diamond().layer_names == _diamond().layer_names


def test_lookup_len_contains():
    net = _diamond()
    assert len(net) == 6
    assert "add" in net and "missing" not in net
    assert net["fc"] == Linear("fc", 4, 10)
    with pytest.raises(KeyError, match="missing"):
        net["missing"]


def test_totals():
    net = _diamond()
    pixels = 8 * 8
    # x: 3->4 channels, a and b: 4->4 channels, all 3x3 "same"; pool and add do no MACs; fc 4->10.
    assert net.total_macs == pixels * 4 * 3 * 9 + 2 * pixels * 4 * 4 * 9 + 4 * 10
    assert net.total_weights == 4 * 3 * 9 + 2 * 4 * 4 * 9 + 10 * 4
    assert net.total_ops == net.total_macs + 4 * 8 * 8 + 4 * 64  # add elements + pool window taps


def test_duplicate_name_rejected():
    builder = NetworkBuilder("dup")
    builder.add(_conv("x", 3, 4))
    with pytest.raises(ValueError, match="duplicate layer name 'x'"):
        builder.add(_conv("x"))
    with pytest.raises(ValueError, match="duplicate layer name 'x'"):
        Network.sequential("dup", [_conv("x", 3, 4), _conv("x")])


def test_unknown_input_rejected():
    builder = NetworkBuilder("n")
    with pytest.raises(ValueError, match="'nope'"):
        builder.add(_conv("x", 3, 4), inputs=("nope",))


def test_cycle_rejected():
    graph = nx.DiGraph()
    for name in ("a", "b"):
        graph.add_node(name, layer=_conv(name))
    graph.add_edge("a", "b")
    graph.add_edge("b", "a")
    with pytest.raises(ValueError, match="cycle"):
        Network("cyclic", graph)


def test_node_name_must_match_layer_name():
    graph = nx.DiGraph()
    graph.add_node("a", layer=_conv("b"))
    with pytest.raises(ValueError, match="'a'.*'b'"):
        Network("mismatch", graph)
    graph = nx.DiGraph()
    graph.add_node("a")
    with pytest.raises(ValueError, match="no layer"):
        Network("bare", graph)


def test_graph_is_copied_and_frozen():
    graph = nx.DiGraph()
    graph.add_node("a", layer=_conv("a"))
    net = Network("n", graph)
    graph.add_node("b", layer=_conv("b"))
    assert len(net) == 1 and "b" not in net
    with pytest.raises(nx.NetworkXError):
        net.graph.add_node("c")
