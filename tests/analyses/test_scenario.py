"""The ground-truth scenario generator (pipeline/scenario): deterministic, readable, and truthful.

One small scenario is generated and ingested once per module. The tests check that a seed gives the
same bytes, that every file passes the pipeline's readers with zero rejects and the row counts of the
truth, that WAF and CloudFront describe the same requests, that the truth is internally consistent,
and that its counts can be recounted from the lake with straightforward SQL (an independent check
that the generator counted what it wrote). The generator itself must not use the pipeline's code.
"""

from __future__ import annotations

import ast
import json
import re
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import SMALL_SCALE, SMALL_SEED
from helpers import ROOT, read

from pipeline.errors import UsageError
from pipeline.ingest import IngestSummary
from pipeline.query.views import connect
from pipeline.readers.distribution import read_distribution_config
from pipeline.readers.realtime import load_fields
from pipeline.readers.waf import read_waf
from pipeline.readers.webacl import read_web_acl
from pipeline.scenario import Scenario, generate, waf
from pipeline.scenario.__main__ import main as scenario_main
from pipeline.scenario.logs import RT_FIELDS

SCALE = SMALL_SCALE  # ~12,500 requests: every planted fact is present, ingest stays quick
SEED = SMALL_SEED
PACKAGE = ROOT / "pipeline" / "scenario"


@pytest.fixture(scope="module")
def scenario(small_scenario: Scenario) -> Scenario:
    return small_scenario  # generated once per session (tests/conftest.py), also read by the doctor's tests


@pytest.fixture(scope="module")
def ingested(small_lake: tuple[str, list[IngestSummary]]) -> tuple[str, list[IngestSummary]]:
    return small_lake


@pytest.fixture(scope="module")
def sql(ingested: tuple[str, list[IngestSummary]]) -> Any:
    con = connect(ingested[0])
    return lambda query: con.execute(query).fetchall()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- generation ------------------------------------------------------------------------------------
