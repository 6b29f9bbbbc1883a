"""Streaming ingestion of the log kinds that stream (CloudFront real-time logs, AWS WAF logs): micro-batches
committed exactly once, with a per-minute rollup for real-time logs.

``edgelake follow SOURCE`` gathers complete lines from its source (:mod:`pipeline.follow.sources`,
:mod:`pipeline.follow.files`) until ``max_batch`` lines are buffered or the batch is due: a flush
starts early by the time recent flushes took, so that its commit lands about ``flush_interval``
after the first line arrived. It parses them with the kind's reader (from
:mod:`pipeline.readers.registry`) and commits, in this order, each as one Delta commit that also
records, per source file, the application transaction (``edgelake-follow-<sha256(uri)[:32]>``,
version = bytes consumed):

1. the rows, to the kind's table, ``realtime`` or ``waf`` (always, even when a batch produced no rows:
   the checkpoint moves);
2. the rejects, to ``rejects`` (only when the batch has any);
3. for real-time logs, the per-minute aggregates, to ``rollup_minute`` (always).

Rows and their checkpoint are atomic, so a restart, also after SIGKILL, resumes where the lake says.
A source restarts at the smaller of its rows and rollup versions; a re-read line goes only to the
tables whose own version is below it. So a crash between (1) and (3) is repaired on
restart by re-reading that byte range and committing only its rollup (and its rejects, if those were
lost too): no row twice, no count twice, nothing lost. Whole objects (S3, local gzip) are committed in
one piece (version = object size); their re-read is the whole object.

stdin cannot be re-read: its checkpoint is a batch number under app id ``edgelake-follow-stdin`` (for
WAF records ``edgelake-follow-stdin-waf``), its
rows carry ``source_file = 'stdin:<batch>'``, and a rollup lost between (1) and (3) is recomputed
from the committed rows of the missing batches. Rejects lost in that gap are not recoverable from
the lake; the producer re-sends those lines (it is at-least-once), and the follower drops re-sent
records by request id within a horizon (:mod:`pipeline.follow.dedupe`).

A dashboard reads ``rollup_minute`` instead of raw rows, for example::

    SELECT behavior, sum(hits) / sum(cacheable) AS hit_ratio FROM rollup_minute
    WHERE minute >= now() - INTERVAL 1 HOUR GROUP BY behavior

Must not: list or tail sources itself, or print (the CLI renders the flush reports).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

import polars as pl

from pipeline.errors import InputError, UsageError
from pipeline.follow.dedupe import RequestIdFilter
from pipeline.follow.files import DirectorySource
from pipeline.follow.rollup import ROLLUP, merge_rollups, rollup
from pipeline.follow.sources import (
    ALL,
    REJECTS,
    MemoryStream,
    Piece,
    S3Source,
    Source,
    StdinSource,
    Tables,
)
from pipeline.lake import FileSet, Lake
from pipeline.memory import pin_mmap_threshold
from pipeline.readers import registry
from pipeline.readers._base import ReadContext, end_of_stream_rejects
from pipeline.storage.chunks import ChunkStream

WRITE_ROWS = 131_072  # rows buffered before a data file is written (a large object spans several)
GROUP_OBJECTS = 64  # whole objects per commit at most
KILL_HOOK = "EDGELAKE_FOLLOW_KILL_AFTER"  # tests: "<table>:<n>" SIGKILLs the process after that commit


@dataclass(frozen=True)
class FollowOptions:
    realtime_fields: tuple[str, ...] | None = None  # real-time logs: the configured field list
    distribution_id: str | None = None  # real-time logs: the distribution the config belongs to
    kind: str = "realtime"  # a kind that streams (registry.STREAMED): realtime | waf
    flush_interval: float = 5.0
    max_batch: int = 100_000
    once: bool = False
    idle_exit: float | None = None
    dedupe_horizon: float = 600.0  # seconds of request ids remembered in stdin mode

    def __post_init__(self) -> None:
        if self.flush_interval < 0 or self.max_batch < 1:
            raise UsageError("--flush-interval must be >= 0 and --max-batch >= 1")
        if self.idle_exit is not None and self.idle_exit < 0:
            raise UsageError("--idle-exit must be >= 0 seconds")
        if self.kind not in registry.STREAMED:
            raise UsageError(f"follow streams {' or '.join(registry.STREAMED)} logs, not {self.kind!r}")
        if self.kind == "realtime" and not (self.realtime_fields and self.distribution_id):
            raise UsageError(
                "real-time records carry no header and no distribution id: pass --realtime-fields and --distribution-id"
            )

    @property
    def tables(self) -> Tables:
        rows = registry.kind(self.kind).tables[0]
        return Tables(rows, ROLLUP if rows == "realtime" else None)


@dataclass
class FlushReport:
    """What one micro-batch committed."""

    records: int = 0
    rejects: int = 0
    duplicates: int = 0
    lines: int = 0
    sources: int = 0
    rollup_rows: int = 0
    lag_seconds: float | None = None  # commit time minus the newest record's timestamp
    buffered_seconds: float = 0.0  # how long the oldest line waited in the buffer
    seconds: float = 0.0  # parse + write + commit time

    def as_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rejects": self.rejects,
            "duplicates": self.duplicates,
            "lines": self.lines,
            "sources": self.sources,
            "rollup_rows": self.rollup_rows,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "buffered_seconds": round(self.buffered_seconds, 3),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class FollowSummary:
    flushes: int = 0
    records: int = 0
    rejects: int = 0
    duplicates: int = 0
    stopped_by: str = ""


def open_source(
    spec: str, lake: Lake, warn: Callable[[str], None], tables: Tables, stdin: BinaryIO | None = None
) -> Source:
    """The source named on the command line: ``-``, an ``s3://`` prefix, or a local directory or file."""
    if spec == "-":
        return StdinSource(lake, warn, tables, stdin)
    if spec.startswith("s3://"):
        return S3Source(spec, lake, warn, tables)
    if "://" in spec:
        raise InputError(f"{spec}: follow reads an s3:// prefix, a local directory or - (stdin)")
    return DirectorySource(spec, lake, warn, tables)


