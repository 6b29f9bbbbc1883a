"""The units of work of an ingest on a Dask distributed cluster (``--cluster tcp://host:8786`` or ``local:N``).

Owns: reading the ``--cluster`` value, connecting to a scheduler or starting a ``LocalCluster`` of worker
processes with the ingest's allocator settings, grouping small objects into tasks (:func:`plan`), the task
itself (:func:`run_task`: objects in, :class:`Shipped` outcomes out), the failure policy, and handing
outcomes back to the coordinator in the order they finish.

What travels: a task takes object descriptions (URI, size, identity) and returns per object the Delta
``AddAction`` values of the Parquet files it wrote straight into the lake, its counts, and its rejects
and config rows as Arrow IPC bytes, never Polars frames. A pickled DataFrame is Polars' own serialization,
which its documentation says is not stable across Polars versions: a worker image one release behind the
coordinator could not hand its frames over. Arrow IPC is a stable format, and it costs ~0.5 ms per
frame of 2,000 rejects against ~0.25 ms for a pickle (measured here), next to seconds of reading per
task. Data rows never travel.

Failures, set deliberately:

* a worker process that dies mid-task (killed, out of memory): the scheduler runs the task again on
  another worker, up to :data:`ALLOWED_FAILURES` deaths (``distributed.scheduler.allowed-failures``,
  set here for local clusters; a remote scheduler uses its own, 3 by default). What the dead attempt
  wrote is in no commit: the lake's log never references it and ``compact``'s vacuum deletes it.
* a task that raised: run once more (:data:`RETRIES`), for a storage hiccup.
* a task of several objects that failed for good is split into one task per object, so that one
  poisonous object does not fail its neighbours; a single object whose task failed for good comes
  back as a failed outcome: reported, not in the manifest, read again by the next run.

Must not: commit (the coordinator does, :mod:`pipeline.ingest.commit`), print (messages go to the
caller's ``on_message``), or import Dask at module level: ``pipeline.ingest`` without ``--cluster``
never loads it, and ``distributed`` is imported here only.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from pipeline.errors import EdgelakeError, UsageError
from pipeline.ingest.unit import IngestOptions, ObjectOutcome, _failed, process_object
from pipeline.lake import Lake
from pipeline.memory import single_arena, worker_env
from pipeline.readers._base import ConfigTables, empty_rejects
from pipeline.storage.objects import InputObject

RETRIES = 1  # a task that raised runs once more; a second failure is not a hiccup
ALLOWED_FAILURES = 3  # worker deaths one task may cause before it is given up (local clusters)
# Compressed bytes per task. Small objects (5-minute WAF deliveries, Firehose objects of a few MiB) share
# a task so that each costs no scheduler round trip and no result message of its own; an object above
# this is a task alone. 8 MiB of gzip is ~64k lines of the benchmark's logs (131 B/line), ~0.25 s of a
# quiet core. Tiny objects cost ~50 ms of CPU each whatever their size (bench/cluster.py), so the object
# count caps a task too: 64 of them take ~3 s.
TASK_BYTES = int(os.environ.get("EDGELAKE_TASK_BYTES", str(8 << 20)))
TASK_OBJECTS = 64
TASKS_PER_SLOT = 2  # at least this many tasks per worker thread when there are objects enough, for balance
# Tasks at once per local worker process (a task's Polars uses EDGELAKE_WORKER_THREADS threads). Two at once
# took ~45 % more memory per worker and ~8 % more CPU per line (bench/cluster.py --threads 2).
LOCAL_THREADS = 1
WAIT_FOR_WORKERS = float(os.environ.get("EDGELAKE_CLUSTER_WAIT", "60"))  # seconds for a first worker to join
EVENT_TOPIC = "edgelake-task"  # each task attempt logs its objects here (Client.get_events)


@dataclass(frozen=True)
class ClusterSpec:
    """Where the tasks run: a scheduler's address, or a local cluster of ``local_workers`` processes."""

    address: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.address or f"local:{self.local_workers}"


def parse(spec: str) -> ClusterSpec:
    """``tcp://host:port`` (also ``tls://``, ``ws://``, ``wss://``, ``inproc://``) or ``local:N``."""
    text = spec.strip()
    if text.startswith("local:"):
        count = text.removeprefix("local:")
        if not count.isdigit() or not 1 <= int(count) <= 1024:
            raise UsageError(f"--cluster {spec!r}: local:N needs a number of worker processes from 1 to 1024")
        return ClusterSpec(local_workers=int(count))
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("tcp", "tls", "ws", "wss", "inproc") or not rest:
        raise UsageError(
            f"--cluster {spec!r}: give a Dask scheduler address (tcp://scheduler:8786) or local:N "
            "(N worker processes on this machine)"
        )
    return ClusterSpec(address=text)


