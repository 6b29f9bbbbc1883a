"""S3 faults, injected by a real TCP proxy between edgelake and SeaweedFS (no mocks of s3fs or botocore).

Each test points ``AWS_ENDPOINT_URL_S3`` at a :class:`faultproxy.FaultProxy` in front of the session's
SeaweedFS, switches faults on, ingests an S3 prefix into an S3 lake and compares the lake with a clean
run's, row for row. Faults are aimed at the requests of each client (s3fs reading inputs and writing
data files, delta-rs reading and committing the log) and every test checks that each fault was really
injected, so a passing test cannot mean "the fault never happened". Retry settings are shortened with
the same environment variables an operator would use. Only the first test (how those variables
become s3fs and delta-rs settings) runs without the server; the rest carry ``@pytest.mark.s3``.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import pytest
from faultproxy import FaultProxy
from helpers import EDGELAKE, SAMPLES
from s3server import S3Server

from pipeline.errors import UsageError
from pipeline.ingest import IngestSummary, ingest
from pipeline.lake import Lake
from pipeline.storage import fs as storage_fs
from pipeline.storage.fs import delta_storage_options

# sample file -> object key under the input prefix (gzipped on upload unless already)
UPLOADS = {
    "aws-docs/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9": "logs/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz",
    "aws-docs/EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9": "logs/EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9.gz",
    "aws-docs/v2-example.json": "logs/v2/2024/11/14/v2-example.json.gz",
    "waf/111122223333_waflogs_cloudfront_edge-acl_20250314T1205Z_7c4e1b9a.log.gz": (
        "logs/AWSLogs/111122223333/WAFLogs/cloudfront/edge-acl/2025/03/14/12/05/"
        "111122223333_waflogs_cloudfront_edge-acl_20250314T1205Z_7c4e1b9a.log.gz"
    ),
}
DENIED = "logs/EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9.gz"  # the object that fails for good
# Short retries so the file runs in well under a minute; the same variables an operator would set.
FAST_RETRIES = {
    "AWS_MAX_ATTEMPTS": "4",
    "EDGELAKE_S3_CONNECT_TIMEOUT": "2",
    "EDGELAKE_S3_READ_TIMEOUT": "3",
    "EDGELAKE_S3_RETRY_TIMEOUT": "20",
}
READ_TIMEOUT = float(FAST_RETRIES["EDGELAKE_S3_READ_TIMEOUT"])


@dataclass(frozen=True)
class Clean:
    """The inputs on S3 and what a fault-free run made of them."""

    prefix: str  # s3://bucket/logs/
    uris: dict[str, str]  # object key -> URI
    cloudfront: pl.DataFrame
    waf: pl.DataFrame
    manifest: pl.DataFrame


def _sorted(lake_uri: str, table: str) -> pl.DataFrame:
    return Lake(lake_uri).scan(table).collect().sort("source_file", "source_line")


def _manifest(lake_uri: str) -> pl.DataFrame:
    return (
        Lake(lake_uri)
        .scan("manifest")
        .select("object_uri", "identity", "source", "lines", "rows")
        .collect()
        .sort("object_uri")
    )


@pytest.fixture(scope="module")
def clean(s3_server: S3Server) -> Clean:
    """Upload the samples once and ingest them straight into SeaweedFS (no proxy): the reference lake."""
    with pytest.MonkeyPatch.context() as mp:
        s3_server.apply_env(mp)
        fs = s3_server.filesystem()
        bucket = s3_server.make_bucket("in")
        uris = {}
        for sample, key in UPLOADS.items():
            data = (SAMPLES / sample).read_bytes()
            fs.pipe(f"{bucket}/{key}", data if data[:2] == b"\x1f\x8b" else gzip.compress(data))
            uris[key] = f"s3://{bucket}/{key}"
        lake_uri = f"s3://{s3_server.make_bucket('lake')}/lake"
        summary = ingest([f"s3://{bucket}/logs/"], lake_uri)
        assert summary.failed == 0 and summary.objects == len(UPLOADS), summary.problems
        out = Clean(
            f"s3://{bucket}/logs/", uris, _sorted(lake_uri, "cloudfront"), _sorted(lake_uri, "waf"), _manifest(lake_uri)
        )
    assert out.cloudfront.height > 0 and out.waf.height > 0
    return out


@pytest.fixture
def proxy(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A fault proxy in front of SeaweedFS, with the AWS variables pointing at the proxy."""
    s3_server.apply_env(monkeypatch)
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)
    with FaultProxy(s3_server.endpoint_url, lifetime=120) as px:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", px.endpoint_url)
        storage_fs._s3.cache_clear()  # s3fs instances are cached per endpoint; retry settings come from the env
        try:
            yield px
        finally:
            storage_fs._s3.cache_clear()


