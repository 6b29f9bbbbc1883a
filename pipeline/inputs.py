"""Where log bytes come from: listing inputs and streaming them, decompressed, in line-aligned chunks.

Owns: expanding files, directories (recursive), globs and ``s3://`` prefixes into :class:`InputObject`
values; choosing the fsspec filesystem (s3fs with the endpoint from the standard AWS environment
variables); detecting gzip by its magic bytes, never by the name; ISA-L decompression in bounded
chunks that always end on a line boundary. A truncated or corrupt gzip stream does not raise: the
stream keeps every complete line before the break and reports the break in :attr:`ChunkStream.problem`.

Must not: parse log lines, know about log formats or the lake.
"""

from __future__ import annotations

import functools
import glob as _glob
import os
import queue
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
from isal import isal_zlib

from pipeline.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
DEFAULT_CHUNK_BYTES = 16 << 20  # decompressed bytes per chunk: bounds memory per reader step
_READ_BYTES = 4 << 20  # compressed bytes read from the object at a time
_FEED_BYTES = 256 << 10  # compressed bytes handed to the inflater at a time
_GLOB_CHARS = set("*?[")
_COUNT_WITH_POLARS = 1 << 20  # bytes from which counting lines in Polars beats bytes.count
# first bytes of the compressed formats Polars recognises by content (gzip, zlib, zstd, bzip2, xz, lz4)
_COMPRESSED_FIRST_BYTES = frozenset(b"\x1f\x78\x28\x42\xfd\x04")


def polars_text(data: bytes) -> tuple[bytes, int]:
    """``data`` as Polars' CSV reader must be given it, and the number of leading lines to skip.

    Polars takes a buffer whose first bytes look like a compressed stream (``x\\x01`` is zlib to it)
    for one, and fails or reads nothing: a log chunk that happens to start that way would be called
    unreadable. Such a buffer gets an empty first line, for the caller to skip.
    """
    if data[:1] and data[0] in _COMPRESSED_FIRST_BYTES:
        return b"\n" + data, 1
    return data, 0


_ISAL_ERROR: Any = isal_zlib.error


@dataclass(frozen=True)
class InputObject:
    """One input object: a local file or an S3 object."""

    uri: str
    size: int | None = None
    etag: str | None = None
    mtime: float | None = None

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


def storage_options() -> dict[str, Any]:
    """s3fs options from the standard AWS environment (endpoint override for S3-compatible servers)."""
    opts: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        opts.setdefault("client_kwargs", {})["region_name"] = region
    # Listings must never be served from a stale cache: a nightly run has to see late objects.
    opts["use_listings_cache"] = False
    # Throttling (503 SlowDown), 500s, resets and timeouts are retried by botocore with jittered
    # exponential backoff; adaptive mode also slows this client down once S3 starts throttling it.
    # Values given in our own config would hide botocore's environment variables, so they are read
    # here with the same names and meaning: AWS_MAX_ATTEMPTS counts the first attempt too, which is
    # Config's ``total_max_attempts`` (its ``max_attempts`` would count retries only). Lake.py takes
    # delta-rs' timeouts from these, so both clients follow the same settings.
    from pipeline.errors import UsageError

    def number(name: str, default: float, low: float) -> float:
        text = os.environ.get(name, "").strip()
        try:
            value = float(text) if text else default
        except ValueError:
            value = low - 1
        if not value >= low:
            raise UsageError(f"environment variable {name}={text!r} must be a number of at least {low:g}")
        return value

    mode = (os.environ.get("AWS_RETRY_MODE") or "adaptive").strip().lower()
    if mode not in ("legacy", "standard", "adaptive"):
        raise UsageError(f"environment variable AWS_RETRY_MODE={mode!r} must be legacy, standard or adaptive")
    opts["config_kwargs"] = {
        "retries": {"total_max_attempts": int(number("AWS_MAX_ATTEMPTS", 8, 1)), "mode": mode},
        "connect_timeout": number("EDGELAKE_S3_CONNECT_TIMEOUT", 5, 0.1),  # seconds to open a connection
        "read_timeout": number("EDGELAKE_S3_READ_TIMEOUT", 30, 0.1),  # seconds without a byte from S3
    }
    return opts


@functools.lru_cache(maxsize=8)
def _s3(endpoint: str | None, region: str | None, key_id: str | None) -> fsspec.AbstractFileSystem:
    """One s3fs instance per endpoint and credentials (creating one costs a third of a second)."""
    import s3fs

    opts = storage_options()
    return s3fs.S3FileSystem(skip_instance_cache=True, **opts)


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem and in-filesystem path for a local path or ``s3://`` URI."""
    if uri.startswith("s3://") or uri.startswith("s3a://"):
        opts = storage_options()
        fs = _s3(opts.get("endpoint_url"), os.environ.get("AWS_REGION"), os.environ.get("AWS_ACCESS_KEY_ID"))
        return fs, uri.split("://", 1)[1]
    if "://" in uri and not uri.startswith("file://"):
        raise InputError(f"{uri}: only local paths and s3:// URIs are supported")
    return fsspec.filesystem("file"), str(Path(uri.removeprefix("file://")).resolve())


