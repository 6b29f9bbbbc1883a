"""Ingest orchestration: input objects in, committed lake tables and a reconciled summary out.

:func:`ingest` is the one coordinator: it lists the inputs, skips objects the manifest already holds
with the same identity, removes the old rows of changed ones, runs the unit of work
(:func:`~pipeline.ingest.unit.process_object`) over the rest, in this process or sharing them with
worker processes (:mod:`pipeline.ingest.pool`), or on a Dask cluster (:mod:`pipeline.ingest.cluster`),
and commits each group of outcomes (:mod:`pipeline.ingest.commit`).

Must not: parse logs (the readers do) or write data files itself (the unit does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pipeline import crashpoints
from pipeline.errors import EdgelakeError, UsageError
from pipeline.ingest import pool
from pipeline.ingest.commit import IngestSummary, commit_group, forget
from pipeline.ingest.unit import IngestOptions, ObjectOutcome, identity, process_object
from pipeline.lake import Lake
from pipeline.lake.concurrency import lost_races
from pipeline.memory import single_arena
from pipeline.readers import registry
from pipeline.storage.objects import InputObject, expand

GROUP_OBJECTS = int(os.environ.get("EDGELAKE_GROUP_OBJECTS", "64"))  # objects per coordinator commit
GROUP_ROWS = 4_000_000


def _manifest_state(lake: Lake) -> dict[str, tuple[str, int, str]]:
    """object_uri -> (identity, generation, source) of its latest ingest."""
    if lake.open("manifest") is None:
        return {}
    latest = (
        lake.scan("manifest")
        .sort("generation", "ingested_at")
        .group_by("object_uri")
        .agg(pl.col("identity").last(), pl.col("generation").last(), pl.col("source").last())
        .collect()
    )
    return {r[0]: (r[1], r[2], r[3]) for r in latest.iter_rows()}


def ingest(
    inputs: Sequence[str],
    lake_uri: str,
    opts: IngestOptions | None = None,
    *,
    on_object: Callable[[ObjectOutcome | None, int, int], None] | None = None,
    on_message: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Ingest every object named by ``inputs`` into the lake at ``lake_uri``; ``on_message`` hears what
    a person running it should know (where a Dask cluster's dashboard is)."""
    opts = opts or IngestOptions()
    if opts.source is not None and opts.source not in registry.SOURCES:
        raise UsageError(f"unknown source {opts.source!r}; choose one of {', '.join(registry.SOURCES)}")
    single_arena()
    started = datetime.now(UTC)
    summary = IngestSummary(run_id=f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}")
    lake = Lake(lake_uri)
    objects = expand(inputs)
    summary.seen = len(objects)
    if opts.since is not None:
        cutoff = opts.since.timestamp()
        kept = [o for o in objects if o.mtime is None or o.mtime >= cutoff]
        summary.older = len(objects) - len(kept)
        objects = kept
    races_before = lost_races()
    state = _manifest_state(lake)
    todo: list[tuple[InputObject, int]] = []
    for obj in objects:
        seen = state.get(obj.uri)
        # An object nothing could recognise is read again when this run says what it is (--source).
        if seen is not None and seen[0] == identity(obj) and not (opts.source and seen[2] == "unknown"):
            summary.skipped += 1
            continue
        todo.append((obj, 1 if seen is None else seen[1] + 1))
    if on_object:
        on_object(None, 0, len(todo))
    group: list[ObjectOutcome] = []
    for i, outcome in enumerate(_run_units(todo, lake, opts, started, on_message), 1):
        group.append(outcome)
        if len(group) >= GROUP_OBJECTS or sum(o.row_total for o in group) >= GROUP_ROWS:
            commit_group(lake, group, summary, started)
            group = []
        if on_object:
            on_object(outcome, i, len(todo))
    if group:
        commit_group(lake, group, summary, started)
    summary.commit_retries = lost_races() - races_before
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    return summary


def _unit(obj: InputObject, lake_uri: str, opts: IngestOptions, started: datetime, gen: int) -> ObjectOutcome:
    return process_object(obj, Lake(lake_uri), opts, ingested_at=started, generation=gen)


