"""Where ``edgelake follow`` reads from, and the checkpoint rules every source kind shares.

Owns: the :class:`Piece` a source hands to the follower (complete lines, or a whole object to
stream, plus the checkpoint its commit records), the :class:`Source` surface the follower's loop
drives, whole objects (:class:`ObjectSet`), the ``s3://`` prefix source and the stdin source. Local
directories are tailed by :mod:`pipeline.follow.files`.

Checkpoints are not kept here: they are Delta application transactions in the lake, one app id per
source file (``edgelake-follow-`` + sha256 of its URI) in each table the follower writes
(:class:`Tables`: the rows table of the kind followed, ``rejects``, and for real-time logs the
``rollup_minute`` table), whose version is the byte offset committed so far (a whole object: its size;
stdin: a batch number). A source starts at the smallest version of the tables it resumes from (rows
and rollup); a :class:`Piece` that re-reads lines one table already holds says so in
:attr:`Piece.skip`, so nothing is applied to a table twice.

Every ``s3://`` object (and every local gzip file) is a whole object: read once, completely, when it
appears; Firehose objects are immutable. Only complete lines are ever taken: a partial last line
waits for its newline, except at the end of stdin, which completes it.

Must not: parse log lines or write to the lake (that is :mod:`pipeline.follow`).
"""

from __future__ import annotations

import hashlib
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from pipeline.errors import InputError
from pipeline.lake import Lake
from pipeline.storage.chunks import Chunk, ChunkStream
from pipeline.storage.fs import filesystem

REJECTS = "rejects"
ALL = 1 << 62  # a skip line number that skips every line (and every object-level reject)
STDIN_APP = "edgelake-follow-stdin"  # real-time records on stdin; other kinds add their table's name
READ_BYTES = 16 << 20  # bytes read from one tailed file per poll; a batch gathers several polls
PARSE_BYTES = 8 << 20  # bytes of a micro-batch parsed at a time


@dataclass(frozen=True)
class Tables:
    """The tables one followed kind commits to, each keeping its own checkpoint per source."""

    rows: str  # realtime | waf
    rollup: str | None = None  # rollup_minute for real-time logs

    @property
    def all(self) -> tuple[str, ...]:
        return (self.rows, REJECTS, *((self.rollup,) if self.rollup else ()))

    @property
    def resume(self) -> tuple[str, ...]:
        """The tables every line goes to: a source resumes at the smallest of their checkpoints."""
        return (self.rows, *((self.rollup,) if self.rollup else ()))

    def done(self, committed: dict[str, int]) -> int:
        return min(committed[t] for t in self.resume)

    def completes(self, tables: tuple[str, ...]) -> bool:
        """Whether a commit to ``tables`` moved every resume checkpoint (the buffered bytes are done)."""
        return all(t in tables for t in self.resume)

    @property
    def stdin_app(self) -> str:
        return STDIN_APP if self.rows == "realtime" else f"{STDIN_APP}-{self.rows}"


def follow_app_id(uri: str) -> str:
    """The Delta application transaction id that checkpoints one source file or object."""
    return "edgelake-follow-" + hashlib.sha256(uri.encode()).hexdigest()[:32]


@dataclass
class Piece:
    """Complete lines of one source, ready to parse and commit.

    Committing it records version :attr:`end` for :attr:`app` in each table. ``skip[table]`` is the
    last line number that table already holds (rows, rejects or rollup counts of lines up to it must
    not be written again); ``first_line - 1`` means none, :data:`ALL` means everything.
    """

    uri: str  # lineage: the rows' source_file
    app: str
    start: int
    end: int
    first_line: int
    data: bytes | None  # None: stream the whole object at ``uri``
    lines: int = 0
    skip: dict[str, int] = field(default_factory=dict)


class MemoryStream(ChunkStream):
    """A :class:`ChunkStream` over complete lines already in memory, so the real-time reader parses them.

    The bytes are handed out in line-aligned chunks of about ``chunk_bytes``: the reader's working
    memory then grows with a chunk, not with the whole micro-batch.
    """

    def __init__(self, data: bytes, first_line: int, uri: str, chunk_bytes: int | None = None) -> None:
        super().__init__(uri, chunk_bytes=chunk_bytes or PARSE_BYTES)
        self._data = data
        self._first_line = first_line

    def __iter__(self) -> Iterator[Chunk]:
        data, pos, line = self._data, 0, self._first_line
        while pos < len(data):
            end = data.find(b"\n", min(pos + self.chunk_bytes, len(data)) - 1) + 1 or len(data)
            chunk = Chunk(data[pos:end], line)
            line += chunk.n_lines
            self.lines += chunk.n_lines
            pos = end
            yield chunk