def _is_data_file(path: str) -> bool:
    """Directory walks skip hidden files, `_`-prefixed files (Delta logs, markers) and Markdown notes."""
    name = path.rsplit("/", 1)[-1]
    return not name.startswith((".", "_")) and not name.lower().endswith(".md")


def expand(inputs: Sequence[str]) -> list[InputObject]:
    """Every object named by ``inputs`` (files, recursive directories, globs, s3 prefixes), deduplicated."""
    seen: dict[str, InputObject] = {}
    for spec in inputs:
        found = _expand_one(spec)
        if not found:
            raise InputError(f"{spec}: no such file, directory or prefix (or it holds no files)")
        for obj in found:
            seen.setdefault(obj.uri, obj)
    return list(seen.values())


def _expand_one(spec: str) -> list[InputObject]:
    fs, path = filesystem(spec)
    is_s3 = spec.startswith("s3")
    prefix = "s3://" if is_s3 else ""
    try:
        if _GLOB_CHARS & set(path):
            paths = sorted(fs.glob(path)) if is_s3 else sorted(_glob.glob(path, recursive=True))
            out: list[InputObject] = []
            for p in paths:
                if fs.isdir(p):
                    out.extend(_walk(fs, p, prefix))
                else:
                    out.append(_object(fs, p, prefix))
            return out
        if fs.isdir(path):
            return _walk(fs, path, prefix)
        if fs.exists(path):
            return [_object(fs, path, prefix)]
        return []
    except (OSError, ValueError) as exc:
        raise InputError(f"{spec}: cannot list it: {exc}") from exc


def _walk(fs: fsspec.AbstractFileSystem, path: str, prefix: str) -> list[InputObject]:
    found = fs.find(path, detail=True)
    out = []
    for p, info in sorted(found.items()):
        rel = p[len(path.rstrip("/")) + 1 :]
        if info.get("type") == "directory" or not all(_is_data_file(part) for part in rel.split("/")):
            continue
        out.append(_from_info(p, info, prefix))
    return out


def _object(fs: fsspec.AbstractFileSystem, path: str, prefix: str) -> InputObject:
    return _from_info(path, fs.info(path), prefix)


def _from_info(path: str, info: dict[str, Any], prefix: str) -> InputObject:
    etag = info.get("ETag") or info.get("etag")
    mtime = info.get("mtime") or info.get("LastModified")
    if mtime is not None and not isinstance(mtime, int | float):
        mtime = mtime.timestamp()
    return InputObject(uri=prefix + path, size=info.get("size"), etag=etag.strip('"') if etag else None, mtime=mtime)


def open_binary(uri: str) -> BinaryIO:
    fs, path = filesystem(uri)
    try:
        return fs.open(path, "rb")  # type: ignore[no-any-return]
    except (OSError, ValueError) as exc:
        raise InputError(f"{uri}: cannot open it: {exc}") from exc


@dataclass
class Chunk:
    """Complete lines of decompressed text (ends with a newline) and the number of its first line."""

    data: bytes
    first_line: int

    @functools.cached_property
    def n_lines(self) -> int:
        return count_lines(self.data)


def count_lines(data: bytes) -> int:
    """Newlines in ``data``, counted apart from any parser, so that a parser that merged or dropped lines
    is caught by the reconciliation.

    Large buffers go to Polars' row counter (its SIMD newline scan, not its CSV parser: no field
    splitting, no UTF-8 checks), which took a third of the CPU of ``bytes.count`` on 16 MiB chunks.
    Polars counts a last line without a newline: such buffers are counted here.
    """
    if len(data) < _COUNT_WITH_POLARS or not data.endswith(b"\n"):
        return data.count(b"\n")
    import polars as pl

    text, lead = polars_text(data)
    counted = pl.scan_csv(text, has_header=False, separator="\t", quote_char=None, infer_schema=False)
    try:
        return int(counted.select(pl.len()).collect().item()) - lead
    except (pl.exceptions.PolarsError, OSError):
        return data.count(b"\n")


