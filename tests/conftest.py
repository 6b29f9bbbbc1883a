"""Shared pytest fixtures. Each block below is owned by the part of the suite named in its header."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import s3server  # tests/ is on sys.path (pytest's rootdir-relative conftest import)
from s3server import S3Server


# ================================================================================================
# Sample inputs — the files under data/samples/, one path for every test (tests/helpers.py holds it).
# ================================================================================================
@pytest.fixture(scope="session")
def samples() -> Path:
    """``data/samples``: every source and format variant, the bad-input corpus, AWS's documented examples."""
    from helpers import SAMPLES

    assert SAMPLES.is_dir(), f"the sample inputs are missing: {SAMPLES}"
    return SAMPLES


# ================================================================================================
# S3 (SeaweedFS) fixtures — owned by tests/ingest/test_s3.py; the server itself lives in tests/s3server.py.
# Tests using them must carry @pytest.mark.s3.
# ================================================================================================


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


# ================================================================================================
# Hypothesis profiles — owned by every property test (pytest -m hypothesis lists them).
# "ci", the default, is reproducible: the same examples on every run and machine (derandomize), no
# example database written into the checkout, and no timing-based failure on a loaded 2-core machine
# (no deadline, no too_slow health check). `make fuzz` loads "fuzz": random, with many more examples
# (tests size their own counts through helpers.examples), and a database under .hypothesis/
# (git-ignored) so that a failure it finds is tried first on the next fuzz run.
# ================================================================================================
hypothesis.settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.register_profile(
    "fuzz", max_examples=2_000, deadline=None, print_blob=True, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("ci")  # --hypothesis-profile NAME replaces it after this file is loaded
# ================================== end of Hypothesis profiles ==================================


# ================================================================================================
# The small ground-truth scenario — owned by tests/analyses/test_scenario.py; tests/doctor/test_doctor_scenario.py
# reuses it (generated once per session: seed 11, scale 0.05, ~12,500 requests, every planted fact).
# small_lake holds the main distribution's logs and configs as test_scenario ingests them.
# ================================================================================================
SMALL_SEED, SMALL_SCALE = 11, 0.05


@pytest.fixture(scope="session")
def small_scenario(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pipeline.scenario import generate

    return generate(tmp_path_factory.mktemp("scenario"), seed=SMALL_SEED, scale=SMALL_SCALE)


@pytest.fixture(scope="session")
def small_lake(small_scenario: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Any]]:
    from pipeline.ingest import IngestOptions, ingest
    from pipeline.readers.realtime import load_fields

    sc = small_scenario
    lake = str(tmp_path_factory.mktemp("lake"))
    logs = ingest(
        [str(sc.cloudfront_dir), str(sc.waf_dir), str(sc.distribution_config), str(sc.web_acl)],
        lake,
        IngestOptions(workers=2),
    )
    realtime = ingest(
        [str(sc.realtime_dir)],
        lake,
        IngestOptions(
            source="realtime",
            realtime_fields=load_fields(str(sc.realtime_config)),
            distribution_id=sc.distribution_id,
            workers=2,
        ),
    )
    return lake, [logs, realtime]


# ================================== end of the small scenario ===================================
