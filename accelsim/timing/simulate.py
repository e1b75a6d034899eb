"""`simulate(network, hardware)`: the public entry point of the timing and energy model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from accelsim.arch.energy import load_energy_table
from accelsim.arch.hardware import Hardware, load_hardware
from accelsim.sparse.compaction import input_channels
from accelsim.timing.actions import (
    MAC_ACTIONS,
    count_actions,
    count_wakes,
    leakage_energy_pj,
    leaking_components,
    price_actions,
    sparse_mac_actions,
    sram_bytes,
)
from accelsim.timing.analytical import time_layer
from accelsim.timing.layer_bits import WidthPair, check_bits, layer_hardware
from accelsim.timing.layer_cache import LayerCache
from accelsim.timing.layer_report import STALL_CAUSES, LayerReport, SparseInfo
from accelsim.timing.mapping import LayerMapping, map_layer
from accelsim.timing.report import Report
from accelsim.timing.sparse_model import SparseLayerModel, sparse_layer_model
from accelsim.timing.speedup import attribute_losses
from workloads.network import Network
from workloads.zoo import get_network

MODES = ("event", "analytical")


@dataclass(frozen=True)
class _Timing:
    """What a timing mode says about one layer; the rest of the report is mode-independent."""

    cycles: int
    compute_cycles: int
    stall_cycles: Mapping[str, int]
    residency_cycles: Mapping[tuple[str, str], int]
    wakes: Mapping[str, int]


def _resolve(network: Network | str, hardware: Hardware | str) -> tuple[Network, Hardware]:
    if isinstance(network, str):
        network = get_network(network)
    if isinstance(hardware, str):
        hardware = load_hardware(hardware)
    return network, hardware


def _check_masks(network: Network, masks) -> dict[str, np.ndarray]:
    """Masks by layer name, each a bool array of the layer's weight shape; errors name the layer."""
    if masks is None:
        return {}
    if not isinstance(masks, Mapping):
        raise ValueError(f"masks: expected a mapping layer name -> bool array, got {type(masks).__name__}")
    layers = {layer.name: layer for layer in network.layers()}
    out = {}
    for name, mask in masks.items():
        layer = layers.get(name)
        if layer is None:
            raise ValueError(f"masks[{name!r}]: no such layer in network {network.name!r}")
        shape = layer.weight_shape
        if layer.gemm is None or shape is None:
            raise ValueError(f"masks[{name!r}]: a {type(layer).__name__} layer has no weights to mask")
        array = np.asarray(mask)
        if array.dtype != bool:
            raise ValueError(f"masks[{name!r}]: dtype must be bool, got {array.dtype}")
        if array.shape != tuple(shape):
            raise ValueError(
                f"masks[{name!r}]: shape must be the weight shape {tuple(shape)}, got {array.shape}"
            )
        out[name] = array
    return out


def _check_densities(network: Network, densities) -> dict[str, float | np.ndarray]:
    if densities is None:
        return {}
    layers = {layer.name: layer for layer in network.layers()}
    out: dict[str, float | np.ndarray] = {}
    for name, value in dict(densities).items():
        if name not in layers:
            raise ValueError(f"ifmap_density[{name!r}]: no such layer in network {network.name!r}")
        if isinstance(value, np.ndarray) and value.ndim == 1:
            channels = input_channels(layers[name])
            if value.shape != (channels,) or not np.issubdtype(value.dtype, np.number):
                raise ValueError(
                    f"ifmap_density[{name!r}]: a per-channel density needs one number per input "
                    f"channel ({channels}), got shape {value.shape} of {value.dtype}"
                )
            if not np.all((value >= 0.0) & (value <= 1.0)):
                raise ValueError(
                    f"ifmap_density[{name!r}]: per-channel fractions must lie in [0, 1], "
                    f"got {value[(value < 0) | (value > 1) | np.isnan(value)][:3].tolist()}"
                )
            out[name] = value.astype(np.float64)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise ValueError(
                f"ifmap_density[{name!r}]: must be a fraction in [0, 1] (or a 1-d array of "
                f"them per input channel), got {value!r}"
            )
        out[name] = float(value)
    return out


