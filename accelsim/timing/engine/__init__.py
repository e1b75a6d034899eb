"""Event mode: a SimPy model of the accelerator, one process per hardware activity.

Small single-concept modules: `folds` (the tile stream), `phases` (why a process was busy),
`power` (power states per component), `dram` (the shared channel), `buffers` (double-buffered
SRAM), `loaders` (DMA in and write-back out), `pe_array` (the array process, the consumer of
tiles), `trace` (the tile-level timeline), `coalesce` (advancing the pipeline without events,
with identical results: by whole periods over repeating folds, `periods`, and by closed-form
`steps` over folds that differ) and `run` (wiring, and turning the run into per-layer figures).
"""

from accelsim.timing.engine.run import EngineResult, LayerTimeline, run_engine
from accelsim.timing.engine.trace import Trace

__all__ = ["EngineResult", "LayerTimeline", "Trace", "run_engine"]