def _assert_same_lake(lake_uri: str, clean: Clean) -> None:
    got = _sorted(lake_uri, "cloudfront")
    assert got.height == clean.cloudfront.height
    assert got.equals(clean.cloudfront)
    assert _sorted(lake_uri, "waf").equals(clean.waf)
    assert _manifest(lake_uri).equals(clean.manifest)


def _lake(server: S3Server) -> str:
    return f"s3://{server.make_bucket('lake')}/lake"


# --- retry settings (no server needed) -------------------------------------------------------------
def test_retry_settings_follow_the_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*FAST_RETRIES, "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    defaults = storage_fs.storage_options()["config_kwargs"]
    assert defaults == {
        "retries": {"total_max_attempts": 8, "mode": "adaptive"},
        "connect_timeout": 5,
        "read_timeout": 30,
    }
    delta = delta_storage_options("s3://bucket/lake")
    assert delta is not None
    assert {k: delta[k] for k in ("retry_timeout", "connect_timeout", "timeout")} == {
        "retry_timeout": "180s",
        "connect_timeout": "5000ms",
        "timeout": "120000ms",
    }

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("EDGELAKE_S3_READ_TIMEOUT", "2.5")
    monkeypatch.setenv("EDGELAKE_S3_RETRY_TIMEOUT", "15")
    assert storage_fs.storage_options()["config_kwargs"] == {
        "retries": {"total_max_attempts": 3, "mode": "standard"},
        "connect_timeout": 5,
        "read_timeout": 2.5,
    }
    assert delta_storage_options("s3://bucket/lake")["retry_timeout"] == "15s"  # type: ignore[index]

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "many")
    with pytest.raises(UsageError, match="AWS_MAX_ATTEMPTS"):
        storage_fs.storage_options()
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWS_RETRY_MODE", "eager")
    with pytest.raises(UsageError, match="AWS_RETRY_MODE"):
        storage_fs.storage_options()