def simulate(
    network: Network | str,
    hardware: Hardware | str,
    *,
    mode: str = "event",
    masks: Mapping[str, np.ndarray] | None = None,
    ifmap_density: Mapping[str, float | np.ndarray] | None = None,
    baseline: Report | None = None,
    explain: bool = True,
    cache: LayerCache | None = None,
    compact_channels: bool = True,
    trace: bool = False,
    bits: Mapping[str, WidthPair] | None = None,
    _coalesce: bool = True,
) -> Report:
    """Simulate a forward pass of `network` on `hardware`.

    `network` and `hardware` may be objects or the names of a zoo network and a shipped preset.
    `mode="event"` runs the SimPy model (`accelsim.timing.engine`) in a fresh environment;
    `mode="analytical"` the closed form (`accelsim.timing.analytical`). The two agree exactly wherever
    nothing contends. `trace=True` (event mode only) attaches the tile-level timeline as
    `Report.trace`. Pure: no I/O beyond reading shipped presets, no global state.

    `masks` (layer name -> bool array of the weight shape, e.g. `pruning.Masks`) makes the
    simulation sparse-aware (`accelsim.timing.sparse_model`): per fold, the real mask decides the
    effectual MACs, the hardware's `sparsity` support decides what is gated, skipped and moved.
    Unmasked layers run dense. `ifmap_density` (layer name -> fraction of non-zero input
    activations, or an array of one per input channel, as `accelsim.sparse.activations.ifmap_densities`
    measures) feeds activation gating and skipping; per channel, a compacted layer counts only
    the channels it still reads. Masked layers carry a `SparseInfo`; its dense cycles come from
    `baseline` (a dense report of the same network, hardware and mode) or, when omitted, a dense
    simulation run here. `explain=False` skips the attribution of lost speedup (faster, for searches).
    `cache` (an `accelsim.timing.layer_cache.LayerCache`) reuses masked layers' models across calls.
    A mask that empties whole channels runs the layer without them (`accelsim.sparse.compaction`), as a
    deployment flow would; `compact_channels=False` keeps every layer at its specified size.

    `bits` (layer name -> `workloads.quantization.LayerBits`) maps, times and prices each listed
    layer with its own weight and input-activation widths (`accelsim.timing.layer_bits` states the
    rule for the output width); a width the array's precision mode cannot run is a `CrossFieldError`
    naming the layer. Without `bits` every layer uses the hardware's datatypes. With `bits` and
    masks, the dense reference (when `baseline` is omitted) is simulated with the same `bits`.

    `_coalesce=False` (tests only) makes event mode simulate every fold instead of advancing
    steady runs of identical folds in one step; the results are identical either way.
    """
    if mode not in MODES:
        raise ValueError(f"mode: unknown simulation mode {mode!r}; choose one of {list(MODES)}")
    if trace and mode != "event":
        raise ValueError(f"trace: only mode 'event' records a trace, got mode {mode!r}")
    network, hardware = _resolve(network, hardware)
    masks = _check_masks(network, masks)
    densities = _check_densities(network, ifmap_density)
    table = load_energy_table(hardware.energy_table, hardware)
    layers = network.layers()
    per_layer = (
        [hardware] * len(layers)
        if bits is None
        else layer_hardware(network, hardware, check_bits(network, bits))
    )
    models = {}
    hashes: dict[Hardware, str] = {}
    for layer, layer_hw in zip(layers, per_layer):
        if layer.name in masks or (
            layer.name in densities
            and layer.gemm is not None
            and getattr(layer, "weight_shape", None) is not None
            and hardware.sparsity.ifmap.mode != "none"
        ):
            mask = masks.get(layer.name)
            if mask is None:
                shape = layer.weight_shape
                # Only the density branch above gets here, and it required weights.
                assert shape is not None
                mask = np.ones(shape, dtype=bool)
            if cache is None:
                models[layer.name] = sparse_layer_model(
                    layer, layer_hw, mask, densities.get(layer.name), compact=compact_channels
                )
            else:
                if layer_hw not in hashes:
                    hashes[layer_hw] = layer_hw.content_hash()
                models[layer.name] = cache.model(
                    layer,
                    layer_hw,
                    hashes[layer_hw],
                    mask,
                    densities.get(layer.name),
                    compact=compact_channels,
                )
    mappings = [
        models[layer.name].map() if layer.name in models else map_layer(layer, layer_hw)
        for layer, layer_hw in zip(layers, per_layer)
    ]
    timeline = None
    if mode == "event":
        from accelsim.timing.engine import run_engine  # SimPy is only needed in event mode

        result = run_engine(
            mappings,
            [layer.name for layer in layers],
            hardware,
            trace=trace,
            coalesce=_coalesce,
            layer_hardware=None if bits is None else per_layer,
        )
        timings = [
            _Timing(t.cycles, t.compute_cycles, _all_causes(t.stall_cycles), t.residency_cycles, t.wakes)
            for t in result.layers
        ]
        timeline = result.trace
    else:
        timings = _analytical_timings(mappings, hardware)
    if models:
        if baseline is None:
            baseline = simulate(network, hardware, mode=mode, bits=bits, _coalesce=_coalesce)
        _check_baseline(baseline, network, hardware, mode)
    reports = []
    for layer, mapping, timing, layer_hw in zip(layers, mappings, timings, per_layer):
        # A layer's own datatypes price its MACs, so it takes the table resolved for them.
        layer_table = table if layer_hw is hardware else load_energy_table(layer_hw.energy_table, layer_hw)
        report = _layer_report(layer, mapping, timing, layer_hw, layer_table)
        model = models.get(layer.name)
        if model is not None:
            assert baseline is not None  # made or checked above, since `models` is not empty
            dense = baseline.layer(layer.name)
            report = _with_sparse_info(report, model, mapping, dense, explain, layer_table)
        reports.append(report)
    return Report(
        network=network.name,
        hardware=hardware.name,
        clock_mhz=hardware.clock_mhz,
        mode=mode,
        pe_count=hardware.pe.rows * hardware.pe.cols,
        layers=tuple(reports),
        trace=timeline,
        area_mm2_by_component=table.area.by_component_mm2() if table.area is not None else {},
    )