def checkpoints(lake: Lake, apps: list[str], tables: Tables) -> dict[str, dict[str, int]]:
    """app -> table -> committed version (0 when none), opening each table once."""
    out: dict[str, dict[str, int]] = {a: dict.fromkeys(tables.all, 0) for a in apps}
    if not apps:
        return out
    for table in tables.all:
        dt = lake.open(table)
        if dt is None:
            continue
        for a in apps:
            out[a][table] = dt.transaction_version(a) or 0
    return out


def after_nth_newline(data: bytes, n: int) -> int:
    """Position just past the ``n``-th newline of ``data`` (which holds at least ``n``)."""
    lo, hi = 0, len(data)
    while lo < hi:  # bisection over C-speed counts instead of a Python loop over lines
        mid = (lo + hi) // 2
        if data.count(b"\n", 0, mid) >= n:
            hi = mid
        else:
            lo = mid + 1
    return lo


def skips(committed: dict[str, int], start: int, end: int, first_line: int, data: bytes | None) -> dict[str, int]:
    """Per table, the last line of bytes ``start..end`` (``data``) that table's checkpoint already covers."""
    out = {}
    for table in committed:
        version = committed.get(table, 0)
        if version <= start:
            out[table] = first_line - 1
        elif version >= end:
            out[table] = ALL
        elif data is None:  # a whole object is committed all at once, never in part
            out[table] = first_line - 1
        else:
            out[table] = first_line - 1 + data.count(b"\n", 0, version - start)
    return out


@dataclass
class Whole:
    """An object read completely once (an S3 object, a local gzip file)."""

    uri: str
    app: str
    size: int
    committed: dict[str, int]
    ready: bool = False
    signature: tuple[int, float] | None = None  # (size, mtime) last poll, for local files


class Source:
    """The common surface of the three source kinds, as the follower's loop uses it."""

    poll_interval = 0.1
    eof = False  # no more data will ever come (stdin closed)

    def __init__(self, lake: Lake, warn: Callable[[str], None], tables: Tables) -> None:
        self.lake = lake
        self.warn = warn
        self.tables = tables

    def poll(self, capacity: int) -> int:
        """Buffer up to ``capacity`` new complete lines; return how many (objects that became ready count 1)."""
        raise NotImplementedError

    def buffered_lines(self) -> int:
        raise NotImplementedError

    def ready_objects(self) -> int:
        return 0

    def waiting(self) -> bool:
        """Something is there but not yet complete enough to take (a local gzip file still growing)."""
        return False

    def take(self) -> list[Piece]:
        """Everything buffered, as pieces (whole objects are read while the pieces are parsed)."""
        raise NotImplementedError

    def committed(self, pieces: list[Piece], tables: tuple[str, ...]) -> None:
        """The pieces are in the lake for ``tables``: move the checkpoints on."""
        raise NotImplementedError

    def wait(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class ObjectSet:
    """Whole objects of a source: found by listing, taken when ready, done once committed."""

    def __init__(self, warn: Callable[[str], None], tables: Tables) -> None:
        self.objects: dict[str, Whole] = {}
        self.skipped: set[str] = set()
        self.warn = warn
        self.tables = tables

    def add(self, obj: Whole) -> None:
        done = self.tables.done(obj.committed)
        if obj.size == 0:
            self.warn(f"{obj.uri}: the object is empty; nothing to read")
            self.skipped.add(obj.uri)
            return
        if done and done != obj.size:
            self.warn(
                f"{obj.uri}: its size changed to {obj.size} bytes after {done} bytes were ingested; "
                "objects are read once, whole: not reading it again (use `edgelake ingest` to redo it)"
            )
            self.skipped.add(obj.uri)
            return
        if done == obj.size:
            self.skipped.add(obj.uri)  # already in the lake
            return
        self.objects[obj.uri] = obj

    def ready(self) -> list[Whole]:
        return [o for o in self.objects.values() if o.ready]

    def pieces(self) -> list[Piece]:
        return [
            Piece(o.uri, o.app, 0, o.size, 1, None, 0, skips(o.committed, 0, o.size, 1, None)) for o in self.ready()
        ]

    def committed(self, pieces: list[Piece], tables: tuple[str, ...]) -> None:
        for p in pieces:
            obj = self.objects.get(p.uri)
            if obj is None:
                continue
            for t in tables:
                obj.committed[t] = max(obj.committed[t], p.end)
            if self.tables.done(obj.committed) >= obj.size:
                del self.objects[p.uri]
                self.skipped.add(p.uri)


def visible(rel: str) -> bool:
    return all(part and part[0] not in "._" for part in rel.split("/"))


class S3Source(Source):
    """An ``s3://`` prefix where Firehose delivers objects; new objects are found by listing."""

    poll_interval = 2.0

    def __init__(self, uri: str, lake: Lake, warn: Callable[[str], None], tables: Tables) -> None:
        super().__init__(lake, warn, tables)
        self.uri = uri.rstrip("/")
        self.fs, self.path = filesystem(self.uri)
        self.objects = ObjectSet(warn, tables)

    def _list(self) -> dict[str, dict[str, Any]]:
        try:
            found: dict[str, dict[str, Any]] = self.fs.find(self.path, detail=True)
        except FileNotFoundError:
            return {}  # the prefix has no objects yet
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.uri}: cannot list it: {exc}") from exc
        base = self.path.rstrip("/")
        return {
            p: info
            for p, info in sorted(found.items())
            if info.get("type") != "directory"
            and visible(p[len(base) + 1 :] if p.startswith(base + "/") else p.rsplit("/", 1)[-1])
        }

    def poll(self, capacity: int) -> int:
        listed = self._list()
        known = self.objects.objects.keys() | self.objects.skipped
        fresh = {f"s3://{p}": int(info.get("size") or 0) for p, info in listed.items() if f"s3://{p}" not in known}
        if fresh:
            versions = checkpoints(self.lake, [follow_app_id(u) for u in fresh], self.tables)
            for uri, size in fresh.items():
                self.objects.add(Whole(uri, follow_app_id(uri), size, versions[follow_app_id(uri)], ready=True))
        return sum(1 for u in fresh if u in self.objects.objects)

    def buffered_lines(self) -> int:
        return 0

    def ready_objects(self) -> int:
        return len(self.objects.ready())

    def take(self) -> list[Piece]:
        return self.objects.pieces()

    def committed(self, pieces: list[Piece], tables: tuple[str, ...]) -> None:
        self.objects.committed(pieces, tables)


