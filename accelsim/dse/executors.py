"""Executors: injected callables that map a function over items, yielding as work finishes.

The protocol is one call, ``executor(fn, items) -> iterator of (index, fn(items[index]))`` in
completion order (any order). `explore` stays ignorant of how work is spread; adapters:
`serial()`, `process_pool()` (the default) and `dask()` (distributed; imported lazily).

`fn` and the items must pickle for the parallel adapters (a module-level function, plain data).
Pool workers ignore SIGINT (the parent handles Ctrl-C and stops them) and exit on their own when
their parent dies, even by SIGKILL, so no orphan keeps computing (or holding files) after a kill.
When the consumer stops early (an error, Ctrl-C, a closed generator) the running workers are
terminated rather than awaited: their results are not wanted, and the parent does all the writing.

Pools chunk the items, because a task per cheap point (milliseconds) would spend more time in
inter-process messaging than in simulation.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

__all__ = ["Executor", "serial", "process_pool", "dask", "default_chunksize", "make_executor"]

Executor = Callable[[Callable[[Any], Any], Sequence[Any]], Iterator[tuple[int, Any]]]


def default_chunksize(n_items: int, workers: int) -> int:
    """About eight chunks per worker (load balance), at most 64 items (bounded loss on a kill)."""
    return max(1, min(64, n_items // (8 * max(1, workers))))


#: More workers than this is a typo, not a machine (each is a process with its own interpreter).
MAX_WORKERS = 1024
#: How often a worker checks that its parent is still alive.
PARENT_POLL_S = 0.5


def _exit_with_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_S)
    os._exit(1)  # reparented: the parent died without stopping us


def _init_worker(parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_exit_with_parent, args=(parent_pid,), name="exit-with-parent", daemon=True
    ).start()


def _terminate_workers(pool: ProcessPoolExecutor) -> None:
    # ProcessPoolExecutor has no public way to stop running work before Python 3.14
    # (terminate_workers); its worker table is the only handle on the processes.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def _run_chunk(fn: Callable[[Any], Any], chunk: Sequence[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return [(index, fn(item)) for index, item in chunk]


def _chunks(items: Sequence[Any], size: int) -> list[list[tuple[int, Any]]]:
    indexed = list(enumerate(items))
    return [indexed[start : start + size] for start in range(0, len(indexed), size)]


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers: must be an integer in 1..{MAX_WORKERS}, got {str(workers)[:40]}")
    return workers


def serial() -> Executor:
    """In-process, in order: for debugging, tiny sweeps and as the reference result."""

    def run(fn, items):
        for index, item in enumerate(items):
            yield index, fn(item)

    return run


def process_pool(
    workers: int | None = None, *, chunksize: int | None = None, mp_context: Any = None
) -> Executor:
    """A local `ProcessPoolExecutor` with `workers` processes (default: all cores)."""
    workers = _check_workers(workers)
    if chunksize is not None and (
        isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1
    ):
        raise ValueError(f"chunksize: must be a positive integer, got {chunksize!r}")

    def run(fn, items):
        if not items:
            return
        size = chunksize or default_chunksize(len(items), workers)
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(items)),
            mp_context=mp_context,
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )
        finished = False
        try:
            pending = {pool.submit(_run_chunk, fn, chunk) for chunk in _chunks(items, size)}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield from future.result()
            finished = True
        finally:
            # Also runs when the consumer stops early (an error, Ctrl-C, a closed generator).
            if not finished:
                _terminate_workers(pool)
            pool.shutdown(wait=True, cancel_futures=True)

    return run


def dask(address: str | None = None, *, workers: int | None = None, chunksize: int | None = None) -> Executor:
    """Dask distributed: connect to the scheduler at `address` (e.g. ``tcp://host:8786``), or start a
    `LocalCluster` of `workers` single-threaded worker processes for the duration of the call.

    Needs the optional extra ``dask[distributed]``; imported only when the executor runs."""
    if address is not None and (not isinstance(address, str) or not address):
        raise ValueError(f"address: must be a scheduler address like 'tcp://host:8786', got {address!r}")
    local_workers = _check_workers(workers)

    def run(fn, items):
        if not items:
            return
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError:
            raise ValueError(
                "executor 'dask' needs the optional extra: pip install 'dask[distributed]'"
            ) from None
        cluster = None
        if address is None:
            # Single-threaded workers: the simulator is pure Python, threads would fight over the GIL.
            cluster = LocalCluster(
                n_workers=local_workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            client = Client(address)
        try:
            n_workers = max(1, len(client.scheduler_info().get("workers", {})) or local_workers)
            size = chunksize or default_chunksize(len(items), n_workers)
            futures = [client.submit(_run_chunk, fn, chunk, pure=False) for chunk in _chunks(items, size)]
            try:
                for future in as_completed(futures):
                    yield from future.result()
            finally:
                client.cancel(futures)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run


def make_executor(
    kind: str = "process",
    *,
    workers: int | None = None,
    address: str | None = None,
    chunksize: int | None = None,
) -> Executor:
    """An executor by name: ``serial``, ``process`` or ``dask`` (for configuration files and flags)."""
    if kind == "serial":
        return serial()
    if kind == "process":
        return process_pool(workers, chunksize=chunksize)
    if kind == "dask":
        return dask(address, workers=workers, chunksize=chunksize)
    raise ValueError(f"executor: unknown kind {kind!r}; choose one of serial, process, dask")