def _check_baseline(baseline: Report, network: Network, hardware: Hardware, mode: str) -> None:
    if not isinstance(baseline, Report):
        raise ValueError(f"baseline: expected a dense Report, got {type(baseline).__name__}")
    for attr, want in (("network", network.name), ("hardware", hardware.name), ("mode", mode)):
        if getattr(baseline, attr) != want:
            raise ValueError(
                f"baseline.{attr}: must be {want!r} (the simulated one), got {getattr(baseline, attr)!r}"
            )
    if any(layer.sparse is not None for layer in baseline.layers):
        raise ValueError("baseline: must be a dense report (simulated without masks)")


def _with_sparse_info(
    report: LayerReport,
    model: SparseLayerModel,
    mapping: LayerMapping,
    dense: LayerReport,
    explain: bool,
    table,
) -> LayerReport:
    summary = model.summary()
    losses = {}
    if explain:
        losses = attribute_losses(model, mapping, report.cycles, dense.cycles, dense.total_stall_cycles)
    info = SparseInfo(
        dense_macs=summary.dense_macs,
        effectual_macs=summary.effectual_macs,
        issued_macs=summary.issued_macs,
        skipping=summary.skipping,
        fallback=summary.fallback,
        storage_bytes=summary.storage_bytes,
        metadata_bytes=summary.metadata_bytes,
        dense_cycles=dense.cycles,
        losses_cycles=losses,
        run_macs=summary.run_macs,
        compacted_weight_shape=summary.compacted_weight_shape,
    )
    sparsity = model.hardware.sparsity
    # MACs first, as `count_actions` orders them: equal counts then sum to equal energy, bit for bit.
    counts = sparse_mac_actions(
        summary.run_macs,
        summary.effectual_macs,
        summary.issued_macs,
        weights_mode=sparsity.weights.mode,
        skipping=summary.skipping,
        ifmap_mode=sparsity.ifmap.mode,
        ifmap_density=model.ifmap_density,
        dataflow=model.dataflow,
    )
    counts.update(
        (k, v) for k, v in report.action_counts.items() if k[0] != "pe_array" or k[1] not in MAC_ACTIONS
    )
    # A mapping left dense counts dense MACs per fold; the layer's useful work is the effectual MACs.
    utilisation = _utilisation(summary.effectual_macs, report.cycles, model.hardware)
    return replace(
        report,
        macs=summary.effectual_macs,
        utilisation=utilisation,
        action_counts=counts,
        dynamic_energy_pj=price_actions(counts, table),
        sparse=info,
    )


