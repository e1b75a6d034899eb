"""accelsim: hardware as data, mapping onto PE arrays, timing and energy of DNN layers."""

from accelsim.arch.energy import EnergyEntry, EnergyTable, list_energy_tables, load_energy_table
from accelsim.arch.hardware import Hardware, HardwareError, list_presets, load_hardware
from accelsim.sparse.execute import choose_format, execute
from accelsim.sparse.fold_stats import TileStats, tile_stats
from accelsim.timing.mapping import LayerMapping, TileClass, map_layer
from accelsim.timing.report import LayerReport, Report
from accelsim.timing.simulate import simulate

__all__ = [
    "EnergyEntry",
    "EnergyTable",
    "Hardware",
    "HardwareError",
    "LayerMapping",
    "LayerReport",
    "Report",
    "TileClass",
    "list_energy_tables",
    "list_presets",
    "load_energy_table",
    "load_hardware",
    "map_layer",
    "simulate",
    "execute",
    "choose_format",
    "TileStats",
    "tile_stats",
]