class _Batch:
    """One micro-batch on its way into the lake: rows written as they come, rejects and rollup kept."""

    def __init__(self, lake: Lake, tables: Tables) -> None:
        self.lake = lake
        self.tables = tables
        self.files = FileSet(tables.rows)
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = 0
        self.rejects: list[pl.DataFrame] = []
        self.rollups: list[pl.DataFrame] = []
        self.newest: datetime | None = None
        self.report = FlushReport()

    def add(self, rows: pl.DataFrame, rejects: pl.DataFrame, skip: dict[str, int]) -> None:
        table_rows = _after(rows, skip[self.tables.rows])
        if table_rows.height:
            self.pending.append(table_rows)
            self.pending_rows += table_rows.height
            newest = table_rows.get_column("timestamp").max()
            if isinstance(newest, datetime) and (self.newest is None or newest > self.newest):
                self.newest = newest
            if self.pending_rows >= WRITE_ROWS:
                self.write()
        if self.tables.rollup:
            rollup_rows = _after(rows, skip[self.tables.rollup])
            if rollup_rows.height:
                self.rollups.append(rollup(rollup_rows))
        kept = _after(rejects, skip[REJECTS])
        if kept.height:
            self.rejects.append(kept)
        self.report.records += table_rows.height
        self.report.rejects += kept.height

    def write(self) -> None:
        if self.pending:
            frame = pl.concat(self.pending, how="diagonal_relaxed") if len(self.pending) > 1 else self.pending[0]
            self.files.extend(self.lake.write_files(self.tables.rows, frame))
            self.pending, self.pending_rows = [], 0


def _after(frame: pl.DataFrame, skip: int) -> pl.DataFrame:
    """The part of ``frame`` past line ``skip`` (object-level rejects, with no line, unless skip is ALL)."""
    if skip >= ALL:
        return frame.clear()
    if frame.height == 0 or skip <= 0:
        return frame
    line = pl.col("source_line")
    return frame.filter(line.is_null() | (line > skip))