class StdinSource(Source):
    """Records piped in (a Kinesis consumer): batches numbered on from the last committed one."""

    def __init__(self, lake: Lake, warn: Callable[[str], None], tables: Tables, stream: BinaryIO | None = None) -> None:
        super().__init__(lake, warn, tables)
        self.fd = (stream or sys.stdin.buffer).fileno()
        self.app = tables.stdin_app
        self.versions = checkpoints(lake, [self.app], tables)[self.app]
        self.batch = max(self.versions.values()) + 1
        self.pending = bytearray()  # bytes read and not yet taken; may end with a partial line
        self.complete = 0  # bytes of ``pending`` that are complete lines, up to ``capacity``
        self.lines = 0

    def poll(self, capacity: int) -> int:
        got = self._advance(capacity)  # lines read earlier beyond the last batch's capacity
        while not self.eof and capacity - got > 0:
            ready, _, _ = select.select([self.fd], [], [], 0)
            if not ready:
                break
            block = os.read(self.fd, 1 << 20)
            if not block:
                self.eof = True
                if self.pending and not self.pending.endswith(b"\n"):
                    self.pending += b"\n"  # the stream ended: its last line is complete
            else:
                self.pending += block
            got += self._advance(capacity - got)
        return got

    def _advance(self, capacity: int) -> int:
        end = self.pending.rfind(b"\n") + 1
        if end <= self.complete:
            return 0
        n = self.pending.count(b"\n", self.complete, end)
        if n > capacity:
            end = self.complete + after_nth_newline(bytes(self.pending[self.complete : end]), capacity)
            n = capacity
        self.complete = end
        self.lines += n
        return n

    def buffered_lines(self) -> int:
        return self.lines

    def take(self) -> list[Piece]:
        if not self.complete:
            return []
        data = bytes(self.pending[: self.complete])
        uri = f"stdin:{self.batch}"
        return [
            Piece(
                uri,
                self.app,
                self.batch - 1,
                self.batch,
                1,
                data,
                self.lines,
                skips(self.versions, self.batch - 1, self.batch, 1, None),
            )
        ]

    def committed(self, pieces: list[Piece], tables: tuple[str, ...]) -> None:
        for t in tables:
            self.versions[t] = max(self.versions[t], self.batch)
        if self.tables.completes(tables):
            del self.pending[: self.complete]
            self.complete, self.lines = 0, 0
            self.batch += 1

    def wait(self, seconds: float) -> None:
        if not self.eof:
            select.select([self.fd], [], [], max(0.0, seconds))
