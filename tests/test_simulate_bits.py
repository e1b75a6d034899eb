"""simulate(..., bits=): each layer runs, moves and is priced at its own widths (accelsim.timing.layer_bits).

The network is two small fully connected layers on the packed preset `bitfusion_16x32` (ws, 16 x 32,
mac_bits 8): fc1 maps its 16 inputs on the rows and 32 outputs on the columns of one fold and
streams its 64 tokens, so its streamed steps are 64 and, in packed mode, ``64 x bits / 8`` cycles
(docs/model.md, "Precision"); the fill and drain of the fold do not depend on the width. Energy
figures are Horowitz (ISSCC 2014) as tabulated in energy_tables/horowitz_45nm.yaml: int4 multiply
0.2 x (4/8)^2 pJ, add 0.03 x 4/8 pJ.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from accelsim.arch.hardware import load_hardware
from accelsim.arch.hardware_schema import CrossFieldError
from accelsim.timing.layer_cache import LayerCache
from accelsim.timing.simulate import simulate
from workloads.layers import Linear
from workloads.network import Network
from workloads.quantization import LayerBits

TOKENS = 64
NET = Network.sequential(
    "two_fc",
    [Linear("fc1", in_features=16, out_features=32, tokens=TOKENS), Linear("fc2", 32, 16, tokens=TOKENS)],
)
BITFUSION = load_hardware("bitfusion_16x32")


def _fc1(bits: dict, mode: str = "analytical", hardware=BITFUSION):
    return simulate(NET, hardware, mode=mode, bits=bits).layer("fc1")


@pytest.mark.parametrize("mode", ["event", "analytical"])
def test_a_packed_layer_streams_int4_in_half_the_cycles_of_int8_and_moves_half_the_weight_bytes(mode):
    c8, c4, c2 = (_fc1({"fc1": LayerBits(weights=b, activations=b)}, mode) for b in (8, 4, 2))
    assert c8.compute_cycles - c4.compute_cycles == TOKENS // 2
    assert c4.compute_cycles - c2.compute_cycles == TOKENS // 4
    assert c4.dram_read_bytes["filter"] * 2 == c8.dram_read_bytes["filter"] == 16 * 32
    assert c4.dram_read_bytes["ifmap"] * 2 == c8.dram_read_bytes["ifmap"] == 16 * TOKENS


def test_int4_mac_energy_follows_the_table():
    layer = _fc1({"fc1": LayerBits(weights=4, activations=4)})
    macs = 16 * 32 * TOKENS
    mac_pj = layer.dynamic_energy_pj[("pe_array", "mac")]
    assert mac_pj == pytest.approx(macs * (0.2 * (4 / 8) ** 2 + 0.03 * 4 / 8))


def test_narrow_weights_alone_save_bytes_not_packed_time():
    plain, narrow = _fc1({}), _fc1({"fc1": LayerBits(weights=4)})
    assert narrow.compute_cycles == plain.compute_cycles  # the int8 activations set the pace
    assert narrow.dram_read_bytes["filter"] * 2 == plain.dram_read_bytes["filter"]


def test_a_layer_writes_its_output_at_the_width_its_consumer_reads():
    plain = simulate(NET, BITFUSION, mode="analytical")
    narrow = simulate(NET, BITFUSION, mode="analytical", bits={"fc2": LayerBits(activations=4)})
    out_words = 32 * TOKENS
    assert plain.layer("fc1").dram_write_bytes["ofmap"] == out_words
    assert narrow.layer("fc1").dram_write_bytes["ofmap"] == out_words // 2
    # The network output keeps the hardware's ofmap type.
    assert narrow.layer("fc2").dram_write_bytes == plain.layer("fc2").dram_write_bytes


def test_uniform_bits_equal_the_same_datatypes_set_on_the_hardware_but_its_area():
    hw = BITFUSION.replace("datatypes.ofmap", "int4")  # the network output then matches too
    narrow = hw.replace("datatypes.weights", "int4").replace("datatypes.ifmap", "int4")
    bits = {name: LayerBits(weights=4, activations=4) for name in ("fc1", "fc2")}
    for mode in ("event", "analytical"):
        per_layer, whole = simulate(NET, hw, mode=mode, bits=bits), simulate(NET, narrow, mode=mode)
        # Narrow data runs on the int8 array that was built: its area does not shrink.
        assert per_layer.area_mm2_by_component == simulate(NET, hw, mode=mode).area_mm2_by_component
        assert replace(per_layer, area_mm2_by_component={}) == replace(whole, area_mm2_by_component={})


def test_no_bits_or_the_hardwares_own_widths_change_nothing():
    plain = simulate(NET, BITFUSION)
    assert simulate(NET, BITFUSION, bits={}) == plain
    assert simulate(NET, BITFUSION, bits={"fc1": LayerBits(weights=8, activations=8)}) == plain


def test_masked_layers_are_cached_per_width():
    mask = np.zeros((32, 16), dtype=bool)
    mask[:, ::2] = True
    masks = {"fc1": mask}
    cache = LayerCache()
    for width in (8, 4, 8):
        bits = {"fc1": LayerBits(weights=width, activations=width)}
        cached = simulate(NET, BITFUSION, masks=masks, bits=bits, cache=cache)
        assert cached == simulate(NET, BITFUSION, masks=masks, bits=bits)
    assert (cache.misses, cache.hits) == (2, 1)


def test_int6_runs_on_a_fixed_array_and_is_a_named_error_on_a_packed_one():
    edge = load_hardware("edge_16x16")
    layer = _fc1({"fc1": LayerBits(weights=6)}, hardware=edge)
    assert layer.dram_read_bytes["filter"] == 16 * 32 * 6 // 8
    with pytest.raises(
        CrossFieldError,
        match=r"bits\['fc1'\] \(weights=6, .*\): pe.precision packed .* datatypes.filter=int6",
    ):
        _fc1({"fc1": LayerBits(weights=6)})


def test_a_width_without_a_datatype_or_an_unknown_layer_is_a_named_error():
    with pytest.raises(CrossFieldError, match=r"bits\['fc2'\].activations: no integer datatype of width 3"):
        simulate(NET, BITFUSION, bits={"fc2": LayerBits(activations=3)})
    with pytest.raises(ValueError, match=r"bits\['fc9'\]: no such layer in network 'two_fc'"):
        simulate(NET, BITFUSION, bits={"fc9": LayerBits(weights=4)})
    serial = BITFUSION.replace("pe.precision", "bit_serial")
    with pytest.raises(
        CrossFieldError,
        match=r"bits\['fc1'\] \(weights=16, activations=None\): pe.precision bit_serial .*filter=int16",
    ):
        simulate(NET, serial, bits={"fc1": LayerBits(weights=16)})
