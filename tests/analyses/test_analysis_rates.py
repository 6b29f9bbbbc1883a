"""rate-sizing, rate-limit-recommendation and rate-limit-table on both engines (sql/rate-*.sql and
pipeline/analyses/rates.py), over hand-built WAF logs with CloudFront outcomes and known arrival times."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from helpers import ROOT, write
from polars.testing import assert_frame_equal
from waf_lines import DIST, Req, cf_lines, waf_line

from pipeline.analyses import run
from pipeline.analyses.rates import recommended_limit
from pipeline.errors import EdgelakeError
from pipeline.ingest import ingest
from pipeline.query import named as queries
from pipeline.query.views import connect

SMALL_DIST = "E3SMALLDIST001"
T0 = int(datetime(2025, 3, 14, 12, 0, tzinfo=UTC).timestamp())  # a 5-minute clock boundary every 300 s
T0_MS = T0 * 1000
BURST, EDGE, NAT, STUFFER, USER, GOOGLEBOT, SCANNER, TINY = (
    "203.0.113.5",
    "198.51.100.20",
    "192.0.2.44",
    "203.0.113.66",
    "198.51.100.7",
    "66.249.66.1",
    "203.0.113.99",
    "198.51.100.250",
)
ANALYSES = ("rate-sizing", "rate-limit-recommendation", "rate-limit-table")


def traffic() -> list[Req]:
    reqs: list[Req] = []
    # A burst straddling the 12:05 clock boundary: 100 requests, one per 0.5 s, 12:04:30 to 12:05:19.5.
    reqs += [Req(T0_MS + 270_000 + 500 * i, BURST, uri=f"/video/{i % 5}.ts") for i in range(100)]
    # Boundary convention, W = 60 with T1 = 12:16:40 (a multiple of 10 s): 6 requests exactly at T1 - 60,
    # 8 at T1 - 30, 10 exactly at T1.
    t1 = T0_MS + 1_000_000
    reqs += [Req(t1 - 60_000, EDGE) for _ in range(6)] + [Req(t1 - 30_000, EDGE) for _ in range(8)]
    reqs += [Req(t1, EDGE) for _ in range(10)]
    # A busy office NAT: 2 requests/s for 200 s; 60 of its 400 requests are blocked by WAF (403), which alone
    # would make it suspect (waf_terminated >= 10 %). Its X-Forwarded-For names two different inner IPs.
    for i in range(400):
        blocked = i % 20 < 3
        inner = "10.0.0.1" if i % 2 else "10.0.0.2"
        reqs.append(
            Req(
                T0_MS + 600_000 + 500 * i,
                NAT,
                uri=f"/app/{i % 10}",
                status=403 if blocked else 200,
                action="BLOCK" if blocked else "ALLOW",
                headers=[
                    {"name": "x-forwarded-for", "value": f"{inner}, 172.16.0.9"},
                    {"name": "X-Api-Key", "value": "office"},
                ],
            )
        )
    # Credential stuffing: 300 POSTs to /login at 5/s, 280 answered 401, bot and ATP labels on every one.
    for i in range(300):
        reqs.append(
            Req(
                T0_MS + 2_000_000 + 200 * i,
                STUFFER,
                uri="/login",
                method="POST",
                status=401 if i % 15 else 200,
                labels=[
                    "awswaf:managed:aws:bot-control:signal:automated_browser",
                    "awswaf:managed:aws:atp:aggregate:volumetric:ip:high",
                ],
                headers=[{"name": "X-Api-Key", "value": f"k{i % 3}"}],
            )
        )
    # An ordinary user, one request a minute for 30 minutes.
    reqs += [Req(T0_MS + 60_000 * i, USER, uri=f"/page/{i % 4}") for i in range(30)]
    # A verified search-engine bot: bot-control labels that do not count; never in the CloudFront log.
    reqs += [
        Req(
            T0_MS + 3_000_000 + 1_000 * i,
            GOOGLEBOT,
            uri=f"/page/{i % 10}",
            status=None,
            labels=[
                "awswaf:managed:aws:bot-control:bot:category:search_engine",
                "awswaf:managed:aws:bot-control:bot:verified",
            ],
        )
        for i in range(40)
    ]
    # A scanner: 60 distinct paths answered 404.
    reqs += [Req(T0_MS + 4_000_000 + 250 * i, SCANNER, uri=f"/probe/{i}.php", status=404) for i in range(60)]
    # Another distribution: one small key (3 requests in 20 s) to see the clamp at 10.
    reqs += [Req(T0_MS + 5_000_000 + 10_000 * i, TINY, dist=SMALL_DIST) for i in range(3)]
    return reqs


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("rates")
    reqs = list(enumerate(traffic()))
    waf = write(root / "waf" / "edge.log", "".join(waf_line(n, r) + "\n" for n, r in reqs))
    answered = [(n, r) for n, r in reqs if r.status is not None]
    cf = write(root / "cf" / f"{DIST}.2025-03-14-12.a1b2c3d4", cf_lines(answered))
    summary = ingest([waf, cf], str(root / "lake"))
    assert summary.failed == 0 and summary.rejects == 0
    assert summary.rows["waf"] == len(reqs) and summary.rows["cloudfront"] == len(answered)
    return str(root / "lake")


def both(name: str, lake: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
    """Run on both engines, assert the frames are identical (values, dtypes and row order), return one."""
    duck = run(name, lake, params or {}, engine="duckdb")
    polars = run(name, lake, params or {}, engine="polars")
    assert_frame_equal(duck, polars)
    return duck


def sizing(lake: str, **params: Any) -> dict[tuple[int, str], dict[str, Any]]:
    rows = both("rate-sizing", lake, params)
    return {(r["window_s"], r["key"]): r for r in rows.iter_rows(named=True)}


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- an oracle: evaluate every 10-s instant by brute force ------------------------------------------------
def oracle_peaks(times_ms: list[int], window_s: int) -> tuple[int, int]:
    """(peak, first t in seconds reaching it) over t = 10k s of count(t - W < ts <= t)."""
    best, best_t = 0, 0
    first = (min(times_ms) // 10_000) * 10
    for t in range(first, max(times_ms) // 1000 + window_s + 20, 10):
        n = sum(1 for ts in times_ms if (t - window_s) * 1000 < ts <= t * 1000)
        if n > best:
            best, best_t = n, t
    return best, best_t


def test_burst_across_a_clock_boundary_is_seen_whole(lake: str) -> None:
    rows = sizing(lake)
    times = [r.ts_ms for r in traffic() if r.ip == BURST]
    clock_buckets: dict[int, int] = defaultdict(int)
    for ts in times:
        clock_buckets[ts // 300_000] += 1
    assert max(clock_buckets.values()) == 60  # 5-minute clock buckets see 60 + 40
    burst = rows[(300, BURST)]
    assert burst["peak_requests"] == 100 and burst["requests"] == 100
    # first instant holding all 100: t = 12:05:20 (the last request is at 12:05:19.5), so t - 300 = 12:00:20
    assert burst["peak_window_start"] == at(T0 + 20)
    assert rows[(60, BURST)]["peak_requests"] == 100 and rows[(60, BURST)]["peak_window_start"] == at(T0 + 260)
    assert burst["classification"] == "legit" and burst["reasons"] == "no suspect signal"


def test_boundary_convention(lake: str) -> None:
    rows = sizing(lake)
    t1 = T0 + 1000
    edge = rows[(60, EDGE)]
    # (t - 60, t]: at t = T1 the 8 + 10 count and the 6 at exactly T1 - 60 do not. Counting [t - 60, t]
    # would give 24; counting [t - 60, t) would peak at T1 + 10 (start T1 - 50).
    assert edge["peak_requests"] == 18
    assert edge["peak_window_start"] == at(t1 - 60)
    assert rows[(120, EDGE)]["peak_requests"] == 24


def test_every_peak_matches_brute_force(lake: str) -> None:
    rows = sizing(lake, min_requests=1)
    by_key: dict[str, list[int]] = defaultdict(list)
    for r in traffic():
        by_key[r.ip].append(r.ts_ms)
    assert {k for _, k in rows} == set(by_key)
    for (window, key), row in rows.items():
        peak, t = oracle_peaks(by_key[key], window)
        assert (row["peak_requests"], row["peak_window_start"]) == (peak, at(t - window)), (window, key)


def test_random_arrivals_match_brute_force(tmp_path: Path) -> None:
    rnd = random.Random(7)
    reqs: list[Req] = []
    for k in range(6):
        base = T0_MS + rnd.randrange(0, 600_000)
        for _ in range(rnd.randrange(20, 120)):
            # a mix of exact 10-s instants, whole seconds and arbitrary milliseconds
            step = rnd.choice((10_000, 1_000, 1))
            reqs.append(Req(base + step * rnd.randrange(0, 900_000 // step), f"192.0.2.{k}"))
    waf = write(tmp_path / "waf.log", "".join(waf_line(n, r) + "\n" for n, r in enumerate(reqs)))
    ingest([waf], str(tmp_path / "lake"))
    rows = sizing(str(tmp_path / "lake"), min_requests=1)
    assert len(rows) == 6 * 4
    for (window, key), row in rows.items():
        peak, t = oracle_peaks([r.ts_ms for r in reqs if r.ip == key], window)
        assert (row["peak_requests"], row["peak_window_start"]) == (peak, at(t - window))


def test_classification(lake: str) -> None:
    rows = sizing(lake)
    stuffer = rows[(300, STUFFER)]
    assert stuffer["classification"] == "suspect" and stuffer["peak_requests"] == 300
    # at 60 s no evaluation instant holds all 300 (12:33:20.0 to 12:34:19.8): t = 12:34:20 drops the first
    assert rows[(60, STUFFER)]["peak_requests"] == 299
    assert stuffer["reasons"] == (
        "4xx 280/300 answered; auth_failures 280/300 answered 401/403/429; bot_or_reputation_labels 300/300"
    )
    assert rows[(60, SCANNER)]["classification"] == "suspect"
    assert rows[(60, SCANNER)]["reasons"] == "4xx 60/60 answered; uri_diversity 60/60"
    assert rows[(60, GOOGLEBOT)]["classification"] == "legit"  # verified bot labels do not count
    assert rows[(600, USER)]["peak_requests"] == 10 and rows[(60, USER)]["peak_requests"] == 1
    nat = rows[(300, NAT)]
    assert nat["classification"] == "suspect" and nat["reasons"] == "waf_terminated 60/400"
    assert nat["peak_requests"] == 400 and rows[(60, NAT)]["peak_requests"] == 120
    assert TINY not in {k for _, k in rows}  # 3 requests < min_requests


def test_allowlisted_busy_nat_is_legit(lake: str) -> None:
    rows = sizing(lake, allowlist=[NAT, "192.0.2.200"])
    nat = rows[(300, NAT)]
    assert nat["classification"] == "legit" and nat["reasons"] == "allowlisted; waf_terminated 60/400"
    assert rows[(300, STUFFER)]["classification"] == "suspect"
    # for ip_uri keys the allowlist matches the IP inside the key
    by_uri = sizing(lake, key_type="ip_uri", allowlist=NAT, min_requests=1)
    assert by_uri[(60, f"{NAT} /app/3")]["classification"] == "legit"
    assert by_uri[(60, f"{NAT} /app/3")]["requests"] == 40


def test_recommendation_is_the_formula_and_limits_no_legit_key(lake: str) -> None:
    params = {"allowlist": NAT}
    rec = both("rate-limit-recommendation", lake, params)
    rows = sizing(lake, **params)
    assert rec.get_column("window_s").to_list() == [60, 120, 300, 600]
    for r in rec.iter_rows(named=True):
        legit = [
            v["peak_requests"] for (w, _), v in rows.items() if w == r["window_s"] and v["classification"] == "legit"
        ]
        suspect = [
            v["peak_requests"] for (w, _), v in rows.items() if w == r["window_s"] and v["classification"] == "suspect"
        ]
        assert r["legit_max_peak"] == max(legit)
        assert r["recommended_limit"] == min(2_000_000_000, max(10, math.ceil(max(legit) * 1.25)))
        assert r["legit_keys_over_limit"] == 0 and all(p <= r["recommended_limit"] for p in legit)
        assert r["suspect_keys_over_limit"] == sum(p > r["recommended_limit"] for p in suspect)
        assert r["key_type"] == "ip" and r["headroom"] == 0.25
    by_window = {r["window_s"]: r for r in rec.iter_rows(named=True)}
    assert by_window[60]["legit_max_peak"] == 120 and by_window[60]["recommended_limit"] == 150
    assert by_window[60]["suspect_keys_over_limit"] == 1  # the stuffer's 299
    assert by_window[300]["legit_max_peak"] == 400 and by_window[300]["recommended_limit"] == 500


def test_recommendation_formula_edges() -> None:
    assert recommended_limit(100, 0.1) == 110  # 100 * 1.1 is 110.00000000000001 in binary
    assert recommended_limit(3, 0.25) == 10 and recommended_limit(None, 0.25) == 10
    assert recommended_limit(1_900_000_000, 0.25) == 2_000_000_000
    with pytest.raises(EdgelakeError):
        recommended_limit(5, -0.1)


def test_clamped_at_ten(lake: str) -> None:
    params = {"distribution": SMALL_DIST, "min_requests": 1, "windows": "60"}
    assert sizing(lake, **params)[(60, TINY)]["peak_requests"] == 3
    rec = both("rate-limit-recommendation", lake, params).to_dicts()
    assert rec == [
        {
            "window_s": 60,
            "key_type": "ip",
            "recommended_limit": 10,
            "legit_max_peak": 3,
            "suspect_keys_over_limit": 0,
            "legit_keys_over_limit": 0,
            "headroom": 0.25,
        }
    ]
    # no key at all: nothing to protect, WAF's minimum
    empty = both("rate-limit-recommendation", lake, {"distribution": "ENONE", "windows": "60,600"}).to_dicts()
    assert [(r["window_s"], r["recommended_limit"], r["legit_max_peak"]) for r in empty] == [
        (60, 10, None),
        (600, 10, None),
    ]


def test_limit_table(lake: str) -> None:
    table = both("rate-limit-table", lake, {"limits": "100,250,10", "windows": "60"})
    assert table.columns == [
        "window_s",
        "limit",
        "legit_keys_limited",
        "suspect_keys_limited",
        "legit_requests_over",
        "suspect_requests_over",
    ]
    rows = {r["limit"]: r for r in table.iter_rows(named=True)}
    assert list(rows) == [10, 100, 250]
    # at 60 s: legit peaks burst 100, googlebot 40, edge 18, user 1; suspect stuffer 299, NAT 120, scanner 60
    assert rows[100] == {
        "window_s": 60,
        "limit": 100,
        "legit_keys_limited": 0,
        "suspect_keys_limited": 2,
        "legit_requests_over": 0,
        "suspect_requests_over": 199 + 20,
    }
    assert rows[250]["suspect_keys_limited"] == 1 and rows[250]["suspect_requests_over"] == 49
    assert rows[10]["legit_keys_limited"] == 3 and rows[10]["legit_requests_over"] == 90 + 30 + 8
    assert rows[10]["suspect_keys_limited"] == 3 and rows[10]["suspect_requests_over"] == 289 + 110 + 50


def test_other_keys_and_scope_down(lake: str) -> None:
    fwd = sizing(lake, key_type="forwarded_ip", min_requests=1)
    assert {k for _, k in fwd} == {"10.0.0.1", "10.0.0.2"}  # first entry; header name case-insensitive
    assert fwd[(600, "10.0.0.1")]["requests"] == 200
    hdr = sizing(lake, key_type="header", header="x-api-key", min_requests=1)
    assert {k: v["requests"] for (w, k), v in hdr.items() if w == 60} == {
        "office": 400,
        "k0": 100,
        "k1": 100,
        "k2": 100,
    }
    scoped = sizing(lake, path_prefix="/log", method="post", min_requests=1)
    assert {k for _, k in scoped} == {STUFFER}
    assert sizing(lake, path_prefix="/login", method="GET") == {}
    window = sizing(lake, start=at(T0 + 270), end=at(T0 + 300), windows="60")
    assert window[(60, BURST)]["requests"] == 60


BAD_PARAMETERS = [
    ("rate-sizing", {"windows": "60,90"}),
    ("rate-sizing", {"windows": "60,x"}),
    ("rate-sizing", {"key_type": "header"}),
    ("rate-sizing", {"windows": ""}),
    ("rate-limit-table", {"limits": "5"}),
    ("rate-limit-table", {"limits": "1e3"}),
    ("rate-limit-table", {"limits": "100,99999999999"}),
    ("rate-limit-recommendation", {"headroom": "-0.5"}),
    ("rate-limit-recommendation", {"headroom": "nan"}),
]


@pytest.mark.parametrize(("name", "params"), BAD_PARAMETERS)
def test_bad_parameters_are_refused_while_planning(lake: str, name: str, params: dict[str, str]) -> None:
    for engine in ("duckdb", "polars"):
        with pytest.raises(EdgelakeError):
            run(name, lake, params, engine=engine)
    # DuckDB must refuse them before executing anything: error() raised while the Arrow scans of the
    # lake run can abort the whole process (seen as exit 134/139 or a hang), so checks fold at plan time.
    query = queries.get(name)
    con = connect(lake)
    try:
        with pytest.raises(duckdb.Error, match=r"windows|limits|header|headroom"):
            con.execute("EXPLAIN " + query.sql, query.bind(params))
    finally:
        con.close()


RATE_KEYS_ARGS = {  # the rate_keys macro's arguments, in order, and what each query passes
    "t0": "$start::TIMESTAMPTZ",
    "t1": "$end::TIMESTAMPTZ",
    "dist": "$distribution::VARCHAR",
    "key_kind": "$key_type::VARCHAR",
    "header_name": "$header::VARCHAR",
    "window_list": "$windows::VARCHAR[]",
    "uri_prefix": "$path_prefix::VARCHAR",
    "verb": "$method::VARCHAR",
    "allowed_keys": "$allowlist::VARCHAR[]",
    "min_count": "$min_requests::BIGINT",
}


def test_queries_select_from_the_rate_keys_macro(lake: str) -> None:
    con = connect(lake)
    try:
        macros = con.execute(
            "SELECT parameters FROM duckdb_functions() WHERE function_name = 'rate_keys' "
            "AND function_type = 'table_macro'"
        ).fetchall()
    finally:
        con.close()
    assert macros == [(list(RATE_KEYS_ARGS),)]
    for name in ANALYSES:
        sql = queries.get(name).sql
        calls = re.findall(r"rate_keys\(([^)]*)\)", sql)
        assert len(calls) == 1, name
        assert [a.strip() for a in calls[0].split(",")] == list(RATE_KEYS_ARGS.values()), name
        # the keys, peaks and classification live only in the macro: no query reads the lake itself
        assert not re.search(r"\b(FROM|JOIN)\s+(waf|cloudfront)\b", sql, re.IGNORECASE), name
        assert "error('windows" not in sql and "shared: rate keys" not in sql, name


def test_cli(lake: str) -> None:
    expected = run("rate-limit-recommendation", lake, {"allowlist": NAT, "windows": "60,300"})
    for engine in ("duckdb", "polars"):
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "query",
                "rate-limit-recommendation",
                "--lake",
                lake,
                "--param",
                f"allowlist={NAT}",
                "--param",
                "windows=60,300",
                "--engine",
                engine,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout) == expected.to_dicts()
    res = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "query", "rate-sizing", "--lake", lake, "--param", "windows=45"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert res.returncode != 0 and "60, 120, 300 or 600" in res.stderr and "Traceback" not in res.stderr


def test_peak_window_start_is_utc(lake: str) -> None:
    frame = both("rate-sizing", lake, {"windows": "60"})
    assert frame.schema["peak_window_start"] == pl.Datetime("us", "UTC")
    assert frame.get_column("window_s").to_list() == [60] * frame.height
    peaks = frame.get_column("peak_requests").to_list()
    assert peaks == sorted(peaks, reverse=True)
    top = frame.row(0, named=True)
    assert (top["key"], top["peak_requests"], top["peak_window_start"]) == (STUFFER, 299, at(T0 + 2000))


def test_hostile_records_agree_and_count_only_keyed_requests(tmp_path: Path) -> None:
    good = [waf_line(n, Req(T0_MS + 1000 * n, "192.0.2.1", labels=["awswaf:managed:aws:atp:x"])) for n in range(25)]
    odd = [
        {"timestamp": T0_MS, "httpRequest": {"clientIp": None, "headers": None, "uri": None}},  # no key
        {
            "timestamp": T0_MS,
            "labels": None,
            "httpRequest": {"clientIp": "192.0.2.1", "headers": [{"name": "X-Forwarded-For", "myValue": "1"}]},
        },
        {
            "timestamp": T0_MS + 10_000,
            "labels": [{"name": None}, {}],
            "action": None,
            "httpRequest": {
                "clientIp": "192.0.2.1",
                "headers": [{"name": "x-forwarded-for", "value": "junk, 1.2.3.4"}, {"name": None, "value": "x"}],
            },
        },
    ]
    text = "".join(line + "\n" for line in good) + "".join(json.dumps(r) + "\n" for r in odd)
    ingest([write(tmp_path / "waf.log", text)], str(tmp_path / "lake"))
    lake = str(tmp_path / "lake")
    rows = sizing(lake, min_requests=1)
    assert {k for _, k in rows} == {"192.0.2.1"} and rows[(60, "192.0.2.1")]["requests"] == 27
    assert rows[(60, "192.0.2.1")]["reasons"] == "bot_or_reputation_labels 25/27"
    assert sizing(lake, key_type="forwarded_ip", min_requests=1) == {}  # no usable first entry anywhere
    for name in ANALYSES[1:]:
        both(name, lake, {"min_requests": 1})


# --- the scenario generator's planted facts ------------------------------------------------------------
@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    generator = pytest.importorskip("pipeline.scenario")
    root = tmp_path_factory.mktemp("rates-scenario")
    sc = generator.generate(root / "scenario", scale=0.1)
    ingest([str(sc.waf_dir), str(sc.cloudfront_dir)], str(root / "lake"))
    return str(root / "lake"), sc.truth["rate"]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.slow
def test_scenario_peaks_classes_and_recommendation(scenario: tuple[str, dict[str, Any]]) -> None:
    lake, truth = scenario
    params = {"allowlist": truth["allowlisted_ips"]}
    rows = sizing(lake, **params)
    waf_truth = truth["by_source"]["waf"]
    for top in waf_truth["top_ips"]:  # the busiest IPs: every window's peak and its start, exactly
        for window, peak in top["peaks"].items():
            got = rows[(int(window), top["ip"])]
            assert (got["peak_requests"], _iso(got["peak_window_start"])) == (
                peak["peak_requests"],
                peak["peak_window_start"],
            ), (top["ip"], window)
            assert got["classification"] == top["classification"]
    # classification agrees with the planted roles for every key sizing keeps (>= 20 requests)
    suspects = {ip for ips in truth["suspect_ips"].values() for ip in ips}
    kept = {k for w, k in rows if w == 300}
    assert {k for k in kept if rows[(300, k)]["classification"] == "suspect"} == suspects & kept
    assert len(suspects & kept) >= 12  # the six stuffing bots, the scanners and most probes
    assert rows[(300, truth["allowlisted_ips"][0])]["reasons"].startswith("allowlisted")
    rec = both("rate-limit-recommendation", lake, params)
    for r in rec.iter_rows(named=True):
        window = str(r["window_s"])
        assert r["legit_max_peak"] == waf_truth["legit_max_peak"][window]["peak_requests"]
        floor = waf_truth["recommended_limit_before_headroom"][window]
        assert r["recommended_limit"] == max(10, math.ceil(r["legit_max_peak"] * 1.25)) >= floor
        assert r["legit_keys_over_limit"] == 0
        assert r["suspect_keys_over_limit"] == sum(
            p[window]["peak_requests"] > r["recommended_limit"] for p in waf_truth["suspect_peaks"].values()
        )


@pytest.mark.slow
def test_scenario_scope_down(scenario: tuple[str, dict[str, Any]]) -> None:
    lake, truth = scenario
    scoped = truth["scoped"]
    rows = sizing(lake, path_prefix=scoped["uri_prefix"], allowlist=truth["allowlisted_ips"], min_requests=1)
    for top in scoped["by_source"]["waf"]["top_ips"]:
        for window, peak in top["peaks"].items():
            got = rows[(int(window), top["ip"])]
            assert (got["peak_requests"], _iso(got["peak_window_start"])) == (
                peak["peak_requests"],
                peak["peak_window_start"],
            ), (top["ip"], window)
