"""A fault-injecting HTTP/1.1 proxy on loopback, placed between S3 clients and the test S3 server.

Owns: accepting client connections on ``127.0.0.1`` (one thread per connection, at most
``max_connections`` at a time), relaying each request to the upstream server on a fresh connection
and its response back, byte for byte (Content-Length and chunked bodies both ways; ``Expect:
100-continue`` is answered here), and, when a switched-on fault matches a request, doing that
instead: reset the client connection (before or after the server saw the request), answer a proper
S3 XML error (``503 SlowDown``, ``500 InternalError``, ``403 AccessDenied``, ...), hold the
response back for some seconds, hold the request itself until the test releases it (to order two
writers' commits), or answer ``200 OK`` without forwarding (a store that ignores conditional
writes). Every request is recorded (method, path, status, fault, whether it was conditional) so
tests can assert that a fault really happened. The proxy stops itself after ``lifetime`` seconds at the latest.

Clients find it through the standard variables (``AWS_ENDPOINT_URL_S3``): s3fs/botocore and delta-rs
(object_store) both use path-style URLs against an IP endpoint, so a request's path is
``/bucket/key`` and faults can target keys by substring.

Must not: listen on anything but loopback, change a request that it forwards (beyond dropping the
``Expect`` header, which SigV4 does not sign), or know about edgelake.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import BinaryIO
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

MAX_HEAD = 64 << 10  # bytes of a request or response head
COPY_BYTES = 64 << 10
REASONS = {403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 503: "Slow Down"}


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.1 as S3 speaks it; the connection is dropped."""