def _all_causes(stalls: Mapping[str, int]) -> dict[str, int]:
    return {cause: stalls.get(cause, 0) for cause in STALL_CAUSES}


def _analytical_timings(mappings: Sequence[LayerMapping], hardware: Hardware) -> list[_Timing]:
    """Closed-form timing per layer. A layer's inputs are read only after the previous layer's
    outputs are written, so that drain is charged to the next layer as a `dependency` stall (the
    last layer keeps its own), exactly as event mode's layer spans do."""
    dram = hardware.dram
    timings = [time_layer(m.tiles, dram.bandwidth_bytes_per_cycle, dram.latency_cycles) for m in mappings]
    components = leaking_components(hardware)
    out = []
    for j, (mapping, timing) in enumerate(zip(mappings, timings)):
        keeps_drain = j == len(timings) - 1
        stalls = {
            "dram_bandwidth": timing.stall_dram_bandwidth - (0 if keeps_drain else timing.drain_bandwidth),
            "dram_latency": timing.stall_dram_latency - (0 if keeps_drain else timing.drain_latency),
            "wake_up": 0,
            "dependency": timings[j - 1].drain_latency + timings[j - 1].drain_bandwidth if j else 0,
        }
        cycles = timing.compute_cycles + sum(stalls.values())
        residency = _residency(timing.compute_cycles, cycles, components, mapping.unit)
        out.append(_Timing(cycles, timing.compute_cycles, stalls, residency, {}))
    return out


def _residency(compute_cycles: int, cycles: int, components: Sequence[str], unit: str) -> dict:
    """Analytical power states: the PE array is active while it computes and idle (clock-gated)
    otherwise; buffers and DRAM stay active for the whole layer. The vector unit's leakage is
    folded into the PE array's, as it shares the array's datapath. Power-gating policies are
    not modelled here (event mode models them)."""
    residency = {}
    for component in components:
        if component == "pe_array":
            busy = compute_cycles if unit == "array" else 0
            residency[(component, "active")] = busy
            residency[(component, "idle")] = cycles - busy
        else:
            residency[(component, "active")] = cycles
    return {key: value for key, value in residency.items() if value}


def _utilisation(macs: int, cycles: int, hardware: Hardware) -> float:
    """Useful MACs over what the array could have done in `cycles`."""
    return macs / (cycles * hardware.pe.rows * hardware.pe.cols) if cycles else 0.0


def _layer_report(layer, mapping: LayerMapping, timing: _Timing, hardware: Hardware, table) -> LayerReport:
    counts = count_actions(mapping, hardware, output_words=math.prod(layer.output_shape))
    counts.update(count_wakes(timing.wakes))
    reads, writes = sram_bytes(mapping, hardware)
    return LayerReport(
        name=layer.name,
        kind=type(layer).__name__,
        unit=mapping.unit,
        macs=mapping.macs,
        folds=mapping.folds,
        cycles=timing.cycles,
        compute_cycles=timing.compute_cycles,
        stall_cycles=dict(timing.stall_cycles),
        mapping_efficiency=mapping.mapping_efficiency,
        utilisation=_utilisation(mapping.macs, timing.cycles, hardware),
        sram_read_bytes=reads,
        sram_write_bytes=writes,
        dram_read_bytes=dict(mapping.dram_read_bytes),
        dram_write_bytes=dict(mapping.dram_write_bytes),
        action_counts=counts,
        dynamic_energy_pj=price_actions(counts, table),
        residency_cycles=dict(timing.residency_cycles),
        leakage_energy_pj=leakage_energy_pj(timing.residency_cycles, table, hardware.clock_mhz),
    )
