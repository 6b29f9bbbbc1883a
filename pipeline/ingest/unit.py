"""The unit of work of an ingest: one input object in; uncommitted data files, rejects and counts out.

:func:`process_object` reads one object with the reader its content calls for, writes its rows as
data files that no table references yet, and accounts for every line: lines = rows + line rejects +
meta lines, checked for every object (a mismatch is a bug and stops the run loudly rather than losing
lines quietly). It is pure with respect to the lake's visible state, and what it returns is a small
description (file actions, rejects, counts), never the rows themselves, so it runs the same in this
process, in a local worker process or on a cluster worker.

Must not: commit anything, or decide which objects to read (that is :mod:`pipeline.ingest.orchestrate`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from pipeline import crashpoints
from pipeline.errors import ConfigError, EdgelakeError, InputError
from pipeline.lake import FileSet, Lake
from pipeline.readers import reasons, registry
from pipeline.readers._base import (
    ConfigTables,
    ReadContext,
    empty_rejects,
    end_of_stream_rejects,
    raw_text,
    rejects_frame,
)
from pipeline.storage.chunks import ChunkStream, head
from pipeline.storage.fs import open_binary
from pipeline.storage.objects import InputObject

# Typed rows buffered per table before a worker writes them as data files. Bounded by size, not by row
# count, so that wide rows (WAF records with their headers) buffer fewer of them. 48 MiB is ~90k
# CloudFront rows (three data files per 250k-line object). Measured on the benchmark, interleaved:
# flushing at 64k rows wrote 4 files per object and ran ~10% slower; at 64 MiB the peak of the run
# rose from ~830 to ~920 MiB for little more speed.
FLUSH_BYTES = 48 << 20
DATA_TABLES = ("cloudfront", "realtime", "waf")


@dataclass(frozen=True)
class IngestOptions:
    source: str | None = None  # cloudfront | realtime | waf | distribution-config | web-acl; None: detect
    realtime_fields: tuple[str, ...] | None = None
    distribution_id: str | None = None
    workers: int = 0  # processes reading objects in parallel; 1: in this process; 0: automatic
    since: datetime | None = None  # only objects last modified at or after this instant
    cluster: str | None = None  # a Dask scheduler address or local:N (pipeline.ingest.cluster); None: local


@dataclass
class ObjectOutcome:
    """What one object produced: files to commit, rejects, config frames, counts."""

    obj: InputObject
    source: str
    generation: int = 1
    files: dict[str, FileSet] = field(default_factory=dict)
    rejects: pl.DataFrame = field(default_factory=empty_rejects)
    configs: list[ConfigTables] = field(default_factory=list)  # the config documents an object holds
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


def object_app_id(uri: str) -> str:
    return "edgelake-object-" + hashlib.sha256(uri.encode()).hexdigest()[:32]


def identity(obj: InputObject) -> str:
    if obj.etag:
        return f"etag:{obj.etag}"
    return f"size:{obj.size}:mtime:{obj.mtime}"


def _kind(obj: InputObject, opts: IngestOptions) -> str | None:
    sniffed = registry.detect(head(obj.uri))
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
    source = registry.family(kind) if kind else (opts.source or "unknown")
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
            [reasons.EMPTY_OBJECT if empty else reasons.UNKNOWN_SOURCE],
            [out.problem],
            [None if empty else raw_text(sample)],
        )
        return out
    try:
        if registry.kind(kind).document:
            _read_config(out, kind, ctx)
        else:
            _read_lines(out, kind, ctx, lake)
    except (InputError, OSError) as exc:
        return _failed(obj, source, _reason(exc), ingested_at)
    except ConfigError as exc:
        if not registry.kind(kind).document:
            # A log this run cannot read with the options it was given (real-time records without their
            # field list): not done, so the next run, given them, reads it.
            return _failed(obj, source, f"{exc}; it will be read by the next run that has them", ingested_at)
        out.problem = str(exc)
        out.rejects = pl.concat([out.rejects, rejects_frame(ctx, [None], [reasons.CONFIG], [str(exc)], [None])])
    return out


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, InputError) else f"cannot read it: {text}; it will be retried by the next run"


def _failed(obj: InputObject, source: str, message: str, ingested_at: datetime) -> ObjectOutcome:
    out = ObjectOutcome(obj, source, failed=message)
    ctx = ReadContext(uri=obj.uri, source=source, ingested_at=ingested_at)
    out.rejects = rejects_frame(ctx, [None], [reasons.UNREADABLE], [message], [None])
    return out


def _read_config(out: ObjectOutcome, kind: str, ctx: ReadContext) -> None:
    with open_binary(ctx.uri) as fh:
        data = fh.read()
    out.configs = registry.document_reader(kind)(data, ctx)


def _read_lines(out: ObjectOutcome, kind: str, ctx: ReadContext, lake: Lake) -> None:
    stream = ChunkStream(ctx.uri)
    reader = registry.line_reader(kind)
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
    extra, ended, problem = end_of_stream_rejects(stream, ctx, empty="the object is empty: no lines at all")
    out.lines = stream.lines + extra
    rejects.append(ended)
    out.problem = problem or out.problem
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