class Follower:
    """The micro-batch loop over one source."""

    def __init__(
        self,
        source_spec: str,
        lake_uri: str,
        opts: FollowOptions,
        *,
        on_flush: Callable[[FlushReport], None] | None = None,
        on_message: Callable[[str], None] | None = None,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.opts = opts
        self.lake = Lake(lake_uri)
        self.on_flush = on_flush or (lambda report: None)
        self.warn = on_message or (lambda message: None)
        self.kind = registry.kind(opts.kind)
        self.tables = opts.tables
        self.read = registry.line_reader(opts.kind)
        self.source: Source = open_source(source_spec, self.lake, self.warn, self.tables, stdin)
        self.dedupe: RequestIdFilter | None = None
        if isinstance(self.source, StdinSource):
            if opts.kind == "realtime" and "x-edge-request-id" not in (opts.realtime_fields or ()):
                self.warn(
                    "the real-time field list has no x-edge-request-id: records a producer sends twice "
                    "cannot be recognised and will be stored twice"
                )
            elif self.kind.record_id is not None:
                scope = ("distribution_id", opts.distribution_id) if opts.distribution_id else None
                self.dedupe = RequestIdFilter(
                    self.lake, self.tables.rows, self.kind.record_id, opts.dedupe_horizon, scope=scope
                )
        self.stop_reason: str | None = None
        self._commits: dict[str, int] = dict.fromkeys(self.tables.all, 0)
        # How long the last flushes took (seeded with a guess until the first ones are timed).
        self._flush_seconds: deque[float] = deque([1.0], maxlen=3)

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> FollowSummary:
        summary = FollowSummary()
        if isinstance(self.source, StdinSource):
            self._repair_stdin_rollup(self.source)
            if self.dedupe is not None:
                self.dedupe.warm()
        first_at: float | None = None  # when the oldest buffered line may have arrived
        last_data = last_poll = time.monotonic()
        with self._signals():
            while True:
                cap = self.opts.max_batch - self.source.buffered_lines()
                got = self.source.poll(cap) if cap > 0 else 0
                now = time.monotonic()
                if got:
                    last_data = now
                    if first_at is None:
                        # New lines arrived after the previous poll (maybe while a flush kept us busy):
                        # count their wait from then, so a slow flush does not stretch the next one's.
                        first_at = last_poll
                last_poll = now
                buffered = self.source.buffered_lines()
                quiet = not got and not self.source.waiting()
                # Start the flush early by about its own duration, so the commit lands by flush_interval.
                lead = max(self._flush_seconds)
                interval = self.opts.flush_interval - min(lead, self.opts.flush_interval / 2)
                due = (
                    self.source.ready_objects() > 0
                    or buffered >= self.opts.max_batch
                    or (buffered and first_at is not None and now - first_at >= interval)
                    or (buffered and (self.stop_reason or self.source.eof or (self.opts.once and quiet)))
                )
                if due:
                    report = self.flush(now - (first_at or now))
                    first_at = None if not self.source.buffered_lines() else last_poll
                    if report is not None:
                        summary.flushes += 1
                        summary.records += report.records
                        summary.rejects += report.rejects
                        summary.duplicates += report.duplicates
                        if report.lines:
                            self._flush_seconds.append(report.seconds)
                        self.on_flush(report)
                    continue
                if self.stop_reason:
                    break
                if self.source.eof and not buffered:
                    self.stop_reason = "end of input"
                elif self.opts.once and quiet and not buffered:
                    self.stop_reason = "caught up (--once)"
                elif self.opts.idle_exit is not None and not buffered and now - last_data >= self.opts.idle_exit:
                    self.stop_reason = f"no new data for {self.opts.idle_exit:g} s (--idle-exit)"
                if self.stop_reason:
                    break
                wait = self.source.poll_interval
                if first_at is not None:
                    wait = min(wait, max(0.0, first_at + interval - now))
                self.source.wait(wait)
        summary.stopped_by = self.stop_reason or ""
        return summary

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT stop the loop after committing what is buffered."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def stop(signum: int, frame: object) -> None:
            self.stop_reason = f"signal {signal.Signals(signum).name}"

        before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)

    # --- one micro-batch ---------------------------------------------------------------------------
    def flush(self, buffered_seconds: float) -> FlushReport | None:
        started = time.monotonic()
        pieces = self.source.take()
        whole = [p for p in pieces if p.data is None]
        pieces = [p for p in pieces if p.data is not None] + whole[:GROUP_OBJECTS]
        if not pieces:
            return None
        at = datetime.now(UTC)
        batch = _Batch(self.lake, self.tables)
        for piece in pieces:
            self._read(piece, batch, at)
            if piece.data is None and batch.report.records >= self.opts.max_batch:
                pieces = pieces[: pieces.index(piece) + 1]  # the rest of the objects go in the next batch
                break
        batch.write()
        report = batch.report
        report.lines = sum(p.lines for p in pieces)
        report.sources = len(pieces)
        rows_table, roll_table = self.tables.rows, self.tables.rollup
        done = list(self.tables.resume)
        self._commit(batch.files, [(p.app, p.end) for p in pieces if p.skip[rows_table] < ALL], rows_table)
        if batch.rejects:
            self.lake.append_rows(
                REJECTS,
                pl.concat(batch.rejects, how="vertical_relaxed"),
                app_transactions=[(p.app, p.end) for p in pieces if p.skip[REJECTS] < ALL],
            )
            self._hook(REJECTS)
            done.append(REJECTS)
        if roll_table:
            roll = merge_rollups(batch.rollups)
            report.rollup_rows = roll.height
            txns = [(p.app, p.end) for p in pieces if p.skip[roll_table] < ALL]
            self._commit(self.lake.write_files(roll_table, roll), txns, roll_table)
        self.source.committed(pieces, tuple(done))
        if self.dedupe is not None:
            self.dedupe.committed()
        report.buffered_seconds = buffered_seconds
        if batch.newest is not None:
            report.lag_seconds = (datetime.now(UTC) - batch.newest).total_seconds()
        report.seconds = time.monotonic() - started
        return report

    def _read(self, piece: Piece, batch: _Batch, at: datetime) -> None:
        ctx = ReadContext(
            uri=piece.uri,
            source=self.kind.source,
            distribution_id=self.opts.distribution_id,
            realtime_fields=self.opts.realtime_fields,
            ingested_at=at,
        )
        stream: ChunkStream = (
            MemoryStream(piece.data, piece.first_line, piece.uri) if piece.data is not None else ChunkStream(piece.uri)
        )
        for part in self.read(stream, ctx):
            rows = part.rows
            if self.dedupe is not None and rows.height:
                rows, dropped = self.dedupe.filter(rows)
                batch.report.duplicates += dropped
            batch.add(rows, part.rejects, piece.skip)
        if piece.data is None:
            extra, ended, _ = end_of_stream_rejects(stream, ctx, empty="the object holds no lines")
            piece.lines = stream.lines + extra
            batch.add(pl.DataFrame(), ended, piece.skip)

    def _commit(self, files: FileSet, txns: list[tuple[str, int]], table: str) -> None:
        if files.actions or txns:
            self.lake.commit(files, app_transactions=txns)
            self._hook(table)

    def _hook(self, table: str) -> None:
        """Test hook: ``EDGELAKE_FOLLOW_KILL_AFTER=realtime:2`` dies by SIGKILL after the 2nd such commit."""
        self._commits[table] += 1
        spec = os.environ.get(KILL_HOOK)
        if spec and spec == f"{table}:{self._commits[table]}":
            os.kill(os.getpid(), signal.SIGKILL)

    def _repair_stdin_rollup(self, source: StdinSource) -> None:
        """Recompute the rollup of stdin batches whose rows were committed but whose rollup was not."""
        if self.tables.rollup is None:
            return
        have, want = source.versions[ROLLUP], source.versions[self.tables.rows]
        if want <= have:
            return
        names = [f"stdin:{n}" for n in range(have + 1, want + 1)]
        batches = pl.col("source_file").is_in(pl.Series(names).implode())
        rows = self.lake.scan(self.tables.rows).filter(batches).collect()
        self.warn(
            f"stdin batches {have + 1}..{want} were committed without their rollup (the follower stopped "
            f"in between); recomputed it from their {rows.height} rows"
        )
        roll = rollup(rows) if rows.height else merge_rollups([])
        self._commit(self.lake.write_files(ROLLUP, roll), [(source.app, want)], ROLLUP)
        source.versions[ROLLUP] = want


def follow(
    source: str,
    lake_uri: str,
    opts: FollowOptions,
    *,
    on_flush: Callable[[FlushReport], None] | None = None,
    on_message: Callable[[str], None] | None = None,
    stdin: BinaryIO | None = None,
) -> FollowSummary:
    """Follow ``source`` (an ``s3://`` prefix, a local directory or file, or ``-``) into the lake."""
    pin_mmap_threshold()  # a follower runs for days: its resident size must not creep
    return Follower(source, lake_uri, opts, on_flush=on_flush, on_message=on_message, stdin=stdin).run()
