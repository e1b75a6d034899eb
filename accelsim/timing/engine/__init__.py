"""Event mode: a SimPy model of the accelerator, one process per hardware activity.

Small single-concept modules: `folds` (the tile stream), `phases` (why a process was busy),
`power` (power states per component), `dram` (the shared channel), `buffers` (double-buffered
SRAM), `loaders` (DMA in and write-back out), `pe_array` (the consumer of tiles), `trace` (the
tile-level timeline), `coalesce` (advancing steady runs of identical folds in one step, and
folds that differ by closed-form steps, with identical results) and `run` (wiring, and turning
the run into per-layer figures).
"""

from accelsim.timing.engine.run import EngineResult, LayerTimeline, run_engine
from accelsim.timing.engine.trace import Trace

__all__ = ["EngineResult", "LayerTimeline", "Trace", "run_engine"]
