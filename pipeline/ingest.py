"""Ingest orchestration: input objects in, committed lake tables and a reconciled summary out.

The unit of work is :func:`process_object`: one input object in; uncommitted Parquet data files,
its rejects and a manifest entry out. It is pure with respect to the lake's visible state (it only
adds unreferenced data files), so the same function can later run on Dask workers. :func:`ingest`
is the one coordinator: it skips objects the manifest already holds, runs the unit over the rest and
commits each group of outcomes table by table, recording one Delta application transaction per
object so that a commit retried after a crash is recognised and not applied twice.

Reconciliation is checked for every object: lines = rows + line rejects + meta lines. A mismatch is
a bug and stops the run loudly rather than losing lines quietly.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pipeline import crashpoints, pool
from pipeline import detect as detect_mod
from pipeline.concurrency import lost_races
from pipeline.errors import ConfigError, EdgelakeError, InputError, UsageError
from pipeline.inputs import ChunkStream, InputObject, expand, head, open_binary
from pipeline.lake import FileSet, Lake, sql_literal
from pipeline.memory import single_arena
from pipeline.readers._base import Batch, ReadContext, empty_rejects, raw_text, rejects_frame

# Typed rows buffered per table before a worker writes them as data files. Bounded by size, not by row
# count, so that wide rows (WAF records with their headers) buffer fewer of them. 48 MiB is ~90k
# CloudFront rows (three data files per 250k-line object). Measured on the benchmark, interleaved:
# flushing at 64k rows wrote 4 files per object and ran ~10% slower; at 64 MiB the peak of the run
# rose from ~830 to ~920 MiB for little more speed.
FLUSH_BYTES = 48 << 20
GROUP_OBJECTS = int(os.environ.get("EDGELAKE_GROUP_OBJECTS", "64"))  # objects per coordinator commit
GROUP_ROWS = 4_000_000
DATA_TABLES = ("cloudfront", "realtime", "waf")


@dataclass(frozen=True)
class IngestOptions:
    source: str | None = None  # cloudfront | realtime | waf | distribution-config | web-acl | cache-policy
    realtime_fields: tuple[str, ...] | None = None
    distribution_id: str | None = None
    workers: int = 0  # processes reading objects in parallel; 1: in this process; 0: automatic
    since: datetime | None = None  # only objects last modified at or after this instant


@dataclass
class ConfigPart:
    """One config document of an object: its rows in the config tables and its config_versions row.

    ``key`` is the (column, value) whose rows the document replaces in those tables, and only when it
    is the latest version of that config (config_versions.order_time); None: nothing to replace.
    """

    key: tuple[str, str] | None
    tables: dict[str, pl.DataFrame]
    version: pl.DataFrame | None = None


@dataclass
class ObjectOutcome:
    """What one object produced: files to commit, rejects, config frames, counts."""

    obj: InputObject
    source: str
    generation: int = 1
    files: dict[str, FileSet] = field(default_factory=dict)
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    configs: list[ConfigPart] = field(default_factory=list)
    lines: int = 0
    meta_lines: int = 0
    problem: str | None = None
    failed: str | None = None  # could not be read at all: reported, not in the manifest, retried next run

    @property
    def rows(self) -> dict[str, int]:
        out = {t: fs.rows for t, fs in self.files.items()}
        for part in self.configs:
            for t, frame in part.tables.items():
                out[t] = out.get(t, 0) + frame.height
        return out

    @property
    def row_total(self) -> int:
        return sum(fs.rows for fs in self.files.values())

    @property
    def line_rejects(self) -> int:
        return int(self.rejects.get_column("source_line").is_not_null().sum())


@dataclass
class IngestSummary:
    run_id: str
    seen: int = 0  # objects listed
    older: int = 0  # listed but last modified before --since
    objects: int = 0  # objects read in this run
    skipped: int = 0  # already in the lake with the same identity
    failed: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATA_TABLES, 0))
    rejects: int = 0
    lines: int = 0
    meta_lines: int = 0
    bytes_in: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    commit_retries: int = 0  # commits that lost a race to another writer and were made again
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "files": self.objects,
            "rows": self.rows,
            "rejects": self.rejects,
            "skipped": self.skipped,
            "failed": self.failed,
            "seen": self.seen,
            "older_than_since": self.older,
            "lines": self.lines,
            "meta_lines": self.meta_lines,
            "bytes": self.bytes_in,
            "problems": self.problems,
            "commit_retries": self.commit_retries,
            "seconds": round(self.seconds, 3),
            "run_id": self.run_id,
        }


def app_id(uri: str) -> str:
    return "edgelake-object-" + hashlib.sha256(uri.encode()).hexdigest()[:32]


def identity(obj: InputObject) -> str:
    if obj.etag:
        return f"etag:{obj.etag}"
    return f"size:{obj.size}:mtime:{obj.mtime}"


# --- the unit of work ------------------------------------------------------------------------------
def _reader(kind: str) -> Callable[[ChunkStream, ReadContext], Iterator[Batch]]:
    if kind == "cloudfront-w3c":
        from pipeline.readers.cloudfront import read_w3c

        return read_w3c
    if kind == "cloudfront-json":
        from pipeline.readers.cloudfront import read_v2_json

        return read_v2_json
    if kind == "cloudfront-parquet":
        from pipeline.readers.cloudfront import read_v2_parquet

        return read_v2_parquet
    if kind == "realtime":
        from pipeline.readers.realtime import read_realtime

        return read_realtime
    if kind == "waf":
        from pipeline.readers.waf import read_waf

        return read_waf
    raise UsageError(f"no line reader for {kind!r}")


def _kind(obj: InputObject, opts: IngestOptions) -> str | None:
    sniffed = detect_mod.detect(head(obj.uri))
    if opts.source is None:
        return sniffed
    if opts.source == "cloudfront":
        return sniffed if sniffed and sniffed.startswith("cloudfront") else "cloudfront-w3c"
    return opts.source


def process_object(
    obj: InputObject, lake: Lake, opts: IngestOptions, *, ingested_at: datetime, generation: int = 1
) -> ObjectOutcome:
    """Read one object, write its rows as uncommitted data files, and account for every line."""
    try:
        kind = _kind(obj, opts)
    except (InputError, OSError) as exc:  # OSError: the storage refused or dropped the read for good
        return _failed(obj, opts.source or "unknown", _reason(exc), ingested_at)
    source = detect_mod.family(kind) if kind else (opts.source or "unknown")
    out = ObjectOutcome(obj, source, generation)
    ctx = ReadContext(
        uri=obj.uri,
        source=source,
        distribution_id=opts.distribution_id,
        realtime_fields=opts.realtime_fields,
        ingested_at=ingested_at,
    )
    if kind is None:
        sample = head(obj.uri, 200)
        empty = not sample.strip()
        out.problem = (
            "the object is empty"
            if empty
            else "could not tell which log this is from its content (not CloudFront, real-time, WAF "
            "or a distribution config); pass --source if you know"
        )
        out.rejects = rejects_frame(
            ctx,
            [None],
            ["empty_object" if empty else "unknown_source"],
            [out.problem],
            [None if empty else raw_text(sample)],
        )
        return out
    try:
        if kind in ("distribution-config", "web-acl", "cache-policy"):
            _read_config(out, kind, ctx)
        else:
            _read_lines(out, kind, ctx, lake)
    except (InputError, OSError) as exc:
        return _failed(obj, source, _reason(exc), ingested_at)
    except ConfigError as exc:
        out.problem = str(exc)
        out.rejects = pl.concat([out.rejects, rejects_frame(ctx, [None], ["config"], [str(exc)], [None])])
    return out


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, InputError) else f"cannot read it: {text}; it will be retried by the next run"


def _failed(obj: InputObject, source: str, message: str, ingested_at: datetime) -> ObjectOutcome:
    out = ObjectOutcome(obj, source, failed=message)
    ctx = ReadContext(uri=obj.uri, source=source, ingested_at=ingested_at)
    out.rejects = rejects_frame(ctx, [None], ["unreadable"], [message], [None])
    return out


def _read_config(out: ObjectOutcome, kind: str, ctx: ReadContext) -> None:
    from pipeline.readers import versions

    with open_binary(ctx.uri) as fh:
        data = fh.read()
    when = ctx.ingested_at
    if kind == "distribution-config":
        from pipeline.readers.distribution import read_distribution_config

        conf = read_distribution_config(data, uri=ctx.uri, distribution_id=ctx.distribution_id)
        version = versions.distribution_version(data, conf.distribution_id)
        out.configs.append(
            ConfigPart(
                ("distribution_id", conf.distribution_id),
                dict(conf.tables),
                version.frame(uri=ctx.uri, ingested_at=when),
            )
        )
    elif kind == "web-acl":
        from pipeline.readers.webacl import read_web_acl

        rules = read_web_acl(data, uri=ctx.uri)
        arn = rules.get_column("web_acl_arn")[0] if rules.height else None
        acl = versions.web_acl_version(data)
        out.configs.append(
            ConfigPart(
                ("web_acl_arn", str(arn)) if arn else None,
                {"web_acl_rules": rules},
                acl.frame(uri=ctx.uri, ingested_at=when) if acl is not None else None,
            )
        )
    else:
        from pipeline.readers.cachepolicy import read_cache_policies

        for policy in read_cache_policies(data, uri=ctx.uri):
            out.configs.append(
                ConfigPart(
                    ("cache_policy_id", policy.cache_policy_id),
                    {"cache_policies": policy.row},
                    policy.version.frame(uri=ctx.uri, ingested_at=when),
                )
            )


def _read_lines(out: ObjectOutcome, kind: str, ctx: ReadContext, lake: Lake) -> None:
    stream = ChunkStream(ctx.uri)
    reader = _reader(kind)
    pending: dict[str, list[pl.DataFrame]] = {}
    pending_bytes: dict[str, int] = {}
    rejects = [out.rejects]
    rows = 0
    for batch in reader(stream, ctx):
        out.meta_lines += batch.meta_lines
        rejects.append(batch.rejects)
        rows += batch.rows.height
        if batch.rows.height:
            pending.setdefault(batch.table, []).append(batch.rows)
            pending_bytes[batch.table] = pending_bytes.get(batch.table, 0) + int(batch.rows.estimated_size())
            if pending_bytes[batch.table] >= FLUSH_BYTES:
                _flush(out, lake, batch.table, pending.pop(batch.table))
                pending_bytes[batch.table] = 0
    for table, frames in pending.items():
        _flush(out, lake, table, frames)
    crashpoints.reached("after-data-files")
    out.lines = stream.lines
    if stream.cut_line is not None:
        line_no, tail = stream.cut_line
        out.lines += 1
        rejects.append(
            rejects_frame(
                ctx,
                [line_no],
                ["truncated_line"],
                ["the line is cut off where the gzip stream breaks"],
                [raw_text(tail)],
            )
        )
    if stream.problem is not None:
        out.problem = stream.problem
        rejects.append(rejects_frame(ctx, [None], ["truncated_gzip"], [stream.problem], [None]))
    elif out.lines == 0:
        out.problem = "the object is empty: no lines at all"
        rejects.append(rejects_frame(ctx, [None], ["empty_object"], [out.problem], [None]))
    out.rejects = pl.concat(rejects, how="vertical_relaxed")
    if out.lines != rows + out.line_rejects + out.meta_lines:
        raise EdgelakeError(
            f"internal error: {ctx.uri}: {out.lines} lines read but {rows} rows + "
            f"{out.line_rejects} rejects + {out.meta_lines} meta lines; please report this"
        )


def _flush(out: ObjectOutcome, lake: Lake, table: str, frames: list[pl.DataFrame]) -> None:
    frame = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    files = lake.write_files(table, frame)
    if table in out.files:
        out.files[table].extend(files)
    else:
        out.files[table] = files


# --- the coordinator -------------------------------------------------------------------------------
def _manifest_state(lake: Lake) -> dict[str, tuple[str, int]]:
    """object_uri -> (identity, generation) of its latest ingest."""
    if lake.open("manifest") is None:
        return {}
    latest = (
        lake.scan("manifest")
        .sort("generation", "ingested_at")
        .group_by("object_uri")
        .agg(pl.col("identity").last(), pl.col("generation").last())
        .collect()
    )
    return {r[0]: (r[1], r[2]) for r in latest.iter_rows()}


def ingest(
    inputs: Sequence[str],
    lake_uri: str,
    opts: IngestOptions | None = None,
    *,
    on_object: Callable[[ObjectOutcome | None, int, int], None] | None = None,
) -> IngestSummary:
    """Ingest every object named by ``inputs`` into the lake at ``lake_uri``."""
    opts = opts or IngestOptions()
    if opts.source is not None and opts.source not in detect_mod.SOURCES:
        raise UsageError(f"unknown source {opts.source!r}; choose one of {', '.join(detect_mod.SOURCES)}")
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
        if seen is not None and seen[0] == identity(obj):
            summary.skipped += 1
            continue
        todo.append((obj, 1 if seen is None else seen[1] + 1))
    if on_object:
        on_object(None, 0, len(todo))
    group: list[ObjectOutcome] = []
    for i, outcome in enumerate(_run_units(todo, lake, opts, started), 1):
        group.append(outcome)
        if len(group) >= GROUP_OBJECTS or sum(o.row_total for o in group) >= GROUP_ROWS:
            _commit(lake, group, summary, started)
            group = []
        if on_object:
            on_object(outcome, i, len(todo))
    if group:
        _commit(lake, group, summary, started)
    summary.commit_retries = lost_races() - races_before
    summary.seconds = (datetime.now(UTC) - started).total_seconds()
    return summary


def worker_started() -> None:
    """Set up a worker process of the pool (:mod:`pipeline.pool` runs this first in each)."""
    # A worker has sent every result (its result queue writes synchronously) by the time its loop
    # returns; the interpreter teardown that follows takes 0.1-0.2 s that the coordinator would wait
    # for. Leaving at the first exit handler skips it. A worker killed by a signal never gets here,
    # and the executor reports that as a broken pool whatever the exit code.
    atexit.register(os._exit, 0)
    single_arena()  # already set from the environment (pipeline.pool); this only records it


def _unit(obj: InputObject, lake_uri: str, opts: IngestOptions, started: datetime, gen: int) -> ObjectOutcome:
    return process_object(obj, Lake(lake_uri), opts, ingested_at=started, generation=gen)


def _run_units(
    todo: list[tuple[InputObject, int]], lake: Lake, opts: IngestOptions, started: datetime
) -> Iterator[ObjectOutcome]:
    """Run the unit of work over ``todo``: in order in this process, or in the order objects finish
    when worker processes share them."""
    for obj, gen in todo:
        if gen > 1:
            _forget(lake, obj.uri, gen)
            crashpoints.reached("after-forget")
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


def _forget(lake: Lake, uri: str, generation: int) -> None:
    """Remove the rows of an object's previous version before its new version is ingested.

    A table that already holds ``generation`` (a run that was killed after committing it) is left alone:
    deleting there would remove the new rows, which the commit step would then skip as done.
    """
    for table in (*DATA_TABLES, "rejects"):
        lake.delete_rows(table, f"source_file = {sql_literal(uri)}", unless=(app_id(uri), generation))


def _clear_unreadable(lake: Lake, uris: list[str]) -> None:
    """Objects read now drop the `unreadable` notes earlier failed attempts left in ``rejects``."""
    dt = lake.open("rejects") if uris else None
    if dt is None:
        return
    stale = (
        pl.scan_delta(dt)
        .filter((pl.col("reason_code") == "unreadable") & pl.col("source_file").is_in(uris))
        .select("source_file")
        .unique()
        .collect()
        .get_column("source_file")
        .to_list()
    )
    for uri in stale:
        lake.delete_rows("rejects", f"reason_code = 'unreadable' AND source_file = {sql_literal(uri)}")


def _commit(lake: Lake, group: list[ObjectOutcome], summary: IngestSummary, started: datetime) -> None:
    """Commit a group of outcomes: data tables, then configs, rejects, and the manifest last.

    Every table records each object's application transaction (its app id, its generation) in the
    same commit as its rows, so an object whose rows a killed run or another writer already
    committed to a table is left out of that table's commit, and nothing lands twice.
    """
    done = [o for o in group if o.failed is None]
    for table in DATA_TABLES:
        parts: list[tuple[FileSet | pl.DataFrame, list[tuple[str, int]]]] = [
            (o.files[table], [(app_id(o.obj.uri), o.generation)]) for o in done if table in o.files
        ]
        if parts and lake.commit_parts(table, parts):
            crashpoints.reached(f"after-commit-{table}")
    for o in done:
        for part in o.configs:
            _commit_config(lake, part)
        if o.configs:
            crashpoints.reached("after-configs")
    # Failed objects' rejects carry no transaction: they are reported again every run until read.
    _clear_unreadable(lake, [o.obj.uri for o in done])
    rejects: list[tuple[FileSet | pl.DataFrame, list[tuple[str, int]]]] = [
        (o.rejects, [(app_id(o.obj.uri), o.generation)]) for o in done
    ]
    rejects += [(o.rejects, []) for o in group if o.failed is not None]
    if rejects and lake.commit_parts("rejects", rejects):
        crashpoints.reached("after-rejects")
    if done:
        from pipeline.readers._typing import conform
        from pipeline.schemas import load

        manifest = conform(
            pl.DataFrame([_manifest_row(o, summary.run_id, started) for o in done], infer_schema_length=None),
            load("manifest"),
        )
        parts = [(manifest.slice(i, 1), [(app_id(o.obj.uri), o.generation)]) for i, o in enumerate(done)]
        if lake.commit_parts("manifest", parts):
            crashpoints.reached("after-manifest")
    for o in group:
        summary.objects += 1
        summary.lines += o.lines
        summary.meta_lines += o.meta_lines
        summary.rejects += o.rejects.height
        summary.bytes_in += o.obj.size or 0
        for table, n in o.rows.items():
            summary.rows[table] = summary.rows.get(table, 0) + n
        if o.failed:
            summary.failed += 1
            summary.problems.append({"object": o.obj.uri, "problem": o.failed})
        elif o.problem:
            summary.problems.append({"object": o.obj.uri, "problem": o.problem})


def _commit_config(lake: Lake, part: ConfigPart) -> None:
    """Keep the version, then make it the config tables' rows unless a later version is there already.

    Versions of one config are ordered by config_versions.order_time (LastModifiedTime when the export
    has it, else when it was ingested), so ingesting an old export after a newer one keeps the newer
    one in the config tables, whatever the order of the files.
    """
    latest = True
    if part.version is not None:
        row = part.version.row(0, named=True)
        lake.replace_rows("config_versions", part.version, key="version_id", value=row["version_id"])
        newer = (
            lake.scan("config_versions")
            .filter(
                (pl.col("kind") == row["kind"])
                & (pl.col("config_id") == row["config_id"])
                & (pl.col("order_time") > row["order_time"])
            )
            .select(pl.len())
            .collect()
            .item()
        )
        latest = newer == 0
    if part.key is not None and latest:
        column, value = part.key
        for table, frame in part.tables.items():
            lake.replace_rows(table, frame, key=column, value=value)


def _manifest_row(o: ObjectOutcome, run_id: str, started: datetime) -> dict[str, Any]:
    return {
        "object_uri": o.obj.uri,
        "identity": identity(o.obj),
        "size": o.obj.size,
        "etag": o.obj.etag,
        "last_modified": datetime.fromtimestamp(o.obj.mtime, UTC) if o.obj.mtime else None,
        "source": o.source,
        "generation": o.generation,
        "lines": o.lines,
        "meta_lines": o.meta_lines,
        "rows": sum(o.rows.values()),
        "rejects": o.rejects.height,
        "problem": o.problem,
        "run_id": run_id,
        "ingested_at": started,
    }
