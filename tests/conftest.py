"""Shared pytest fixtures. Each block below is owned by the part of the suite named in its header."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

# ================================================================================================
# S3 (SeaweedFS) fixtures — owned by tests/test_s3.py; the server itself lives in tests/s3server.py.
# Tests using them must carry @pytest.mark.s3.
# ================================================================================================
import s3server  # tests/ is on sys.path (pytest's rootdir-relative conftest import)
from s3server import S3Server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS S3 server for the whole session, on free loopback ports; stopped at the end."""
    try:
        server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    except s3server.S3ServerError as exc:
        pytest.fail(f"S3 test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server, with the standard AWS variables pointing at it for this test only."""
    s3_server.apply_env(monkeypatch)
    return s3_server


# ======================================= end of S3 fixtures =====================================