@dataclass
class ChunkStream:
    """Iterate an object as line-aligned :class:`Chunk` values; read :attr:`problem` afterwards.

    ``problem`` is None when the object decoded to its end. When a gzip stream breaks, the complete
    lines before the break are still yielded, the cut-off remainder is kept in :attr:`cut_line`
    (line number, bytes) and ``problem`` says where it broke.
    """

    uri: str
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    compressed: bool = False
    problem: str | None = None
    cut_line: tuple[int, bytes] | None = None
    lines: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    _head: bytes = field(default=b"", repr=False)

    def __iter__(self) -> Iterator[Chunk]:
        with open_binary(self.uri) as fh:
            parts: list[bytes] = []  # decompressed blocks not yet handed out (joined once, not re-copied)
            size = 0
            next_line = 1
            for block in _prefetched(self._decompressed(fh)):
                parts.append(block)
                size += len(block)
                if size < self.chunk_bytes:
                    continue
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    continue  # no line ends in this block yet: keep reading
                data = b"".join([*parts[:-1], memoryview(block)[:cut]])  # one copy, not two
                rest = block[cut:]
                parts, size = ([rest], len(rest)) if rest else ([], 0)
                chunk = Chunk(data, next_line)
                next_line += chunk.n_lines
                self.lines += chunk.n_lines
                yield chunk
            pending = b"".join(parts)
            if pending:
                if self.problem is not None:
                    cut = pending.rfind(b"\n") + 1
                    tail = pending[cut:]
                    pending = pending[:cut]
                    if tail:
                        self.cut_line = (next_line + count_lines(pending), tail)
                elif not pending.endswith(b"\n"):
                    pending += b"\n"  # last line without a newline is still a line
                if pending:
                    chunk = Chunk(pending, next_line)
                    self.lines += chunk.n_lines
                    yield chunk

    def _decompressed(self, fh: BinaryIO) -> Iterator[bytes]:
        first = fh.read(_READ_BYTES)
        self.bytes_in += len(first)
        self.compressed = first.startswith(GZIP_MAGIC)
        if not self.compressed:
            data = first
            while data:
                self.bytes_out += len(data)
                yield data
                data = fh.read(_READ_BYTES)
                self.bytes_in += len(data)
            return
        dec = isal_zlib.decompressobj(wbits=31)
        data = first
        member_done = False
        while True:
            # Feed the inflater small slices: when the data turns out corrupt, only the output of the
            # last slice is lost, not everything decoded since the last 4 MiB read.
            pos = 0
            while pos < len(data):
                piece = data[pos : pos + _FEED_BYTES]
                pos += len(piece)
                try:
                    out = dec.decompress(piece, self.chunk_bytes)
                    while True:
                        if out:
                            self.bytes_out += len(out)
                            yield out
                        if not dec.unconsumed_tail:
                            break
                        out = dec.decompress(dec.unconsumed_tail, self.chunk_bytes)
                except _ISAL_ERROR as exc:
                    # ISA-L gives no output from the call that failed: recover what precedes the damage
                    # with zlib, fed a few KiB at a time, skipping what was already handed out.
                    yield from self._salvage()
                    self.problem = (
                        f"gzip data is corrupt after {self.bytes_out} decompressed bytes ({exc}); "
                        "kept the complete lines before the damage"
                    )
                    return
                if dec.eof:
                    rest = dec.unused_data + data[pos:]
                    member_done = True
                    if not rest.lstrip(b"\x00"):
                        break
                    # concatenated gzip members (several deliveries cat-ed together)
                    if not rest.startswith(GZIP_MAGIC):
                        self.problem = f"{len(rest)} bytes of non-gzip data follow the gzip stream; not read"
                        return
                    dec = isal_zlib.decompressobj(wbits=31)
                    member_done = False
                    data, pos = rest, 0
            data = fh.read(_READ_BYTES)
            self.bytes_in += len(data)
            if not data:
                break
            if member_done and data.lstrip(b"\x00"):
                if not data.startswith(GZIP_MAGIC):
                    self.problem = "non-gzip data follows the gzip stream; it was not read"
                    return
                dec = isal_zlib.decompressobj(wbits=31)
                member_done = False
        if not member_done:
            self.problem = (
                f"gzip stream is truncated: it ends after {self.bytes_in} compressed bytes "
                f"({self.bytes_out} decompressed) without its end marker; "
                "kept the complete lines before the break"
            )

    def _salvage(self) -> Iterator[bytes]:
        skip = self.bytes_out
        produced = 0
        with open_binary(self.uri) as fh:
            data = fh.read()
        dec = zlib.decompressobj(wbits=31)
        pos = 0
        try:
            while pos < len(data):
                piece = data[pos : pos + 4096]
                pos += len(piece)
                out = dec.decompress(piece)
                if dec.eof:
                    rest = dec.unused_data + data[pos:]
                    dec, data, pos = zlib.decompressobj(wbits=31), rest, 0
                start = max(0, skip - produced)
                produced += len(out)
                if start < len(out):
                    self.bytes_out += len(out) - start
                    yield out[start:]
        except zlib.error:
            return


_DONE = object()


def _prefetched(blocks: Iterator[bytes], depth: int = 2) -> Iterator[bytes]:
    """Run a block iterator in a background thread, ``depth`` blocks ahead.

    ISA-L keeps the GIL while it inflates, but Polars releases it while it parses and writes, so
    inflating the next block overlaps with the reader's work on the current one.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for block in blocks:
                while not stop.is_set():
                    try:
                        q.put(block, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=produce, name="edgelake-inflate", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, bytes)
            yield item
    finally:
        stop.set()
        worker.join()


def head(uri: str, n: int = 64 << 10) -> bytes:
    """The first ``n`` decompressed bytes of an object (for content sniffing); never raises on bad gzip."""
    stream = ChunkStream(uri, chunk_bytes=n)
    out = b""
    with open_binary(uri) as fh:
        for block in stream._decompressed(fh):
            out += block
            if len(out) >= n:
                break
    return out[:n]
