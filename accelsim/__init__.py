"""accelsim: hardware as data, mapping onto PE arrays, timing and energy of DNN layers."""

from accelsim.energy import EnergyEntry, EnergyTable, list_energy_tables, load_energy_table
from accelsim.execute import choose_format, execute
from accelsim.hardware import Hardware, HardwareError, list_presets, load_hardware
from accelsim.kernels import TileStats, tile_stats
from accelsim.mapping import LayerMapping, TileClass, map_layer
from accelsim.report import LayerReport, Report
from accelsim.simulate import simulate

__all__ = [
    "EnergyEntry", "EnergyTable", "Hardware", "HardwareError", "LayerMapping", "LayerReport",
    "Report", "TileClass", "list_energy_tables", "list_presets", "load_energy_table",
    "load_hardware", "map_layer", "simulate", "execute", "choose_format", "TileStats", "tile_stats",
]