@dataclass
class Fault:
    """One switched-on fault: what to do, to which requests, how many more times (None: always)."""

    kind: str  # "reset" | "error" | "delay" | "hold" | "accept"
    remaining: int | None
    path: str | None = None  # substring of the request path (query excluded); None: any
    methods: frozenset[str] | None = None  # None: any method
    after_upstream: bool = False  # reset only after the server has processed the request
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."
    seconds: float = 0.0
    injected: int = 0  # how many requests it hit so far
    released: threading.Event = field(default_factory=threading.Event)  # "hold": set to let requests through

    def release(self) -> None:
        """Let the held request(s) go on to the server, and every later match pass at once."""
        self.released.set()

    def wait_injected(self, n: int = 1, timeout: float = 60.0) -> bool:
        """Wait until the fault has hit ``n`` requests; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.injected < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        return self.path is None or self.path in path


@dataclass(frozen=True)
class Seen:
    """One request as the proxy handled it."""

    method: str
    path: str
    status: int | None  # the status the client got; None when its connection was reset
    fault: str | None  # "reset", "slowdown", "error:500", "delay:1.5", ... or None when relayed
    conditional: bool = False  # the request carried If-None-Match or If-Match


@dataclass
class _Request:
    head: bytes
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


class FaultProxy:
    """Relay to ``upstream`` (``http://host:port``) and inject faults on request."""

    def __init__(
        self, upstream: str, *, max_connections: int = 32, idle_timeout: float = 20.0, lifetime: float = 300.0
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seen: collections.deque[Seen] = collections.deque(maxlen=100_000)
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._started = 0.0

    # --- life cycle --------------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        self._started = time.monotonic()
        acceptor = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        acceptor.start()
        self._threads.append(acceptor)
        return self

    def stop(self) -> None:
        """Stop accepting, drop every open connection and wait (briefly) for the threads."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in list(self._threads):
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- switching faults on -----------------------------------------------------------------------
    def _add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    @staticmethod
    def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
        return None if methods is None else frozenset(m.upper() for m in methods)

    def reset(
        self,
        n: int | None = 1,
        *,
        path: str | None = None,
        methods: Iterable[str] | None = None,
        after_upstream: bool = False,
    ) -> Fault:
        """Drop the connection (TCP reset) on the next ``n`` matching requests."""
        return self._add(Fault("reset", n, path, self._methods(methods), after_upstream=after_upstream))

    def error(
        self,
        status: int,
        code: str,
        message: str,
        n: int | None = 1,
        *,
        path: str | None = None,
        methods: Iterable[str] | None = None,
    ) -> Fault:
        """Answer the next ``n`` matching requests with an S3 XML error (``n=None``: every time)."""
        return self._add(Fault("error", n, path, self._methods(methods), status=status, code=code, message=message))

    def slow_down(self, n: int | None = 1, *, path: str | None = None, methods: Iterable[str] | None = None) -> Fault:
        """Throttle: ``503 SlowDown`` as S3 sends it when a prefix gets too many requests."""
        return self.error(503, "SlowDown", "Please reduce your request rate.", n, path=path, methods=methods)

    def internal_error(
        self, n: int | None = 1, *, path: str | None = None, methods: Iterable[str] | None = None
    ) -> Fault:
        return self.error(
            500, "InternalError", "We encountered an internal error. Please try again.", n, path=path, methods=methods
        )

    def delay(
        self, seconds: float, n: int | None = 1, *, path: str | None = None, methods: Iterable[str] | None = None
    ) -> Fault:
        """Hold the server's response back for ``seconds`` on the next ``n`` matching requests."""
        return self._add(Fault("delay", n, path, self._methods(methods), seconds=seconds))

    def hold(
        self,
        n: int | None = 1,
        *,
        path: str | None = None,
        methods: Iterable[str] | None = None,
        timeout: float = 120.0,
    ) -> Fault:
        """Keep the next ``n`` matching requests from reaching the server until ``fault.release()``.

        Used to put one writer's commit behind another's: hold writer A's PUT of a Delta log entry,
        let writer B commit (directly, not through this proxy), then release A. ``timeout`` seconds
        after it was held a request goes on by itself.
        """
        return self._add(Fault("hold", n, path, self._methods(methods), seconds=timeout))

    def accept(self, n: int | None = None, *, path: str | None = None, methods: Iterable[str] | None = None) -> Fault:
        """Answer matching requests ``200 OK`` without forwarding them: a store that takes every put."""
        return self._add(Fault("accept", n, path, self._methods(methods)))

    def clear(self) -> None:
        """Switch every fault off; requests are relayed untouched from now on."""
        with self._lock:
            self._faults.clear()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def _take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    fault.injected += 1
                    return fault
        return None

    def _record(self, req: _Request, status: int | None, fault: str | None) -> None:
        conditional = req.header("If-None-Match") is not None or req.header("If-Match") is not None
        with self._lock:
            self._seen.append(Seen(req.method, req.path, status, fault, conditional))

    # --- serving -----------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            if time.monotonic() - self._started > self.lifetime:
                # Nobody stopped us: a test forgot, or hangs. Do not outlive it by much.
                threading.Thread(target=self.stop, daemon=True).start()
                return
            if not self._slots.acquire(timeout=0.2):
                continue
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                self._slots.release()
                continue
            thread = threading.Thread(
                target=self._serve, args=(client,), daemon=True, name=f"faultproxy-{next(self._ids)}"
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        client.settimeout(self.idle_timeout)
        reader = client.makefile("rb")
        try:
            while not self._stopping.is_set():
                head = _read_head(reader)
                if head is None:
                    return
                req = _parse_request(head)
                fault = self._take(req.method, req.path)
                if fault is not None and fault.kind == "reset" and not fault.after_upstream:
                    self._record(req, None, "reset")
                    _reset(client)
                    return
                if (req.header("Expect") or "").lower() == "100-continue":
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                if fault is not None and fault.kind == "hold":
                    fault.released.wait(fault.seconds)
                if fault is not None and fault.kind == "accept":
                    _copy_body(reader, None, req.headers, response=False)
                    client.sendall(_ok_response(next(self._ids)))
                    self._record(req, 200, "accept")
                    continue
                if fault is not None and fault.kind == "error":
                    _copy_body(reader, None, req.headers, response=False)
                    client.sendall(_error_response(req, fault, next(self._ids)))
                    self._record(req, fault.status, "slowdown" if fault.code == "SlowDown" else f"error:{fault.status}")
                    continue
                if not self._relay(client, reader, req, fault):
                    return
        except (OSError, ProtocolError, ValueError):
            return
        finally:
            with contextlib.suppress(OSError):
                reader.close()
            self._untrack(client)
            self._slots.release()

    def _relay(self, client: socket.socket, reader: BinaryIO, req: _Request, fault: Fault | None) -> bool:
        """Forward one request on a fresh upstream connection; False when the client connection ends."""
        upstream = socket.create_connection(self.upstream, timeout=self.idle_timeout)
        self._track(upstream)
        up_reader = upstream.makefile("rb")
        try:
            upstream.sendall(_without_header(req.head, "expect"))
            _copy_body(reader, upstream.sendall, req.headers, response=False)
            while True:
                resp_head = _read_head(up_reader)
                if resp_head is None:
                    raise ProtocolError("upstream closed the connection without answering")
                status, resp_headers = _parse_response(resp_head)
                if status >= 200:
                    break
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.seconds)
            if fault is not None and fault.kind == "reset":  # after_upstream: the server did the work
                self._record(req, None, "reset-after")
                _reset(client)
                return False
            client.sendall(resp_head)
            no_body = req.method == "HEAD" or status in (204, 304)
            framed = _copy_body(up_reader, client.sendall, resp_headers, response=True, no_body=no_body)
            label = None if fault is None else "hold" if fault.kind == "hold" else f"delay:{fault.seconds:g}"
            self._record(req, status, label)
            closing = any(v.lower() == "close" for k, v in [*resp_headers, *req.headers] if k.lower() == "connection")
            return framed and not closing
        finally:
            with contextlib.suppress(OSError):
                up_reader.close()
            self._untrack(upstream)


# --- HTTP/1.1 framing ------------------------------------------------------------------------------
def _read_head(reader: BinaryIO) -> bytes | None:
    """The request/response head up to and including the blank line; None at a clean end of stream."""
    lines: list[bytes] = []
    size = 0
    while True:
        line = reader.readline(MAX_HEAD)
        if not line:
            if lines:
                raise ProtocolError("connection closed in the middle of a message head")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # tolerated stray CRLF between messages
        lines.append(line)
        size += len(line)
        if size > MAX_HEAD:
            raise ProtocolError("message head too large")
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _header_lines(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    text = head.decode("latin-1")
    first, *rest = text.split("\r\n")
    headers = []
    for line in rest:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return first, headers


def _parse_request(head: bytes) -> _Request:
    first, headers = _header_lines(head)
    parts = first.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProtocolError(f"bad request line {first!r}")
    return _Request(head, parts[0].upper(), parts[1], headers)


def _parse_response(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    first, headers = _header_lines(head)
    parts = first.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {first!r}")
    return int(parts[1]), headers


def _without_header(head: bytes, name: str) -> bytes:
    lines = head.split(b"\r\n")
    keep = [line for line in lines if not line.lower().startswith(name.encode() + b":")]
    return b"\r\n".join(keep)


def _copy_exact(reader: BinaryIO, write: Callable[[bytes], object] | None, n: int) -> None:
    while n > 0:
        piece = reader.read(min(n, COPY_BYTES))
        if not piece:
            raise ProtocolError("connection closed in the middle of a body")
        if write is not None:
            write(piece)
        n -= len(piece)


def _copy_body(
    reader: BinaryIO,
    write: Callable[[bytes], object] | None,
    headers: list[tuple[str, str]],
    *,
    response: bool,
    no_body: bool = False,
) -> bool:
    """Copy one message body (None: discard it). False when the body ran to the end of the stream."""
    if no_body:
        return True
    values = {k.lower(): v for k, v in headers}
    if "chunked" in values.get("transfer-encoding", "").lower():
        while True:
            line = reader.readline(MAX_HEAD)
            if not line.endswith(b"\n"):
                raise ProtocolError("bad chunk size line")
            if write is not None:
                write(line)
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while True:  # trailers, then the blank line
                    trailer = reader.readline(MAX_HEAD)
                    if not trailer:
                        raise ProtocolError("connection closed in chunk trailers")
                    if write is not None:
                        write(trailer)
                    if trailer in (b"\r\n", b"\n"):
                        return True
            _copy_exact(reader, write, size + 2)  # the chunk and its CRLF
    if "content-length" in values:
        _copy_exact(reader, write, int(values["content-length"]))
        return True
    if not response:
        return True  # a request without either header has no body
    while True:  # a response without framing ends when the server closes the connection
        piece = reader.read1(COPY_BYTES) if hasattr(reader, "read1") else reader.read(COPY_BYTES)
        if not piece:
            return False
        if write is not None:
            write(piece)


def _error_response(req: _Request, fault: Fault, number: int) -> bytes:
    request_id = f"FAULTPROXY{number:08d}"
    body = (
        b""
        if req.method == "HEAD"
        else (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(fault.code)}</Code><Message>{escape(fault.message)}</Message>"
            f"<Resource>{escape(req.path)}</Resource><RequestId>{request_id}</RequestId></Error>"
        ).encode()
    )
    head = (
        f"HTTP/1.1 {fault.status} {REASONS.get(fault.status, 'Error')}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        "Server: faultproxy\r\n\r\n"
    ).encode()
    return head + body


def _ok_response(number: int) -> bytes:
    return (
        f'HTTP/1.1 200 OK\r\nETag: "faultproxy{number:08d}"\r\nContent-Length: 0\r\n'
        f"x-amz-request-id: FAULTPROXY{number:08d}\r\nDate: {formatdate(usegmt=True)}\r\n"
        "Server: faultproxy\r\n\r\n"
    ).encode()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (linger 0), as a crashed server or a middlebox would."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