def plan(
    todo: Sequence[tuple[InputObject, int]],
    slots: int,
    *,
    task_bytes: int | None = None,
    task_objects: int = TASK_OBJECTS,
) -> list[list[tuple[InputObject, int]]]:
    """Group ``todo`` (objects with their generation) into tasks, the largest first.

    Neighbours in the listing share a task up to ``task_bytes`` of compressed input (default
    :data:`TASK_BYTES`, lowered so that ``slots`` worker threads get :data:`TASKS_PER_SLOT` tasks
    each when the input allows). An object of unknown size is a task alone. Largest first, so the
    longest tasks do not start last while the other workers idle.
    """
    total = sum(obj.size or 0 for obj, _ in todo)
    limit = task_bytes if task_bytes is not None else TASK_BYTES
    limit = max(1, min(limit, total // max(1, slots * TASKS_PER_SLOT)))
    tasks: list[list[tuple[InputObject, int]]] = []
    sizes: list[int] = []
    current: list[tuple[InputObject, int]] = []
    size = 0
    for item in todo:
        obj_size = limit if item[0].size is None else item[0].size
        if current and (size + obj_size > limit or len(current) >= task_objects):
            tasks.append(current)
            sizes.append(size)
            current, size = [], 0
        current.append(item)
        size += obj_size
    if current:
        tasks.append(current)
        sizes.append(size)
    order = sorted(range(len(tasks)), key=lambda i: -sizes[i])
    return [tasks[i] for i in order]


@dataclass(frozen=True)
class Shipped:
    """An :class:`ObjectOutcome` as a task returns it: every field but the frames, which are IPC bytes."""

    fields: dict[str, Any]
    rejects: bytes | None  # None: no rejects
    configs: list[tuple[dict[str, bytes], tuple[str, str] | None, bytes | None]]  # tables, key, version row


# The outcome's fields that hold Polars frames (its rejects, its config documents): they travel as IPC bytes.
_FRAMES = {"rejects", "configs"}
assert {f.name for f in dataclasses.fields(ObjectOutcome)} >= _FRAMES


def _ipc(frame: pl.DataFrame) -> bytes:
    return frame.write_ipc(None, compression="uncompressed").getvalue()


def pack(outcome: ObjectOutcome) -> Shipped:
    fields = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(outcome) if f.name not in _FRAMES}
    rejects = _ipc(outcome.rejects) if outcome.rejects.height else None
    configs = [
        (
            {table: _ipc(frame) for table, frame in part.tables.items()},
            part.key,
            None if part.version is None else _ipc(part.version),
        )
        for part in outcome.configs
    ]
    return Shipped(fields, rejects, configs)


def unpack(shipped: Shipped) -> ObjectOutcome:
    rejects = empty_rejects() if shipped.rejects is None else pl.read_ipc(shipped.rejects)
    configs = [
        ConfigTables(
            {table: pl.read_ipc(data) for table, data in tables.items()},
            key,
            None if version is None else pl.read_ipc(version),
        )
        for tables, key, version in shipped.configs
    ]
    return ObjectOutcome(**shipped.fields, rejects=rejects, configs=configs)


def run_task(
    batch: list[tuple[InputObject, int]], lake_uri: str, opts: IngestOptions, started: datetime
) -> list[Shipped]:
    """The task: read each object of ``batch`` into uncommitted lake files (on a worker)."""
    single_arena()  # also set from the environment for local workers; a remote worker gets it here
    try:
        from distributed import get_worker

        get_worker().log_event(EVENT_TOPIC, {"lake": lake_uri, "objects": [obj.uri for obj, _ in batch]})
    except ValueError:  # not on a worker (called directly)
        pass
    lake = Lake(lake_uri)
    return [pack(process_object(obj, lake, opts, ingested_at=started, generation=gen)) for obj, gen in batch]


def _local_settings() -> dict[str, str]:
    """Environment for local worker processes, set before they start (glibc reads it at exec)."""
    return {"POLARS_MAX_THREADS": os.environ.get("EDGELAKE_WORKER_THREADS", "2"), **worker_env()}


def _distributed() -> Any:
    """The ``distributed`` package (typed loosely: most of its API is unannotated)."""
    try:
        import distributed
    except ImportError as exc:
        raise UsageError("--cluster needs Dask: pip install 'edgelake[dask]'") from exc
    return distributed


def start_local(workers: int, *, threads: int = LOCAL_THREADS) -> Any:
    """A ``LocalCluster`` of ``workers`` spawned processes on loopback, configured as the ingest wants it.

    The caller closes it. Its dashboard listens on a free port (a fixed one clashes with another run).
    """
    dist = _distributed()
    import dask

    spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **_local_settings()}
    with dask.config.set(
        {"distributed.scheduler.allowed-failures": ALLOWED_FAILURES, "distributed.nanny.pre-spawn-environ": spawn_env}
    ):
        return dist.LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.ERROR,
        )


