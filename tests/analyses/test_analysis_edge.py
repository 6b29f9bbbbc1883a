"""hit-ratio, hit-ratio-regressions, status-mix, failover and failover-episodes on hand-built traffic.

The traffic is written as legacy log lines for the sample distribution E2EXAMPLE1 (behaviors, in
precedence order: /api/* -> origin group api-group, /static/* -> static-s3, /upload/* -> single origin
api-primary, /img/?.png -> static-s3, default * -> origin group web-group; both groups fail over on
500/502/503/504), plus a distribution with no config. Every fact is counted by hand here.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from helpers import CF_FIELDS_33, SAMPLES, cf_record, gz, w3c_text

from pipeline.analyses import run
from pipeline.ingest import ingest

DIST = "E2EXAMPLE1"
DAY = datetime(2025, 3, 14, tzinfo=UTC)
_ids = itertools.count()


def _req(
    when: datetime,
    uri: str,
    *,
    status: int = 200,
    method: str = "GET",
    result: str = "Hit",
    detailed: str | None = None,
    nbytes: int = 1000,
    host: str = "www.example.com",
    request_id: str | None = None,
) -> dict[str, str]:
    rid = request_id or f"REQ{next(_ids):053d}=="
    return cf_record(
        date=when.strftime("%Y-%m-%d"),
        time=when.strftime("%H:%M:%S"),
        cs_uri_stem=uri,
        sc_status=f"{status:03d}",
        cs_method=method,
        x_edge_result_type=result,
        x_edge_response_result_type=result,
        x_edge_detailed_result_type=detailed or result,
        sc_bytes=str(nbytes),
        x_host_header=host,
        x_edge_request_id=rid,
    )


def _traffic() -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, Any]]]:
    t = DAY.replace(hour=3)
    main: list[dict[str, str]] = []
    # /static/*: 8 Hit, 1 RefreshHit, 1 Miss (cacheable), 2 POST and one 404 Error (not cacheable)
    main += [_req(t, "/static/app.js", result="Hit", nbytes=100) for _ in range(8)]
    main += [
        _req(t, "/static/app.js", result="RefreshHit", nbytes=100),
        _req(t, "/static/app.js", result="Miss", nbytes=800),
    ]
    main += [_req(t, "/static/form", method="POST", result="Miss") for _ in range(2)]
    main += [_req(t, "/static/gone.js", status=404, result="Error")]
    # pattern replay: ? is exactly one character; the default catches the rest
    main += [_req(t, "/img/a.png", result="Miss", detailed="OriginShieldHit"), _req(t, "/img/ab.png")]
    # failures, one minute apart
    f = DAY.replace(hour=10)
    main += [
        _req(f + timedelta(seconds=i), "/api/items", status=502, result="Error", detailed="OriginConnectError")
        for i in range(12)
    ]
    main += [_req(f + timedelta(seconds=20 + i), "/api/items", status=429, result="Error") for i in range(3)]
    main += [
        _req(f + timedelta(seconds=30 + i), "/api/items", status=503, method="POST", result="Error") for i in range(2)
    ]
    main += [_req(f, "/upload/big.bin", status=500, method="PUT", result="Error")]
    main += [_req(f, "/", status=503, result="CapacityExceeded", detailed="CapacityExceeded")]
    main += [_req(f, "/api/items", status=503, result="Error", request_id="WAFBLOCKED" + "0" * 44 + "==")]
    main += [_req(f + timedelta(seconds=40 + i), "/api/items", result="Miss") for i in range(8)]
    # regression on /static/*: 100 cacheable per hour; 95 hits for 8 hours, then 70
    for hour in range(12, 24):
        hits = 95 if hour < 20 else 70
        at = DAY.replace(hour=hour, minute=5)
        main += [_req(at, "/static/lib.js", result="Hit" if i < hits else "Miss") for i in range(100)]
    # a distribution with no config ingested
    other = [_req(f, "/x", status=502, result="Error", host="legacy.example.org") for _ in range(2)]
    other += [_req(f, "/x", host="legacy.example.org")]
    waf = [
        {
            "timestamp": int(f.timestamp() * 1000),
            "formatVersion": 1,
            "action": "BLOCK",
            "terminatingRuleId": "AWS-AWSManagedRulesCommonRuleSet",
            "httpSourceName": "CF",
            "httpSourceId": DIST,
            "httpRequest": {
                "clientIp": "192.0.2.10",
                "country": "DE",
                "uri": "/api/items",
                "args": "",
                "httpMethod": "GET",
                "requestId": "WAFBLOCKED" + "0" * 44 + "==",
            },
        }
    ]
    return main, other, waf


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("edge")
    main, other, waf = _traffic()
    (root / f"{DIST}.2025-03-14-03.aaaa1111.gz").write_bytes(gz(w3c_text(CF_FIELDS_33, main).encode()))
    (root / "E9NOCONFIG99.2025-03-14-10.bbbb2222.gz").write_bytes(gz(w3c_text(CF_FIELDS_33, other).encode()))
    (root / "waf.log").write_text("\n".join(json.dumps(r) for r in waf) + "\n")
    lake = str(root / "lake")
    summary = ingest([str(root), str(SAMPLES / "distribution" / f"{DIST}.get-distribution.json")], lake)
    assert summary.rejects == 0, summary.problems
    return lake


def both(name: str, lake: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """Run on both engines, assert they agree (counts exactly, floats to 1e-9), return the rows."""
    duck = run(name, lake, params, engine="duckdb")
    polars = run(name, lake, params, engine="polars")
    assert duck.columns == polars.columns
    assert duck.height == polars.height
    for col in duck.columns:
        a, b = duck.get_column(col).to_list(), polars.get_column(col).to_list()
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (name, col, x, y)
            else:
                assert x == y, (name, col, x, y)
    return duck


def _row(frame: pl.DataFrame, **match: Any) -> dict[str, Any]:
    rows = frame.filter(pl.all_horizontal([pl.col(k) == v for k, v in match.items()])).to_dicts()
    assert len(rows) == 1, (match, rows)
    return rows[0]


def test_hit_ratio_definition_and_behavior_replay(lake: str) -> None:
    morning = {"start": "2025-03-14T03:00:00Z", "end": "2025-03-14T04:00:00Z"}
    hr = both("hit-ratio", lake, morning)
    static = _row(hr, behavior="/static/*")
    assert (static["requests"], static["cacheable_requests"], static["hits"]) == (13, 10, 9)
    assert static["hit_ratio"] == pytest.approx(0.9)
    assert static["byte_hit_ratio"] == pytest.approx(900 / 1700)
    img = _row(hr, behavior="/img/?.png")
    assert (img["requests"], img["hits"], img["origin_offload"]) == (1, 0, 1.0)
    assert _row(hr, behavior="*")["requests"] == 1  # /img/ab.png is two characters: the default caught it
    assert set(hr.get_column("bucket_start").to_list()) == {None}


def test_unconfigured_distribution_is_unknown_not_default(lake: str) -> None:
    hr = both("hit-ratio", lake, {"distribution": "E9NOCONFIG99"})
    assert hr.get_column("behavior").to_list() == ["unknown"]
    mix = both("status-mix", lake, {"distribution": "E9NOCONFIG99"})
    assert mix.select("origin", "sc_status", "requests").rows() == [
        ("legacy.example.org", 200, 1),
        ("legacy.example.org", 502, 2),
    ]


def test_hourly_buckets(lake: str) -> None:
    hr = both("hit-ratio", lake, {"bucket": "hour", "distribution": DIST})
    row = _row(hr, behavior="/static/*", bucket_start=DAY.replace(hour=21))
    assert (row["cacheable_requests"], row["hits"]) == (100, 70)
    both("status-mix", lake, {"bucket": "day"})


def test_status_mix_per_target(lake: str) -> None:
    mix = both("status-mix", lake, {"distribution": DIST})
    api = mix.filter(pl.col("origin") == "api-group")
    assert dict(api.select("sc_status", "requests").rows()) == {200: 8, 429: 3, 502: 12, 503: 3}
    assert api.get_column("share").sum() == pytest.approx(1.0)


def test_failover_categories_and_exclusions(lake: str) -> None:
    fo = both("failover", lake)
    got = {(r["target"], r["category"], r["sc_status"]): r["requests"] for r in fo.to_dicts()}
    assert got == {
        ("api-group", "eligible", 502): 12,
        ("api-group", "gap_status", 429): 3,
        ("api-group", "gap_method", 503): 2,
        ("api-primary", "no_group", 500): 1,
        ("legacy.example.org", "no_config", 502): 2,
    }  # the CapacityExceeded 503 and the WAF-blocked request are edge decisions, not origin failures
    eligible = _row(fo, category="eligible")
    assert eligible["first_seen"] == DAY.replace(hour=10)
    assert eligible["last_seen"] == DAY.replace(hour=10, second=11)


def test_failover_episodes(lake: str) -> None:
    ep = both("failover-episodes", lake, {"min_failures": 5})
    assert ep.height == 1
    row = ep.row(0, named=True)
    assert (row["target"], row["failures"], row["dominant_category"], row["dominant_status"]) == (
        "api-group",
        17,
        "eligible",
        502,
    )
    assert row["peak_failures_per_minute"] == 17
    assert row["peak_failure_rate"] == pytest.approx(17 / 26)  # 26 requests reached api-group that minute


def test_regression_found_with_its_start(lake: str) -> None:
    reg = both("hit-ratio-regressions", lake, {"distribution": DIST})
    assert reg.height == 1
    row = reg.row(0, named=True)
    assert row["behavior"] == "/static/*"
    assert row["started_at"] == DAY.replace(hour=20)
    assert row["baseline_ratio"] == pytest.approx(0.95)
    assert row["ratio_during"] == pytest.approx(0.70)
    assert row["hours"] == 4


def test_minute_buckets(lake: str) -> None:
    mix = both("status-mix", lake, {"bucket": "minute", "distribution": DIST})
    at_ten = mix.filter((pl.col("bucket_start") == DAY.replace(hour=10)) & (pl.col("origin") == "api-group"))
    assert dict(at_ten.select("sc_status", "requests").rows()) == {200: 8, 429: 3, 502: 12, 503: 3}
    both("hit-ratio", lake, {"bucket": "minute"})