# --- the proxy itself ------------------------------------------------------------------------------
@pytest.mark.s3
def test_proxy_relays_and_injects_each_fault(s3_env: S3Server) -> None:
    with FaultProxy(s3_env.endpoint_url, lifetime=30) as px:

        def request(method: str, path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", px.port, timeout=10)
            try:
                conn.request(method, path)
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()

        # relayed untouched: SeaweedFS itself refuses an unsigned listing
        status, body = request("GET", "/some-bucket")
        assert status == 403 and b"<Error>" in body and b"FAULTPROXY" not in body
        throttle = px.slow_down(1, path="/b/k")
        status, body = request("GET", "/b/k?x=1")
        assert status == 503
        assert b"<Code>SlowDown</Code>" in body and b"<Resource>/b/k</Resource>" in body
        boom = px.internal_error(1, methods=["HEAD"])
        assert request("HEAD", "/b/k") == (500, b"")  # HEAD errors have no body, as on S3
        drop = px.reset(1)
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            request("GET", "/some-bucket")
        px.delay(0.6, 1)
        started = time.monotonic()
        assert request("GET", "/some-bucket")[0] == 403
        assert time.monotonic() - started >= 0.6
        assert (throttle.injected, boom.injected, drop.injected) == (1, 1, 1)
        assert [s.fault for s in px.seen] == [None, "slowdown", "error:500", "reset", "delay:0.6"]


# --- transient faults: retried, the lake is exactly the clean one ---------------------------------
@pytest.mark.s3
def test_transient_faults_are_retried_and_the_lake_equals_a_clean_run(
    proxy: FaultProxy, s3_server: S3Server, clean: Clean
) -> None:
    faults = {
        # s3fs / botocore reading the inputs
        "input GET 503 SlowDown": proxy.slow_down(2, path="/logs/", methods=["GET"]),
        "input HEAD 500": proxy.internal_error(1, path="/logs/", methods=["HEAD"]),
        "input GET delayed below the read timeout": proxy.delay(READ_TIMEOUT / 3, 2, path="/logs/", methods=["GET"]),
        "input GET delayed past the read timeout": proxy.delay(READ_TIMEOUT + 1, 1, path="/logs/", methods=["GET"]),
        # s3fs writing data files: the same upload reset twice in a row
        "data file PUT reset": proxy.reset(2, path=".parquet", methods=["PUT"]),
        # delta-rs reading and committing the log
        "log GET 500": proxy.internal_error(2, path="/_delta_log/", methods=["GET"]),
        "log GET reset after the server answered": proxy.reset(
            1, path="/_delta_log/", methods=["GET"], after_upstream=True
        ),
        "commit PUT 503 SlowDown": proxy.slow_down(1, path="/_delta_log/0", methods=["PUT"]),
        "commit PUT 500": proxy.internal_error(1, path="/_delta_log/0", methods=["PUT"]),
    }
    lake_uri = _lake(s3_server)
    summary = ingest([clean.prefix], lake_uri)
    proxy.clear()
    # every fault was used up: each kind of request really failed that many times and was retried
    assert {name: f.remaining for name, f in faults.items()} == dict.fromkeys(faults, 0)
    assert summary.failed == 0 and summary.rejects == 0, summary.problems
    assert summary.objects == len(UPLOADS)
    _assert_same_lake(lake_uri, clean)


@pytest.mark.s3
def test_a_lost_commit_response_is_recognised_as_landed(proxy: FaultProxy, s3_server: S3Server, clean: Clean) -> None:
    # The server stores the first cloudfront commit, but the answer never reaches delta-rs: it cannot
    # know whether its conditional PUT landed, so it does not retry. Lake.commit then looks for the
    # commit's transaction ids in the table, finds them, and carries on: the run finishes cleanly.
    lost = proxy.reset(1, path="/cloudfront/_delta_log/0", methods=["PUT"], after_upstream=True)
    lake_uri = _lake(s3_server)
    summary = ingest([clean.prefix], lake_uri)
    proxy.clear()
    assert lost.injected == 1
    assert summary.failed == 0 and summary.objects == len(UPLOADS), summary.problems
    _assert_same_lake(lake_uri, clean)
    again = ingest([clean.prefix], lake_uri)  # and a rerun adds nothing
    assert again.objects == 0 and again.skipped == len(UPLOADS)
    _assert_same_lake(lake_uri, clean)


# --- permanent faults: reported, skipped, retried next run ----------------------------------------
def _cli(*args: str) -> tuple[int, dict[str, object], str]:
    proc = subprocess.run(
        [str(EDGELAKE), *args, "--json"], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    summary = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, summary, proc.stderr


@pytest.mark.s3
def test_a_permanently_failing_object_is_reported_skipped_and_ingested_next_run(
    proxy: FaultProxy, s3_server: S3Server, clean: Clean
) -> None:
    denied_uri = clean.uris[DENIED]
    denied = proxy.error(403, "AccessDenied", "Access Denied", None, path=DENIED)  # every request, forever
    lake_uri = _lake(s3_server)
    code, summary, stderr = _cli("ingest", clean.prefix, "--lake", lake_uri)
    assert code == 1, stderr
    assert denied.injected >= 1
    assert summary["failed"] == 1
    assert summary["files"] == len(UPLOADS)
    problems = summary["problems"]
    assert isinstance(problems, list)
    assert [p["object"] for p in problems] == [denied_uri]
    assert denied_uri in problems[0]["problem"]
    assert denied_uri in stderr
    proxy.clear()
    # not in the manifest, none of its rows, everything else complete
    manifest = _manifest(lake_uri)
    assert denied_uri not in manifest.get_column("object_uri").to_list()
    assert manifest.equals(clean.manifest.filter(pl.col("object_uri") != denied_uri))
    assert _sorted(lake_uri, "cloudfront").equals(clean.cloudfront.filter(pl.col("source_file") != denied_uri))
    assert _sorted(lake_uri, "waf").equals(clean.waf)

    # the next run (the fault is gone) ingests exactly that object and nothing twice
    code, summary, stderr = _cli("ingest", clean.prefix, "--lake", lake_uri)
    assert code == 0, stderr
    assert (summary["failed"], summary["files"], summary["skipped"]) == (0, 1, len(UPLOADS) - 1)
    _assert_same_lake(lake_uri, clean)


@pytest.mark.s3
def test_an_object_that_cannot_be_read_but_can_be_listed_is_reported(
    proxy: FaultProxy, s3_server: S3Server, clean: Clean
) -> None:
    proxy.error(403, "AccessDenied", "Access Denied", None, path=DENIED, methods=["GET"])
    summary: IngestSummary = ingest([clean.prefix], _lake(s3_server))
    assert summary.failed == 1
    assert [p["object"] for p in summary.problems] == [clean.uris[DENIED]]


@pytest.mark.s3
def test_unreadable_notes_go_once_the_object_is_read(proxy: FaultProxy, s3_server: S3Server, clean: Clean) -> None:
    lake_uri = _lake(s3_server)
    proxy.error(403, "AccessDenied", "Access Denied", None, path=DENIED, methods=["GET"])
    assert ingest([clean.prefix], lake_uri).failed == 1
    proxy.clear()
    assert ingest([clean.prefix], lake_uri).failed == 0
    notes = Lake(lake_uri).scan("rejects").filter(pl.col("reason_code") == "unreadable").collect()
    assert notes.height == 0
