"""Design-space exploration: points (optionally with pruning plans), samplers, executors, a
resumable results store, `explore`."""

from accelsim.dse.executors import Executor, dask, make_executor, process_pool, serial
from accelsim.dse.explore import MODEL_VERSION, PointFailed, evaluate, explore
from accelsim.dse.plans import PlanError, check_plan, plan_masks, prunable_layers
from accelsim.dse.points import Point, canonical_json, flatten_hardware
from accelsim.dse.sampling import apply, grid, random_sample, zipped
from accelsim.dse.store import RECORD_COLUMNS, Store, ordered_columns

__all__ = [
    "Executor",
    "MODEL_VERSION",
    "PlanError",
    "Point",
    "PointFailed",
    "RECORD_COLUMNS",
    "Store",
    "apply",
    "canonical_json",
    "check_plan",
    "dask",
    "evaluate",
    "explore",
    "flatten_hardware",
    "grid",
    "make_executor",
    "ordered_columns",
    "plan_masks",
    "process_pool",
    "prunable_layers",
    "random_sample",
    "serial",
    "zipped",
]