@contextmanager
def connect(spec: ClusterSpec, on_message: Callable[[str], None] | None = None) -> Iterator[Any]:
    """A ``distributed.Client`` of the cluster ``spec`` names, with at least one worker; closed on exit."""
    dist = _distributed()
    local = start_local(spec.local_workers) if spec.address is None else None
    try:
        try:
            client = dist.Client(
                local if local is not None else spec.address, timeout=WAIT_FOR_WORKERS, set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            raise EdgelakeError(f"cannot reach the Dask scheduler at {spec}: {exc}") from exc
        try:
            try:
                client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
            except TimeoutError as exc:
                raise EdgelakeError(
                    f"the Dask scheduler at {spec} has no workers after {WAIT_FOR_WORKERS:.0f}s; start some "
                    "(dask worker ADDRESS) or raise EDGELAKE_CLUSTER_WAIT"
                ) from exc
            if on_message:
                on_message(_describe(client, spec))
            yield client
        finally:
            client.close()
    finally:
        if local is not None:
            local.close()


def _describe(client: Any, spec: ClusterSpec) -> str:
    import importlib.util

    threads = client.nthreads()
    link = client.dashboard_link
    if spec.address is None and importlib.util.find_spec("bokeh") is None:
        link += " (its charts need bokeh>=3.1 installed beside edgelake)"
    return f"Dask cluster {spec}: {len(threads)} worker(s), {sum(threads.values())} thread(s); dashboard {link}"


def run_units(
    todo: list[tuple[InputObject, int]],
    lake: Lake,
    opts: IngestOptions,
    started: datetime,
    on_message: Callable[[str], None] | None = None,
) -> Iterator[ObjectOutcome]:
    """Run the unit of work over ``todo`` on the cluster ``opts.cluster``; outcomes in the order tasks finish."""
    assert opts.cluster is not None
    spec = parse(opts.cluster)
    if not todo:
        return
    dist = _distributed()
    with connect(spec, on_message) as client:
        slots = max(1, sum(client.nthreads().values()))
        batches: dict[str, list[tuple[InputObject, int]]] = {}

        def submit(batch: list[tuple[InputObject, int]]) -> Any:
            future = client.submit(run_task, batch, lake.uri, opts, started, retries=RETRIES, pure=False)
            batches[future.key] = batch
            return future

        pending = dist.as_completed(
            [submit(b) for b in plan(todo, slots)], with_results=True, raise_errors=False, loop=client.loop
        )
        try:
            for future, result in pending:
                batch = batches.pop(future.key)
                if future.status == "finished":
                    for shipped in result:
                        yield unpack(shipped)
                elif future.status == "cancelled":
                    raise EdgelakeError(
                        f"the Dask cluster {spec} dropped the work (its scheduler restarted or the connection "
                        "was lost); what was committed stays: run again"
                    )
                elif len(batch) > 1:  # split: one object's failure must not fail its neighbours
                    for item in batch:
                        pending.add(submit([item]))
                else:
                    yield _given_up(batch[0][0], opts, started, future.exception())
                future.release()
        finally:
            for future in pending.futures:
                future.cancel()


def _given_up(obj: InputObject, opts: IngestOptions, started: datetime, error: BaseException) -> ObjectOutcome:
    if isinstance(error, _distributed().KilledWorker):
        why = f"the worker processes reading it died {error.allowed_failures + 1} times (killed, or out of memory)"
    else:
        why = f"reading it failed {RETRIES + 1} times on the cluster: {error}"
    return _failed(obj, opts.source or "unknown", f"cannot read it: {why}; it will be retried by the next run", started)
