"""The worker processes of a parallel ingest, and starting them early.

A spawned worker spends ~0.4 s starting an interpreter and importing Polars, pyarrow and the readers
before it reads anything. The coordinator spends about as long on the same imports, so the batch
commands call :func:`prestart` before theirs: both interpreters then load side by side instead of one
after the other, and the worker is ready when the first objects are. :func:`pipeline.ingest.orchestrate.ingest`
takes the prestarted pool when it wants one of that size, and :func:`discard` kills it otherwise.

This module imports nothing heavy: it runs before the coordinator's own imports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

MAX_AUTO_WORKERS = 2  # memory grows per worker; more rarely pays on small machines
AUTO_WORKERS_BYTES = 32 << 20  # compressed input size from which automatic mode uses worker processes
_SCAN_LIMIT = 10_000  # directory entries looked at when guessing an input's size

_prestarted: ProcessPoolExecutor | None = None
_prestarted_size = 0


def pool_size(workers: int, objects: int, total_bytes: int) -> int:
    """Worker processes besides this one: ``workers`` asked for (0: automatic), for these objects."""
    if workers:
        return max(1, min(workers, objects)) - 1
    if objects < 2 or total_bytes < AUTO_WORKERS_BYTES:
        return 0
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS, objects)) - 1


def new_pool(size: int) -> ProcessPoolExecutor:
    """A pool of ``size`` spawned workers, launched now.

    Spawned, not forked: Polars' thread pool does not survive fork. Each worker keeps two Polars
    threads (``EDGELAKE_WORKER_THREADS``), so that a worker left alone still uses both cores of a
    small machine. Each also runs with a single glibc arena (:mod:`pipeline.memory`), set in its
    environment so that glibc applies it before the worker starts any thread (and the same for
    Polars' allocator).
    """
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"), initializer=_started)
    from pipeline.memory import worker_env

    settings = {"POLARS_MAX_THREADS": os.environ.get("EDGELAKE_WORKER_THREADS", "2"), **worker_env()}
    before = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        pool.submit(int)  # the processes start with the first task (and read the environment then)
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return pool


def _started() -> None:
    """Set up a worker process; runs first in each, so its imports happen while the coordinator does its own."""
    import atexit

    from pipeline.memory import single_arena

    # A worker has sent every result (its result queue writes synchronously) by the time its loop
    # returns; the interpreter teardown that follows takes 0.1-0.2 s that the coordinator would wait
    # for. Leaving at the first exit handler skips it. A worker killed by a signal never gets here,
    # and the executor reports that as a broken pool whatever the exit code.
    atexit.register(os._exit, 0)
    single_arena()  # already set from the environment (new_pool); this only records it
    import pipeline.ingest.unit  # noqa: F401  (the unit's imports: Polars, the readers, the lake)


def _guess(inputs: Sequence[str]) -> tuple[int, int]:
    """(objects, bytes) of local inputs, looking at a bounded number of entries; S3 counts as large."""
    objects = size = seen = 0
    for spec in inputs:
        if "://" in spec:
            return 2, AUTO_WORKERS_BYTES
        if os.path.isfile(spec):
            objects, size = objects + 1, size + os.path.getsize(spec)
            continue
        for root, _dirs, files in os.walk(spec):
            for name in files:
                seen += 1
                if seen > _SCAN_LIMIT:
                    return objects, size
                try:
                    size += os.path.getsize(os.path.join(root, name))
                    objects += 1
                except OSError:
                    continue
    return objects, size


def prestart(inputs: Sequence[str], workers: int) -> None:
    """Start the pool an ingest of ``inputs`` will most likely want, unless one is running."""
    global _prestarted, _prestarted_size
    from pipeline.memory import batch_settings

    batch_settings()  # this process's too, before its imports start threads or load Polars
    if _prestarted is not None:
        return
    size = pool_size(workers, *_guess(inputs))
    if size:
        _prestarted, _prestarted_size = new_pool(size), size


def take(size: int) -> ProcessPoolExecutor | None:
    """The prestarted pool if it has ``size`` workers (the caller owns it then); otherwise None."""
    global _prestarted
    pool, _prestarted = _prestarted, None
    if pool is not None and _prestarted_size != size:
        _kill(pool)
        return None
    return pool


def discard() -> None:
    """Kill a prestarted pool nobody took (a small input after all, or an error before reading)."""
    global _prestarted
    pool, _prestarted = _prestarted, None
    if pool is not None:
        _kill(pool)


def _kill(pool: ProcessPoolExecutor) -> None:
    # Waiting would let each worker finish its imports first (~0.4 s) only to exit.
    processes: dict[Any, Any] = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