def _run_units(
    todo: list[tuple[InputObject, int]],
    lake: Lake,
    opts: IngestOptions,
    started: datetime,
    on_message: Callable[[str], None] | None = None,
) -> Iterator[ObjectOutcome]:
    """Run the unit of work over ``todo``: in order in this process, or in the order objects finish
    when worker processes (local, or a Dask cluster's) share them."""
    for obj, gen in todo:
        if gen > 1:
            forget(lake, obj.uri, gen)
            crashpoints.reached("after-forget")
    if opts.cluster is not None:
        pool.discard()
        from pipeline.ingest import cluster  # loads Dask: only when a cluster is asked for

        yield from cluster.run_units(todo, lake, opts, started, on_message)
        return
    # Automatic mode: worker processes pay ~0.4 s each to start, so only for inputs that take longer.
    size = pool.pool_size(opts.workers, len(todo), sum(obj.size or 0 for obj, _ in todo))
    if size == 0:
        pool.discard()
        for obj, gen in todo:
            yield process_object(obj, lake, opts, ingested_at=started, generation=gen)
        return
    with pool.take(size) or pool.new_pool(size) as executor:
        yield from _shared_queue(todo, lake, opts, started, executor, size)


def _shared_queue(
    todo: list[tuple[InputObject, int]], lake: Lake, opts: IngestOptions, started: datetime, executor: Any, feeders: int
) -> Iterator[ObjectOutcome]:
    """Objects go to whichever process is free next: this one, or a pool worker.

    This process is one of the workers (N workers cost N processes, not N + 1). Each pool worker is
    kept busy by a feeder thread here that claims the next unread object, hands it over and waits.
    Claiming as each process frees up, instead of dealing the objects out in turns, stops the faster
    process from idling while the slower one (started later, or given bigger objects) catches up;
    on the benchmark's 8 objects it was idle ~0.4 s of a 6 s run. Outcomes come out in the order they
    finish, not the input order.
    """
    import queue
    import threading
    from concurrent.futures.process import BrokenProcessPool

    lock = threading.Lock()
    claimed = 0
    stop = threading.Event()
    results: queue.Queue[tuple[int, ObjectOutcome | BaseException] | None] = queue.Queue()

    def claim() -> int | None:
        nonlocal claimed
        with lock:
            if stop.is_set() or claimed >= len(todo):
                return None
            claimed += 1
            return claimed - 1

    def feed() -> None:
        try:
            while (i := claim()) is not None:
                obj, gen = todo[i]
                try:
                    outcome: ObjectOutcome | BaseException = executor.submit(
                        _unit, obj, lake.uri, opts, started, gen
                    ).result()
                except BaseException as exc:  # handed to the consuming thread, raised there
                    outcome = exc
                results.put((i, outcome))
                if isinstance(outcome, BaseException):
                    return
        finally:
            results.put(None)

    def handed(item: tuple[int, ObjectOutcome | BaseException]) -> ObjectOutcome:
        i, outcome = item
        if isinstance(outcome, BrokenProcessPool):
            raise EdgelakeError(
                f"a worker process died (killed, or out of memory) while reading {todo[i][0].uri}; what was "
                "committed before stays, nothing of the rest was committed; run again, with --workers 1 "
                "if memory is short"
            ) from outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    threads = [threading.Thread(target=feed, name=f"edgelake-feed-{n}", daemon=True) for n in range(feeders)]
    for t in threads:
        t.start()
    running = feeders

    def finished(wait: bool) -> Iterator[ObjectOutcome]:
        """Outcomes the pool has handed back: those ready now, or (``wait``) all that remain."""
        nonlocal running
        while running:
            try:
                item = results.get(block=wait)
            except queue.Empty:
                return
            if item is None:
                running -= 1
            else:
                yield handed(item)

    try:
        while (i := claim()) is not None:
            obj, gen = todo[i]
            yield process_object(obj, lake, opts, ingested_at=started, generation=gen)
            yield from finished(wait=False)
        yield from finished(wait=True)
    finally:
        stop.set()  # on an error (or a consumer that stopped early): no new objects; running ones finish
        for t in threads:
            t.join()
