"""Following a local directory (or one file): new files, and lines appended to the files it knows.

A plain-text file is tailed: each poll reads what was appended since, up to its last newline, and
the follower commits the bytes consumed as the file's checkpoint. A file that starts with the gzip
magic is a whole object instead (see :class:`pipeline.follow.sources.ObjectSet`), read once its size
and mtime stopped changing between two polls. Names starting with ``.`` or ``_`` are skipped (as
``edgelake ingest`` does). A tailed file that shrinks below what was read (truncated, or replaced by
rotation) is reported once and no longer followed: rotate logs to new file names.

Must not: parse log lines or write to the lake.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import InputError
from pipeline.follow.sources import (
    READ_BYTES,
    ObjectSet,
    Piece,
    Source,
    Tables,
    Whole,
    after_nth_newline,
    checkpoints,
    follow_app_id,
    skips,
    visible,
)
from pipeline.lake import Lake
from pipeline.storage.chunks import GZIP_MAGIC

_COUNT_BYTES = 8 << 20


@dataclass
class _Tail:
    """A local file read as it grows."""

    path: str
    app: str
    committed: dict[str, int]
    offset: int = 0  # start of the buffered bytes: every byte before it is in the rows and the rollup
    lines: int = 0  # newlines before ``offset``
    buffer: list[bytes] = field(default_factory=list)
    buffered: int = 0
    buffered_lines: int = 0

    @property
    def read_to(self) -> int:
        return self.offset + self.buffered


class DirectorySource(Source):
    """A local directory (searched recursively) or a single local file."""

    poll_interval = 0.2

    def __init__(self, path: str, lake: Lake, warn: Callable[[str], None], tables: Tables) -> None:
        super().__init__(lake, warn, tables)
        self.root = os.path.abspath(path)
        if not os.path.exists(self.root):
            raise InputError(f"{path}: no such directory or file to follow")
        self.tails: dict[str, _Tail] = {}
        self.objects = ObjectSet(warn, tables)
        self.broken: set[str] = set()
        self.undecided: set[str] = set()  # fewer than 2 bytes so far: gzip or text is not known yet

    def _files(self) -> list[tuple[str, os.stat_result]]:
        if not os.path.isdir(self.root):
            try:
                return [(self.root, os.stat(self.root))]
            except FileNotFoundError:
                return []  # the one file followed was removed; it may come back
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if visible(d))
            for name in sorted(filenames):
                if visible(name):
                    full = os.path.join(dirpath, name)
                    try:
                        out.append((full, os.stat(full)))
                    except FileNotFoundError:
                        continue  # removed between the listing and the stat
        return out

    def _discover(self, files: list[tuple[str, os.stat_result]]) -> None:
        known = self.tails.keys() | self.objects.objects.keys() | self.objects.skipped | self.broken
        fresh: list[tuple[str, bool, int]] = []
        for path, st in files:
            if path in known:
                continue
            if st.st_size < 2:
                self.undecided.add(path)
                continue
            self.undecided.discard(path)
            try:
                with open(path, "rb") as fh:
                    fresh.append((path, fh.read(2) == GZIP_MAGIC, st.st_size))
            except FileNotFoundError:
                continue  # removed since the listing
            except OSError as exc:
                raise InputError(f"{path}: cannot read it: {exc}") from exc
        if not fresh:
            return
        versions = checkpoints(self.lake, [follow_app_id(p) for p, _, _ in fresh], self.tables)
        for path, gz, size in fresh:
            committed = versions[follow_app_id(path)]
            if gz:
                self.objects.add(Whole(path, follow_app_id(path), size, committed))
                continue
            start = self.tables.done(committed)
            if max(committed.values()) > size:
                self._break(path, size, max(committed.values()))
                continue
            try:
                lines = _count_lines(path, start)
            except FileNotFoundError:
                continue
            self.tails[path] = _Tail(path, follow_app_id(path), committed, start, lines)

    def _break(self, path: str, size: int, offset: int) -> None:
        self.broken.add(path)
        self.tails.pop(path, None)
        self.warn(
            f"{path}: the file is now {size} bytes, shorter than the {offset} bytes already read "
            "(truncated or replaced): no longer following it; rotate logs to new file names"
        )

    def poll(self, capacity: int) -> int:
        files = self._files()
        self._discover(files)
        sizes = {p: st for p, st in files}
        got = 0
        for obj in list(self.objects.objects.values()):
            st = sizes.get(obj.uri)
            if st is None or obj.ready:
                continue
            sig = (st.st_size, st.st_mtime)
            if sig == obj.signature:
                obj.ready, obj.size = True, st.st_size
                got += 1
            obj.signature = sig
        for tail in self.tails.values():
            if capacity - got <= 0:
                break
            st = sizes.get(tail.path)
            if st is None:
                continue
            if st.st_size < tail.read_to or st.st_size < max(tail.committed.values()):
                self._break(tail.path, st.st_size, max(tail.read_to, *tail.committed.values()))
                break  # the dict changed; the other files are read next poll
            got += self._read(tail, st.st_size, capacity - got)
        return got

    def _read(self, tail: _Tail, size: int, capacity: int) -> int:
        if size <= tail.read_to:
            return 0
        try:
            with open(tail.path, "rb") as fh:
                fh.seek(tail.read_to)
                data = fh.read(min(size - tail.read_to, READ_BYTES))
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) == READ_BYTES:  # one line longer than a read: take it whole
                    data += fh.read(size - tail.read_to - len(data))
                    cut = data.rfind(b"\n") + 1
        except FileNotFoundError:
            return 0  # removed since the listing
        except OSError as exc:
            raise InputError(f"{tail.path}: cannot read it: {exc}") from exc
        if cut == 0:
            return 0  # a partial last line waits for its newline
        n = data.count(b"\n", 0, cut)
        if n > capacity:
            cut, n = after_nth_newline(data, capacity), capacity
        tail.buffer.append(data[:cut])
        tail.buffered += cut
        tail.buffered_lines += n
        return n

    def buffered_lines(self) -> int:
        return sum(t.buffered_lines for t in self.tails.values())

    def ready_objects(self) -> int:
        return len(self.objects.ready())

    def waiting(self) -> bool:
        return any(not o.ready for o in self.objects.objects.values())

    def take(self) -> list[Piece]:
        pieces = []
        for tail in self.tails.values():
            if not tail.buffered:
                continue
            data = b"".join(tail.buffer)
            tail.buffer = [data]
            end = tail.read_to
            first = tail.lines + 1
            pieces.append(
                Piece(
                    tail.path,
                    tail.app,
                    tail.offset,
                    end,
                    first,
                    data,
                    tail.buffered_lines,
                    skips(tail.committed, tail.offset, end, first, data),
                )
            )
        return pieces + self.objects.pieces()

    def committed(self, pieces: list[Piece], tables: tuple[str, ...]) -> None:
        self.objects.committed([p for p in pieces if p.data is None], tables)
        for p in pieces:
            tail = self.tails.get(p.uri)
            if tail is None or p.data is None:
                continue
            for t in tables:
                tail.committed[t] = max(tail.committed[t], p.end)
            if self.tables.completes(tables):
                tail.offset, tail.lines = p.end, tail.lines + p.lines
                tail.buffer, tail.buffered, tail.buffered_lines = [], 0, 0


def _count_lines(path: str, end: int) -> int:
    """Newlines in the first ``end`` bytes of a file (the line number a resumed file continues from)."""
    n = 0
    with open(path, "rb") as fh:
        left = end
        while left > 0:
            block = fh.read(min(left, _COUNT_BYTES))
            if not block:
                break
            n += block.count(b"\n")
            left -= len(block)
    return n