def test_same_seed_same_bytes_and_truth_file(scenario: Scenario, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", seed=SEED, scale=SCALE)
    first, second = _tree(scenario.root), _tree(again.root)
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []
    assert json.loads(first["truth.json"]) == scenario.truth
    other = generate(tmp_path / "other", seed=SEED + 1, scale=SCALE)
    assert other.truth["totals"] != scenario.truth["totals"]


def test_regenerating_replaces_only_its_own_files(tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    generate(tmp_path, seed=3, scale=0.01)
    stale = tmp_path / "cloudfront" / "E2SCENARIO01.2020-01-01-00.OLDFILE1.gz"
    stale.write_bytes(b"old")
    generate(tmp_path, seed=3, scale=0.01)
    assert keep.read_text() == "mine" and not stale.exists()


@pytest.mark.parametrize("scale", [0, -1, 50.0])
def test_scale_out_of_range_is_a_usage_error(tmp_path: Path, scale: float) -> None:
    with pytest.raises(UsageError, match="scale"):
        generate(tmp_path, scale=scale)


def test_cli_prints_where_things_are(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert scenario_main([str(tmp_path / "cli"), "--seed", "5", "--scale", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "E2SCENARIO01" in out and str(tmp_path / "cli" / "truth.json") in out and "--realtime-fields" in out
    assert json.loads((tmp_path / "cli" / "truth.json").read_text())["scenario"]["seed"] == 5


def test_generator_imports_no_pipeline_code_but_errors() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                if name.startswith("pipeline"):
                    assert name == "pipeline.errors" or name.startswith("pipeline.scenario"), f"{path.name}: {name}"


# --- what was written --------------------------------------------------------------------------------
def test_object_names_follow_aws_layouts(scenario: Scenario) -> None:
    cf = sorted(p.name for p in scenario.cloudfront_dir.iterdir())
    assert all(re.fullmatch(r"E2SCENARIO01\.2025-03-1[45]-\d\d\.[A-Z0-9]{8}\.gz", n) for n in cf)
    per_hour = defaultdict(int)
    for name in cf:
        per_hour[name.split(".")[1]] += 1
    assert set(per_hour.values()) <= {1, 2} and 2 in per_hour.values()
    waf = [str(p.relative_to(scenario.waf_dir)) for p in scenario.waf_dir.rglob("*.gz")]
    pattern = (
        r"AWSLogs/123456789012/WAFLogs/cloudfront/streamhaul-acl/2025/03/14/(\d\d)/(\d\d)/"
        r"123456789012_waflogs_cloudfront_streamhaul-acl_20250314T(\d\d)(\d\d)Z_[0-9a-f]{8}\.log\.gz"
    )
    for key in waf:
        m = re.fullmatch(pattern, key)
        assert m and m[1] == m[3] and m[2] == m[4] and int(m[2]) % 5 == 0, key
    rt = [str(p.relative_to(scenario.realtime_dir)) for p in scenario.realtime_dir.rglob("*.gz")]
    assert rt and all(
        re.fullmatch(r"2025/03/14/(\d\d)/streamhaul-rt-1-2025-03-14-\1-\d\d-\d\d-[0-9a-f-]{36}\.gz", k) for k in rt
    )
    files = scenario.truth["files"]
    assert (len(files["cloudfront"]), len(files["waf"]), len(files["realtime"])) == (len(cf), len(waf), len(rt))


def test_configs_are_accepted_by_the_readers(scenario: Scenario) -> None:
    conf = read_distribution_config(scenario.distribution_config.read_bytes(), uri="dist.json")
    behaviors = conf.tables["behaviors"].select("path_pattern", "target_origin_id", "target_is_group").rows()
    assert behaviors == [
        ("/api/me", "api-primary", False),
        ("/api/catalog*", "api-group", True),
        ("/api/titles/*", "api-group", True),
        ("/api/recommendations*", "api-group", True),
        ("/api/*", "api-primary", False),
        ("/upload/*", "upload-origin", False),
        ("/static/*", "static-s3", False),
        ("/video/*", "media-group", True),
        ("*", "web-group", True),
    ]
    # CloudFront refuses write methods on a behavior aimed at an origin group: writes use single origins
    methods = conf.tables["behaviors"].select("target_is_group", "allowed_methods").rows()
    assert all(set(m) <= {"GET", "HEAD", "OPTIONS"} for is_group, m in methods if is_group)
    groups = dict(conf.tables["origin_groups"].select("origin_group_id", "failover_status_codes").rows())
    assert groups == {
        "api-group": [500, 502, 503, 504],
        "media-group": [429, 500, 502, 503, 504],
        "web-group": [500, 502, 503, 504],
    }
    rules = read_web_acl(scenario.web_acl.read_bytes(), uri="acl.json")
    by_name = {r["rule_name"]: r for r in rules.to_dicts()}
    crs = by_name["AWS-AWSManagedRulesCommonRuleSet"]["rule_action_overrides"]
    assert {(o["name"], o["action"]) for o in crs} == {
        ("SizeRestrictions_BODY", "COUNT"),
        ("CrossSiteScripting_BODY", "COUNT"),
    }
    assert by_name["BlockedCountriesWatch"]["action"] == "COUNT"
    rate = by_name["LoginRateLimit"]
    assert (rate["rate_limit"], rate["evaluation_window_sec"], rate["aggregate_key_type"]) == (1000, 300, "IP")
    listed = json.loads(scenario.realtime_config.read_text())["RealtimeLogConfig"]["Fields"]
    assert tuple(listed) != RT_FIELDS and load_fields(str(scenario.realtime_config)) == RT_FIELDS


def test_hostile_values_are_encoded_as_aws_does(scenario: Scenario) -> None:
    import gzip

    cf = "".join(gzip.decompress(p.read_bytes()).decode() for p in scenario.cloudfront_dir.iterdir())
    assert "=%3Cscript%3Ealert(1)%3C/script%3E\t" in cf  # raw in the query: < > encoded once
    assert "%2522%253E%253Cimg%2520src%253Dx" in cf  # sent percent-encoded: the % is encoded again
    assert re.search(r"\tMozilla/5\.0%20\(", cf) and "\t$%7Bjndi:ldap://" in cf
    waf = "".join(gzip.decompress(p.read_bytes()).decode() for p in scenario.waf_dir.rglob("*.gz"))
    assert '"matchedData":["\\"><img src=x onerror=alert(2)>"]' in waf
    assert '"args":"q=<script>alert(1)</script>"' in waf or '"args":"ref=<script>alert(1)</script>"' in waf


def test_rate_rule_matches_are_logged_and_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LoginRateLimit (1,000 per 300 s) only matches at large scales; a lower limit shows it at a small one."""
    monkeypatch.setattr(waf, "RATE_LIMIT", 100)
    sc = generate(tmp_path, seed=SEED, scale=0.02)
    rule = {(r["rule_group"], r["rule_id"]): r for r in sc.truth["waf"]["rules"]}[("webacl", "LoginRateLimit")]
    bots = set(sc.truth["rate"]["suspect_ips"]["credential_stuffing"])
    assert rule["distinct_ips"] == 6 and rule["matches"] > 0
    results = [read(p, read_waf, source="waf") for p in sorted(sc.waf_dir.rglob("*.gz")) if "/14/17/" in str(p)]
    assert sum(r.rejects.height for r in results) == 0
    rows = pl.concat([r.rows for r in results], how="diagonal_relaxed")
    limited = rows.filter(pl.col("rate_based_rule_list").list.len() > 0)
    assert limited.height == rule["matches"]
    entries = limited.get_column("rate_based_rule_list").explode().struct.unnest()
    assert set(entries.get_column("limit_value")) == bots
    assert entries.select("limit_key", "max_rate_allowed", "evaluation_window_sec").unique().rows() == [
        ("IP", 100, 300)
    ]
    acl = json.loads(sc.web_acl.read_text())["WebACL"]["Rules"]
    assert [r["Statement"]["RateBasedStatement"]["Limit"] for r in acl if r["Name"] == "LoginRateLimit"] == [100]


# --- through the pipeline --------------------------------------------------------------------------
def test_every_file_ingests_without_rejects_and_rows_match_truth(
    scenario: Scenario, ingested: tuple[str, list[IngestSummary]], sql: Any
) -> None:
    logs, realtime = ingested[1]
    assert (logs.rejects, realtime.rejects, logs.failed, realtime.failed) == (0, 0, 0, 0)
    assert logs.problems == [] and realtime.problems == []
    totals = scenario.truth["totals"]
    assert logs.rows["cloudfront"] == totals["cloudfront_requests"]
    assert logs.rows["waf"] == totals["waf_records"] == totals["cloudfront_requests"]
    assert realtime.rows["realtime"] == totals["realtime_records"]
    assert sql("SELECT count(*) FROM rejects") == [(0,)]
    assert sql("SELECT count(*) FROM behaviors") == [(9,)] and sql("SELECT count(*) FROM web_acl_rules") == [(7,)]


def test_waf_and_realtime_describe_the_same_requests_as_cloudfront(sql: Any) -> None:
    assert sql("SELECT count(*) FROM waf w ANTI JOIN cloudfront c ON c.x_edge_request_id = w.request_id") == [(0,)]
    assert sql("SELECT count(DISTINCT x_edge_request_id) = count(*) FROM cloudfront") == [(True,)]
    assert sql("""SELECT count(*) FROM cloudfront c JOIN waf w ON c.x_edge_request_id = w.request_id
                  WHERE c.cs_uri_stem IS DISTINCT FROM w.uri OR coalesce(c.cs_uri_query, '') <> w.args
                     OR c.c_ip <> w.client_ip OR c.cs_method <> w.http_method OR c.x_host_header <> w.host
                     OR w.http_source_id <> c.distribution_id""") == [(0,)]
    # WAF sees the request arrive; CloudFront logs when it finished (whole seconds)
    assert sql("""SELECT count(*) FROM cloudfront c JOIN waf w ON c.x_edge_request_id = w.request_id
                  WHERE w.timestamp >= c.timestamp + INTERVAL 1 SECOND""") == [(0,)]
    assert sql("""SELECT count(*) FROM cloudfront c JOIN waf w ON c.x_edge_request_id = w.request_id
                  WHERE w.action = 'BLOCK' AND NOT (c.sc_status = 403 AND c.x_edge_result_type = 'Error'
                  AND c.x_edge_detailed_result_type = 'Error')""") == [(0,)]
    assert sql("""SELECT count(*) FILTER (WHERE c.x_edge_request_id IS NULL OR NOT starts_with(c.cs_uri_stem, '/video/')
                         OR r.cache_behavior_path_pattern <> '/video/*' OR r.sc_status <> c.sc_status)
                  FROM realtime r LEFT JOIN cloudfront c USING (x_edge_request_id)""") == [(0,)]


def test_late_lines_are_in_the_next_hours_object(scenario: Scenario, sql: Any) -> None:
    late = sql(r"""SELECT count(*) FROM cloudfront WHERE strftime(timestamp, '%Y-%m-%d-%H')
                   <> regexp_extract(source_file, '\.(\d{4}-\d\d-\d\d-\d\d)\.[A-Z0-9]{8}\.gz$', 1)""")
    assert late == [(scenario.truth["totals"]["late_lines"],)] and late[0][0] > 0


# --- the truth -------------------------------------------------------------------------------------
def test_truth_is_internally_consistent(scenario: Scenario) -> None:
    t = scenario.truth
    total = t["totals"]["cloudfront_requests"]
    assert sum(t["totals"]["requests_per_status"].values()) == total
    assert sum(t["totals"]["requests_per_behavior"].values()) == total
    assert sum(t["totals"]["requests_per_source"].values()) == total
    for name in ("storm_5xx", "writes_outage", "storm_429", "storm_429_video", "single_origin"):
        fact = t["planted"][name]
        assert fact["requests"] == sum(fact["by_status"].values()) > 0, name
        assert fact["window"]["start"] <= fact["first_seen"] <= fact["last_seen"] < fact["window"]["end"]
        rows = [r for r in t["failover"]["rows"] if (r["target"], r["category"]) == (fact["target"], fact["category"])]
        assert sum(r["requests"] for r in rows) >= fact["requests"]
    assert set(t["planted"]["storm_429"]["by_status"]) == {"429"}
    hourly = defaultdict(lambda: [0, 0, 0])
    for row in t["hit_ratio"]["hourly"]:
        acc = hourly[row["behavior"]]
        acc[0], acc[1], acc[2] = acc[0] + row["requests"], acc[1] + row["cacheable_requests"], acc[2] + row["hits"]
    for behavior, day in t["hit_ratio"]["by_behavior"].items():
        assert hourly[behavior] == [day["requests"], day["cacheable_requests"], day["hits"]]
    reg = t["hit_ratio"]["regression"]
    assert reg["before"]["hit_ratio"] > 0.88 and reg["after"]["hit_ratio"] < 0.78
    assert t["hit_ratio"]["by_behavior"]["/video/*"]["origin_shield_hits"] > 0


def test_truth_waf_rules_and_rate_facts(scenario: Scenario) -> None:
    t = scenario.truth
    rules = {(r["rule_group"], r["rule_id"]): r for r in t["waf"]["rules"]}
    verdicts = {k[1]: r["expected_verdict"] for k, r in rules.items()}
    assert verdicts["SizeRestrictions_BODY"] == verdicts["CrossSiteScripting_BODY"] == "likely_false_positive"
    assert verdicts["SQLi_QUERYARGUMENTS"] == "likely_true_positive"
    assert verdicts["Log4JRCE_HEADER"] == verdicts["JavaDeserializationRCE_HEADER"] == "already_blocking"
    assert rules[("webacl", "BlockedCountriesWatch")]["action"] == "COUNT"
    size = rules[("AWS#AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY")]
    sqli = rules[("AWS#AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS")]
    assert size["distinct_ips"] >= 20 and size["served_2xx_3xx"] > 0.9 * size["matches"]
    assert sqli["distinct_ips"] <= 5 and sqli["distinct_uris"] > 20 and sqli["served_2xx_3xx"] == 0
    assert sum(t["waf"]["actions"].values()) == t["waf"]["records"]
    assert t["waf"]["actions"]["BLOCK"] == t["edge_errors"]["waf_blocked"]
    rate = t["rate"]
    stuffing = set(rate["suspect_ips"]["credential_stuffing"])
    assert len(stuffing) == 6 and rate["allowlisted_ips"] == ["203.0.113.10"]
    for source in rate["by_source"].values():
        top = {e["ip"]: e for e in source["top_ips"]}
        assert stuffing <= set(top) and top["203.0.113.10"]["classification"] == "legit"
        for w, legit in source["legit_max_peak"].items():
            assert 0 < legit["peak_requests"] < min(source["suspect_peaks"][ip][w]["peak_requests"] for ip in stuffing)
        for entry in source["top_ips"]:
            peaks = [entry["peaks"][w]["peak_requests"] for w in ("60", "120", "300", "600")]
            assert peaks == sorted(peaks) and peaks[-1] <= entry["requests"]


# --- the truth recounted from the lake -------------------------------------------------------------
_TARGET = """CASE WHEN cs_uri_stem = '/api/me' THEN 'api-primary'
    WHEN starts_with(cs_uri_stem, '/api/catalog') OR starts_with(cs_uri_stem, '/api/titles/')
      OR starts_with(cs_uri_stem, '/api/recommendations') THEN 'api-group'
    WHEN starts_with(cs_uri_stem, '/api/') THEN 'api-primary'
    WHEN starts_with(cs_uri_stem, '/upload/') THEN 'upload-origin' WHEN starts_with(cs_uri_stem, '/static/')
    THEN 'static-s3' WHEN starts_with(cs_uri_stem, '/video/') THEN 'media-group' ELSE 'web-group' END"""
_TARGETS = {  # behavior -> target, as the generator's config says
    "/api/me": "api-primary",
    "/api/catalog*": "api-group",
    "/api/titles/*": "api-group",
    "/api/recommendations*": "api-group",
    "/api/*": "api-primary",
    "/upload/*": "upload-origin",
    "/static/*": "static-s3",
    "/video/*": "media-group",
    "*": "web-group",
}


def test_failover_rows_recount(scenario: Scenario, sql: Any) -> None:
    rows = sql(f"""
        WITH c AS (SELECT *, {_TARGET} AS target FROM cloudfront),
        crit(target, codes) AS (VALUES ('api-group', [500, 502, 503, 504]), ('web-group', [500, 502, 503, 504]),
                                       ('media-group', [429, 500, 502, 503, 504])),
        f AS (
            SELECT c.*, crit.codes FROM c LEFT JOIN crit USING (target)
            LEFT JOIN waf w ON w.request_id = c.x_edge_request_id
            WHERE (sc_status >= 500 OR sc_status = 429 OR list_contains(coalesce(crit.codes, []), sc_status))
              AND coalesce(w.action, '') <> 'BLOCK'
              AND x_edge_detailed_result_type NOT IN ('CapacityExceeded', 'LimitExceeded', 'LambdaExecutionError',
                  'FunctionExecutionError', 'ClientGeoBlocked', 'ClientCommError'))
        SELECT target, CASE WHEN codes IS NULL THEN 'no_group'
                            WHEN cs_method IN ('POST', 'PUT', 'PATCH', 'DELETE') THEN 'gap_method'
                            WHEN list_contains(codes, sc_status) THEN 'eligible' ELSE 'gap_status' END AS category,
               sc_status, count(*), strftime(min(timestamp), '%Y-%m-%dT%H:%M:%SZ'),
               strftime(max(timestamp), '%Y-%m-%dT%H:%M:%SZ')
        FROM f GROUP BY ALL ORDER BY ALL""")
    expected = [
        (r["target"], r["category"], r["sc_status"], r["requests"], r["first_seen"], r["last_seen"])
        for r in scenario.truth["failover"]["rows"]
    ]
    assert rows == expected
    categories = {r[1] for r in rows}
    # no gap_method: a write on a behavior aimed at an origin group needs a config CloudFront refuses
    assert categories == {"eligible", "gap_status", "no_group"}


def test_hit_ratio_and_edge_errors_recount(scenario: Scenario, sql: Any) -> None:
    rows = sql(f"""
        SELECT {_TARGET} AS target, count(*), count(*) FILTER (WHERE cacheable),
               count(*) FILTER (WHERE cacheable AND x_edge_response_result_type <> 'Miss'),
               count(*) FILTER (WHERE cacheable AND x_edge_detailed_result_type = 'OriginShieldHit'),
               sum(sc_bytes) FILTER (WHERE cacheable AND x_edge_response_result_type <> 'Miss')
        FROM (SELECT *, cs_method NOT IN ('POST', 'PUT', 'PATCH', 'DELETE')
                        AND x_edge_response_result_type IN ('Hit', 'RefreshHit', 'Miss')
                        AND cs_protocol NOT IN ('ws', 'wss') AS cacheable FROM cloudfront)
        GROUP BY ALL""")
    expected: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
    for b, v in scenario.truth["hit_ratio"]["by_behavior"].items():
        acc = expected[_TARGETS[b]]
        for i, k in enumerate(("requests", "cacheable_requests", "hits", "origin_shield_hits", "hit_bytes")):
            acc[i] += v[k]
    assert {r[0]: (*r[1:5], r[5] or 0) for r in rows} == {k: tuple(v) for k, v in expected.items()}
    edge = dict(
        sql("""SELECT x_edge_detailed_result_type, count(*) FROM cloudfront
                       WHERE x_edge_detailed_result_type IN ('CapacityExceeded', 'LimitExceeded', 'ClientCommError',
                             'LambdaExecutionError', 'FunctionExecutionError', 'ClientGeoBlocked') GROUP BY 1""")
    )
    assert edge == scenario.truth["edge_errors"]["by_detailed_type"]


def test_waf_rule_matches_recount(scenario: Scenario, sql: Any) -> None:
    rows = sql("""
        WITH g AS (SELECT client_ip, unnest(rule_group_list) AS rg FROM waf),
        m AS (
            SELECT struct_extract(rg, 'rule_group_id') AS grp,
                   struct_extract(struct_extract(rg, 'terminating_rule'), 'rule_id') AS rule, client_ip
            FROM g WHERE struct_extract(rg, 'terminating_rule') IS NOT NULL
            UNION ALL
            SELECT grp, struct_extract(n, 'rule_id'), client_ip FROM (
                SELECT struct_extract(rg, 'rule_group_id') AS grp,
                       unnest(struct_extract(rg, 'non_terminating_matching_rules')) AS n, client_ip FROM g)
            UNION ALL
            SELECT 'webacl', struct_extract(n, 'rule_id'), client_ip
            FROM (SELECT unnest(non_terminating_matching_rules) AS n, client_ip FROM waf))
        SELECT grp, rule, count(*), count(DISTINCT client_ip) FROM m GROUP BY ALL ORDER BY ALL""")
    expected = [
        (r["rule_group"], r["rule_id"], r["matches"], r["distinct_ips"]) for r in scenario.truth["waf"]["rules"]
    ]
    assert rows == expected


@pytest.mark.parametrize("source", ["cloudfront", "waf"])
def test_rate_peaks_recount_by_brute_force(scenario: Scenario, sql: Any, source: str) -> None:
    """Evaluate every 10-s instant of the day for the top IPs, with timestamps read back from the lake."""
    truth = scenario.truth["rate"]["by_source"][source]
    ips = [e["ip"] for e in truth["top_ips"][:8]]
    table, ip_col = ("cloudfront", "c_ip") if source == "cloudfront" else ("waf", "client_ip")
    times: dict[str, list[int]] = defaultdict(list)
    for ip, ms in sql(
        f"SELECT {ip_col}, epoch_ms(timestamp) FROM {table} WHERE {ip_col} IN ({', '.join(repr(i) for i in ips)})"
    ):
        times[ip].append(ms)
    start = min(min(v) for v in times.values()) // 10_000 * 10_000
    end = max(max(v) for v in times.values()) + 10_000
    for entry in truth["top_ips"][:8]:
        ts = sorted(times[entry["ip"]])
        assert len(ts) == entry["requests"]
        for window, want in entry["peaks"].items():
            w = int(window) * 1000
            best = max(bisect_right(ts, t) - bisect_right(ts, t - w) for t in range(start, end, 10_000))
            assert best == want["peak_requests"], (entry["ip"], window)
