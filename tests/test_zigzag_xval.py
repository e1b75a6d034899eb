"""Cross-validation against ZigZag 3.9 on a few ResNet-18 layers (docs/validation.md, "ZigZag").

Live: one ZigZag run (~20-60 s) in the interpreter named by ACCELSIM_ZIGZAG_PYTHON (`make test` builds
.venv-zigzag and sets it); skipped only where no ZigZag is installed. Expected DRAM bytes are the
compulsory traffic worked out here from the layer shapes (each input a window touches read once,
weights once, outputs written once), which holds when every operand fits in half its buffer: the
test hardware has 512 KiB buffers so that the chosen layers do.
"""

from __future__ import annotations

import math

import pytest
from zigzag_peer import compare_script, zigzag_python

from accelsim.timing.simulate import simulate
from workloads.layers import Conv2d, Linear
from workloads.zoo import get_network

compare = compare_script()
LAYERS = ("layer1.0.conv1", "layer3.0.downsample", "fc")
BUFFER_BYTES = 512 * 1024


def _touched(n_out: int, kernel: int, stride: int, padding: int, size: int) -> int:
    """Distinct input indices (along one axis) that some window reads; padding is never fetched."""
    return len({o * stride - padding + i for o in range(n_out) for i in range(kernel)} & set(range(size)))


def compulsory_bytes(layer: Conv2d | Linear) -> dict[str, int]:
    """1-byte words: unique inputs read, weights once, outputs once."""
    if isinstance(layer, Linear):
        return {
            "ifmap": layer.tokens * layer.in_features,
            "filter": layer.weight_count,
            "ofmap": layer.tokens * layer.out_features,
        }
    (oh, ow), (h, w) = layer.output_hw, layer.input_hw
    rows = _touched(oh, layer.kernel_size[0], layer.stride[0], layer.padding[0], h)
    cols = _touched(ow, layer.kernel_size[1], layer.stride[1], layer.padding[1], w)
    return {
        "ifmap": layer.in_channels * rows * cols,
        "filter": layer.weight_count,
        "ofmap": math.prod(layer.output_shape),
    }


@pytest.fixture(scope="module")
def hardware():
    base = compare.comparison_hardware()
    for operand in ("ifmap", "filter", "ofmap"):
        base = base.replace(f"buffers.{operand}.size_bytes", BUFFER_BYTES)
    return base


@pytest.fixture(scope="module")
def network():
    return get_network("resnet18")


@pytest.fixture(scope="module")
def zigzag(hardware, network):
    python = zigzag_python()
    if python is None:
        pytest.skip("no ZigZag: run `make zigzag-venv` and set ACCELSIM_ZIGZAG_PYTHON")
    layers = compare.compared_layers(network, LAYERS)
    spec = compare.zigzag_spec(hardware, layers, lpf_limit=4)
    return spec, compare.zigzag_run.run_via(python, spec, timeout=900)["layers"]


def test_spec_carries_accelsims_hierarchy_and_costs(hardware, network):
    spec = compare.zigzag_spec(hardware, compare.compared_layers(network, LAYERS))
    assert spec["array"] == [32, 32] and spec["dataflow"] == "ws"
    assert spec["sram_bytes"] == dict.fromkeys(("ifmap", "filter", "ofmap"), BUFFER_BYTES // 2)
    assert spec["bits"] == {"ifmap": 8, "filter": 8, "ofmap": 8, "accum": 32}
    # Horowitz 45 nm: DRAM 1.95 nJ per 64-bit access = 243.75 pJ/B (accelsim/energy_tables).
    assert spec["pj_per_byte"]["dram"]["read"] == pytest.approx(1950 / 8)
    conv = spec["layers"][0]
    assert (conv["k"], conv["c"], conv["oy"], conv["fy"], conv["padding"]) == (64, 64, 56, 3, [1, 1])
    assert spec["layers"][2] == {"name": "fc", "kind": "gemm", "m": 1, "k": 512, "n": 1000}


def test_refuses_what_the_matched_setup_cannot_express(hardware, network):
    with pytest.raises(compare.ZigZagCompareError, match="is"):
        compare.zigzag_spec(hardware.replace("pe.dataflow", "is"), [network["fc"]])
    with pytest.raises(compare.ZigZagCompareError, match="groups=4"):
        compare.zigzag_layer(Conv2d("g", 8, 8, 3, (8, 8), groups=4))
    with pytest.raises(compare.ZigZagCompareError, match="maxpool"):
        compare.zigzag_layer(network["maxpool"])


def test_zigzag_moves_the_compulsory_dram_traffic(zigzag, network):
    _, layers = zigzag
    for figures in layers:
        expected = compulsory_bytes(network[figures["name"]])
        got = {
            "ifmap": figures["dram_read_bytes"]["ifmap"],
            "filter": figures["dram_read_bytes"]["filter"],
            "ofmap": figures["dram_write_bytes"]["ofmap"],
        }
        assert got == expected, figures["name"]
        assert figures["dram_read_bytes"]["ofmap"] == 0, figures["name"]  # no partial sums spilled


def test_zigzag_prices_with_accelsims_unit_costs(zigzag, network):
    spec, layers = zigzag
    pj = spec["pj_per_byte"]["dram"]
    for figures in layers:
        reads, writes = sum(figures["dram_read_bytes"].values()), sum(figures["dram_write_bytes"].values())
        # ZigZag counts whole 64-byte port accesses, truncating the last of each (operand, direction).
        slack = 6 * spec["dram_bytes_per_cycle"] * pj["read"]
        expected_pj = reads * pj["read"] + writes * pj["write"]
        assert figures["energy_pj"]["dram"] == pytest.approx(expected_pj, abs=slack)
        assert figures["energy_pj"]["mac"] == pytest.approx(network[figures["name"]].macs * spec["mac_pj"])


def test_accelsim_dram_bytes_against_zigzag(zigzag, hardware, network):
    """Within 15% where both read unique data; the SCALE-Sim memory model reads the im2col matrix."""
    _, layers = zigzag
    report = simulate(network, hardware, mode="analytical")
    ours = {layer.name: layer for layer in report.layers}
    rows = compare.compare_rows([ours[f["name"]] for f in layers], layers)
    reuse = compare.memory_model(hardware) == "reuse"
    for row in rows:
        layer = network[row["layer"]]
        im2col = isinstance(layer, Conv2d) and layer.kernel_size != (1, 1)
        if reuse or not im2col:
            assert abs(row["dram_rel_diff"]) <= compare.TOLERANCE, row
        else:
            # docs/validation.md D3/D4: the im2col matrix (k = C*kh*kw words per output pixel), once
            # if it fits in half the buffer, else once per column fold.
            g, folds = layer.gemm, math.ceil(layer.gemm.n / hardware.pe.cols)
            assert row["dram_ifmap_bytes_accelsim"] in {g.m * g.k, g.m * g.k * folds}
            assert row["dram_ifmap_bytes_zigzag"] == compulsory_bytes(layer)["ifmap"]
        assert row["mac_energy_pj_accelsim"] == pytest.approx(row["mac_energy_pj_zigzag"], rel=1e-9)
