"""Design-space exploration: points, samplers, executors, a resumable results store, `explore`."""

from accelsim.dse.executors import Executor, dask, make_executor, process_pool, serial
from accelsim.dse.explore import PointFailed, evaluate, explore
from accelsim.dse.points import Point, canonical_json, flatten_hardware
from accelsim.dse.sampling import apply, grid, random_sample, zipped
from accelsim.dse.store import RECORD_COLUMNS, Store, ordered_columns

__all__ = [
    "Executor", "Point", "PointFailed", "RECORD_COLUMNS", "Store", "apply", "canonical_json", "dask",
    "evaluate", "explore", "flatten_hardware", "grid", "make_executor", "ordered_columns",
    "process_pool", "random_sample", "serial", "zipped",
]
