"""waf-fp-candidates on both engines: hand-built WAF records and CloudFront lines in a tmp lake.

The data set plants rules whose evidence is known by construction:

* ``AWS#AWSManagedRulesCommonRuleSet / SizeRestrictions_BODY`` (rule overridden to Count): 40 uploads
  from 40 IPs on two paths, 38 of them answered 200 by CloudFront -- a clear false positive;
* ``webacl / block-probe-paths`` (web-ACL Count rule): 30 probes from 2 reputation-listed IPs on 30
  paths, answered 404 -- a clear true positive; its first 10 also hit the legacy excluded
  ``AWS#AWSManagedRulesSQLiRuleSet / SQLi_QUERYARGUMENTS``;
* ``AWS#AWSManagedRulesKnownBadInputsRuleSet / Log4JRCE_HEADER`` terminating 5 requests with BLOCK, and
  ``webacl / block-bad-ua`` (a regular rule) terminating 3;
* ``AWS#AWSManagedRulesAnonymousIpList / HostingProviderIPList``: the group runs with OverrideAction
  Count: its terminatingRule says BLOCK on 6 ALLOWed requests, on 1 blocked by block-bad-ua and on 1
  blocked by the KnownBadInputs group listed after it; the group-reference rule
  ``AWS-AWSManagedRulesAnonymousIpList`` is counted at web-ACL level on 7 of them;
* ``AWS#AWSManagedRulesCommonRuleSet / CrossSiteScripting_BODY`` on 4 requests with hostile URIs and
  matched data; ``webacl / count-by-design`` on 3; records that must never be listed (a Count-by-design
  rule inside a group, a passed CAPTCHA, another distribution, a record outside the time window).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import CF_FIELDS_33, EDGELAKE, aws_encode, cf_record, w3c_text, write

from pipeline.analyses import run
from pipeline.errors import LakeError
from pipeline.ingest import IngestOptions, ingest

NAME = "waf-fp-candidates"
DIST = "E2QWRUHAPOMQZL"
ACL_ARN = "arn:aws:wafv2:us-east-1:111122223333:global/webacl/edge-acl/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
T0 = 1_741_953_600_000  # 2025-03-14T12:00:00Z in epoch ms
CRS = "AWS#AWSManagedRulesCommonRuleSet"
SQLI = "AWS#AWSManagedRulesSQLiRuleSet"
KBI = "AWS#AWSManagedRulesKnownBadInputsRuleSet"
ANON = "AWS#AWSManagedRulesAnonymousIpList"
BOT = "AWS#AWSManagedRulesBotControlRuleSet"
REPUTATION = "awswaf:managed:aws:amazon-ip-list:AWSManagedIPReputationList"
HOSTING = "awswaf:managed:aws:anonymous-ip-list:HostingProviderIPList"
HOSTING_BLOCK = {"ruleId": "HostingProviderIPList", "action": "BLOCK", "ruleMatchDetails": None}
HOSTILE_URIS = ["/search/<script>alert(1)</script>", "/q/'; DROP TABLE users;--", "/p/100%25%", '/x/"quoted"']
HOSTILE_DATA = [["<script>", "alert(1)"], ["'; DROP TABLE users;--"], ["100%"], ['"quoted"']]
KEY = ["rule_group", "rule_id", "match_kind"]
COLUMNS = [
    "rule_group",
    "rule_id",
    "match_kind",
    "would_be_action",
    "matches",
    "distinct_ips",
    "requests_per_ip",
    "distinct_uris",
    "top_uris",
    "methods",
    "countries",
    "joined_requests",
    "share_2xx_3xx",
    "bot_labels_share",
    "co_rules",
    "locations",
    "sample_matched_data",
    "fp_score",
    "verdict",
    "reasons",
]


# --- input builders ----------------------------------------------------------------------------------
def group(
    rule_group: str,
    *,
    terminating: dict[str, Any] | None = None,
    counted: list[dict[str, Any]] | None = None,
    excluded: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "ruleGroupId": rule_group,
        "terminatingRule": terminating,
        "nonTerminatingMatchingRules": counted or [],
        "excludedRules": [{"exclusionType": "EXCLUDED_AS_COUNT", "ruleId": r} for r in excluded] if excluded else None,
        "customerConfig": None,
    }


def details(location: str, data: list[str]) -> list[dict[str, Any]]:
    return [{"conditionType": "XSS", "sensitivityLevel": "HIGH", "location": location, "matchedData": data}]


def waf_rec(
    n: int,
    *,
    ip: str,
    uri: str,
    method: str = "GET",
    country: str = "US",
    action: str = "ALLOW",
    terminating: str = "Default_Action",
    terminating_type: str = "REGULAR",
    groups: list[dict[str, Any]] | None = None,
    webacl_counts: list[dict[str, Any]] | None = None,
    labels: list[str] | None = None,
    dist: str = DIST,
    ts: int | None = None,
    terminating_details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "timestamp": T0 + n * 1000 if ts is None else ts,
        "formatVersion": 1,
        "webaclId": ACL_ARN,
        "terminatingRuleId": terminating,
        "terminatingRuleType": terminating_type,
        "action": action,
        "terminatingRuleMatchDetails": terminating_details or [],
        "httpSourceName": "CF",
        "httpSourceId": dist,
        "ruleGroupList": groups or [],
        "rateBasedRuleList": [],
        "nonTerminatingMatchingRules": webacl_counts or [],
        "requestHeadersInserted": None,
        "responseCodeSent": None,
        "httpRequest": {
            "clientIp": ip,
            "country": country,
            "headers": [{"name": "host", "value": "www.example.com"}],
            "uri": uri,
            "args": "",
            "httpVersion": "HTTP/2.0",
            "httpMethod": method,
            "requestId": f"req-{n:04d}",
        },
        "labels": [{"name": x} for x in labels or []],
    }


def build_records() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """WAF records, and the CloudFront status of each request id that CloudFront logged."""
    recs: list[dict[str, Any]] = []
    status: dict[str, int] = {}

    def add(rec: dict[str, Any], cf_status: int | None) -> None:
        recs.append(rec)
        if cf_status is not None:
            status[rec["httpRequest"]["requestId"]] = cf_status

    n = 0
    for i in range(40):  # the false positive: uploads from 40 IPs, 38 of them served 200
        override = {
            "ruleId": "SizeRestrictions_BODY",
            "action": "COUNT",
            "overriddenAction": "BLOCK",
            "ruleMatchDetails": None,
        }
        add(
            waf_rec(
                n,
                ip=f"198.51.100.{i}",
                uri="/api/avatar" if i % 4 == 3 else "/api/upload",
                method="POST",
                country="DE" if i % 2 else "US",
                groups=[group(CRS, counted=[override])],
                labels=["awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"],
            ),
            502 if i in (5, 6) else 200,
        )
        n += 1
    for i in range(30):  # the true positive: probes from two reputation-listed IPs, 404 everywhere
        ip = "203.0.113.5" if i < 20 else "203.0.113.6"
        groups = [group(SQLI, excluded=["SQLi_QUERYARGUMENTS"])] if i < 10 else [group(SQLI)]
        add(
            waf_rec(
                n,
                ip=ip,
                uri=f"/probe/{i:02d}.php",
                country="RU",
                groups=groups,
                webacl_counts=[{"ruleId": "block-probe-paths", "action": "COUNT", "ruleMatchDetails": []}],
                labels=[REPUTATION],
            ),
            404,
        )
        n += 1
    for i in range(5):  # a managed rule already blocking
        terminating = {
            "ruleId": "Log4JRCE_HEADER",
            "action": "BLOCK",
            "ruleMatchDetails": details("HEADER", ["${jndi:ldap://x}"]),
        }
        # the first one is also counted by the anonymous-IP group (Count override), listed before the
        # group that ended evaluation: only the last BLOCK entry terminated
        first = [group(ANON, terminating=HOSTING_BLOCK)] if i == 0 else []
        add(
            waf_rec(
                n,
                ip=f"192.0.2.{i}",
                uri="/",
                action="BLOCK",
                terminating="AWS-AWSManagedRulesKnownBadInputsRuleSet",
                terminating_type="MANAGED_RULE_GROUP",
                groups=[*first, group(CRS), group(KBI, terminating=terminating)],
            ),
            403,
        )
        n += 1
    hosting_block = HOSTING_BLOCK
    anon_count = [{"ruleId": "AWS-AWSManagedRulesAnonymousIpList", "action": "COUNT", "ruleMatchDetails": []}]
    for i in range(3):  # a regular rule already blocking; the first request also counted by the anon group
        groups = [group(ANON, terminating=hosting_block)] if i == 0 else []
        add(
            waf_rec(
                n,
                ip="192.0.2.50",
                uri="/login",
                method="POST",
                action="BLOCK",
                terminating="block-bad-ua",
                groups=groups,
                webacl_counts=anon_count if i == 0 else None,
                labels=[HOSTING] if i == 0 else None,
                terminating_details=details("HEADER", ["curl/8.0"]),
            ),
            403,
        )
        n += 1
    for i in range(6):  # a whole group in Count mode: its terminatingRule says BLOCK, the request is allowed
        add(
            waf_rec(
                n,
                ip=f"100.64.0.{i}",
                uri="/home",
                groups=[group(ANON, terminating=hosting_block)],
                webacl_counts=anon_count,
                labels=[HOSTING],
            ),
            200 if i < 4 else None,
        )
        n += 1
    for i, (uri, data) in enumerate(zip(HOSTILE_URIS, HOSTILE_DATA, strict=True)):  # hostile strings
        xss = {
            "ruleId": "CrossSiteScripting_BODY",
            "action": "COUNT",
            "overriddenAction": "BLOCK",
            "ruleMatchDetails": details("BODY", data),
        }
        add(waf_rec(n, ip=f"198.18.0.{i}", uri=uri, method="POST", groups=[group(CRS, counted=[xss])]), 200)
        n += 1
    for _ in range(3):  # a web-ACL Count rule that the web ACL (when ingested) says counts by design
        add(
            waf_rec(
                n,
                ip="198.18.1.1",
                uri="/healthz",
                webacl_counts=[{"ruleId": "count-by-design", "action": "COUNT", "ruleMatchDetails": []}],
            ),
            200,
        )
        n += 1
    # never listed: a group rule counting by design, a passed CAPTCHA, other distribution, out of window
    add(
        waf_rec(
            n,
            ip="198.18.2.1",
            uri="/",
            groups=[
                group(BOT, counted=[{"ruleId": "CategorySearchEngine", "action": "COUNT", "ruleMatchDetails": None}])
            ],
            webacl_counts=[{"ruleId": "captcha-login", "action": "CAPTCHA", "ruleMatchDetails": []}],
            labels=["awswaf:managed:aws:bot-control:bot:category:search_engine"],
        ),
        200,
    )
    n += 1
    override = {"ruleId": "SizeRestrictions_BODY", "action": "COUNT", "overriddenAction": "BLOCK"}
    add(waf_rec(n, ip="198.18.3.1", uri="/api/upload", dist="EOTHERDIST", groups=[group(CRS, counted=[override])]), 200)
    n += 1
    add(waf_rec(n, ip="198.18.3.2", uri="/api/upload", ts=T0 - 3_600_000, groups=[group(CRS, counted=[override])]), 200)
    return recs, status


def cf_lines(status: dict[str, int]) -> str:
    records = []
    for i, (request_id, code) in enumerate(sorted(status.items())):
        records.append(
            cf_record(
                x_edge_request_id=request_id,
                sc_status=str(code),
                c_ip=f"10.0.0.{i % 250}",
                cs_uri_stem=aws_encode(f"/r/{i}"),
                time=f"12:{i // 60:02d}:{i % 60:02d}",
            )
        )
    records.append(cf_record(x_edge_request_id="req-0000", sc_status="200"))  # a duplicate row for one id
    return w3c_text(CF_FIELDS_33, records)


WEB_ACL = {
    "WebACL": {
        "Name": "edge-acl",
        "Id": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9",
        "ARN": ACL_ARN,
        "DefaultAction": {"Allow": {}},
        "Rules": [
            {
                "Name": "count-by-design",
                "Priority": 0,
                "Action": {"Count": {}},
                "Statement": {
                    "ByteMatchStatement": {
                        "SearchString": "L2hlYWx0aHo=",
                        "FieldToMatch": {"UriPath": {}},
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                        "PositionalConstraint": "EXACTLY",
                    }
                },
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "count-by-design",
                },
            },
            {
                "Name": "AWS-AWSManagedRulesAnonymousIpList",
                "Priority": 1,
                "OverrideAction": {"Count": {}},
                "Statement": {
                    "ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": "AWSManagedRulesAnonymousIpList"}
                },
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "anon",
                },
            },
            {
                "Name": "block-probe-paths",
                "Priority": 2,
                "Action": {"Block": {}},
                "Statement": {
                    "ByteMatchStatement": {
                        "SearchString": "L3Byb2Jl",
                        "FieldToMatch": {"UriPath": {}},
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                        "PositionalConstraint": "STARTS_WITH",
                    }
                },
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "probes",
                },
            },
        ],
    }
}


def make_lake(root: Path, *, web_acl: bool) -> str:
    recs, status = build_records()
    inputs = [
        write(root / "in" / "edge-acl_waflogs.log", "".join(json.dumps(r) + "\n" for r in recs)),
        write(root / "in" / "E2QWRUHAPOMQZL.2025-03-14-12.abcd1234", cf_lines(status)),
    ]
    if web_acl:
        inputs.append(write(root / "in" / "edge-acl.get-web-acl.json", json.dumps(WEB_ACL)))
    lake = str(root / "lake")
    summary = ingest(inputs, lake, IngestOptions())
    assert summary.rejects == 0, summary.problems
    return lake


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_lake(tmp_path_factory.mktemp("waf-fp"), web_acl=False)


@pytest.fixture(scope="module")
def acl_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_lake(tmp_path_factory.mktemp("waf-fp-acl"), web_acl=True)


# --- running and comparing ---------------------------------------------------------------------------
WINDOW = {"distribution": DIST, "start": "2025-03-14T12:00:00Z"}


def both(lake: str, params: dict[str, Any] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    return run(NAME, lake, params or {}, engine="duckdb"), run(NAME, lake, params or {}, engine="polars")


def assert_same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Same columns and dtypes, same rows (after sorting by the key): counts and lists exact, floats to 1e-9."""
    assert a.columns == b.columns == COLUMNS
    assert a.schema == b.schema
    left, right = a.sort(KEY).to_dicts(), b.sort(KEY).to_dicts()
    assert [tuple(r[k] for k in KEY) for r in left] == [tuple(r[k] for k in KEY) for r in right]
    for x, y in zip(left, right, strict=True):
        for col in COLUMNS:
            if isinstance(x[col], float) or isinstance(y[col], float):
                assert x[col] == pytest.approx(y[col], rel=1e-9, abs=1e-12), (x[KEY[1]], col)
            else:
                assert x[col] == y[col], (x[KEY[1]], col)


def rows_by_key(frame: pl.DataFrame) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["rule_group"], r["rule_id"], r["match_kind"]): r for r in frame.to_dicts()}


def score(ips: int, matches: int, uris: int, ok_share: float | None, bot_share: float) -> float:
    """The documented fp_score, computed independently of both engines."""
    rpi = matches / ips
    s_ips = min(1.0, math.log10(ips) / 2)
    s_rpi = min(1.0, max(0.0, 1 - math.log10(rpi) / 2))
    s_ok = 0.5 if ok_share is None else ok_share
    s_focus = 1 - (uris - 1) / matches
    return 0.25 * s_ips + 0.20 * s_rpi + 0.25 * s_ok + 0.15 * (1 - bot_share) + 0.15 * s_focus


# --- the tests ---------------------------------------------------------------------------------------
def test_rules_kinds_and_evidence(lake: str) -> None:
    frame = run(NAME, lake, WINDOW)
    rows = rows_by_key(frame)
    assert set(rows) == {
        (CRS, "SizeRestrictions_BODY", "rule_override"),
        (CRS, "CrossSiteScripting_BODY", "rule_override"),
        ("webacl", "block-probe-paths", "webacl_count"),
        ("webacl", "count-by-design", "webacl_count"),
        ("webacl", "AWS-AWSManagedRulesAnonymousIpList", "webacl_count"),
        (SQLI, "SQLi_QUERYARGUMENTS", "excluded"),
        (ANON, "HostingProviderIPList", "group_count"),
        (KBI, "Log4JRCE_HEADER", "terminating"),
        ("webacl", "block-bad-ua", "terminating"),
    }  # never: the group's own Count rule, the passed CAPTCHA

    fp = rows[(CRS, "SizeRestrictions_BODY", "rule_override")]
    assert (fp["matches"], fp["distinct_ips"], fp["distinct_uris"], fp["joined_requests"]) == (40, 40, 2, 40)
    assert fp["requests_per_ip"] == 1.0
    assert fp["would_be_action"] == "BLOCK"
    assert fp["top_uris"] == ["/api/upload", "/api/avatar"]
    assert fp["methods"] == ["POST"]
    assert fp["countries"] == ["DE", "US"]  # 20 each: ties by value
    assert fp["share_2xx_3xx"] == pytest.approx(38 / 40)
    assert fp["bot_labels_share"] == 0.0
    assert fp["co_rules"] == [] and fp["locations"] == [] and fp["sample_matched_data"] == []
    assert fp["fp_score"] == pytest.approx(score(40, 40, 2, 38 / 40, 0.0), rel=1e-12)
    assert fp["verdict"] == "likely_false_positive"
    assert fp["reasons"] == [
        "95% served 2xx/3xx by the origin",
        "1.0 requests per IP",
        "40 distinct IPs",
        "no bot or reputation labels",
        "2 distinct URIs in 40 matches",
    ]

    tp = rows[("webacl", "block-probe-paths", "webacl_count")]
    assert (tp["matches"], tp["distinct_ips"], tp["distinct_uris"], tp["joined_requests"]) == (30, 2, 30, 30)
    assert tp["requests_per_ip"] == 15.0
    assert tp["share_2xx_3xx"] == 0.0 and tp["bot_labels_share"] == 1.0
    assert tp["top_uris"] == [f"/probe/{i:02d}.php" for i in range(5)]
    assert tp["co_rules"] == [f"{SQLI}/SQLi_QUERYARGUMENTS"]
    assert tp["fp_score"] == pytest.approx(score(2, 30, 30, 0.0, 1.0), rel=1e-12)
    assert tp["verdict"] == "likely_true_positive"
    assert tp["reasons"][:3] == [
        "0% served 2xx/3xx by the origin",
        "2 distinct IPs",
        "100% carry bot or reputation labels",
    ]

    excluded = rows[(SQLI, "SQLi_QUERYARGUMENTS", "excluded")]
    assert (excluded["matches"], excluded["distinct_ips"], excluded["verdict"]) == (10, 1, "likely_true_positive")
    assert excluded["co_rules"] == ["webacl/block-probe-paths"]

    blocking = rows[(KBI, "Log4JRCE_HEADER", "terminating")]
    assert (blocking["matches"], blocking["distinct_ips"], blocking["verdict"]) == (5, 5, "already_blocking")
    assert blocking["locations"] == ["HEADER"] and blocking["sample_matched_data"] == ["${jndi:ldap://x}"]
    assert blocking["share_2xx_3xx"] == 0.0
    assert blocking["co_rules"] == [f"{ANON}/HostingProviderIPList"]
    regular = rows[("webacl", "block-bad-ua", "terminating")]
    assert (regular["matches"], regular["distinct_ips"], regular["verdict"]) == (3, 1, "already_blocking")

    hosting = rows[(ANON, "HostingProviderIPList", "group_count")]
    assert (hosting["matches"], hosting["distinct_ips"], hosting["joined_requests"]) == (8, 8, 6)
    assert hosting["share_2xx_3xx"] == pytest.approx(4 / 6)
    assert hosting["bot_labels_share"] == pytest.approx(7 / 8)  # the KBI-blocked one carries no label
    assert rows[("webacl", "AWS-AWSManagedRulesAnonymousIpList", "webacl_count")]["matches"] == 7

    verdicts = frame.get_column("verdict").to_list()
    assert verdicts[-2:] == ["already_blocking", "already_blocking"]
    scores = frame.get_column("fp_score").to_list()
    assert scores[:-2] == sorted(scores[:-2], reverse=True)
    assert frame.columns == COLUMNS


@pytest.mark.parametrize(
    "params",
    [
        {},
        WINDOW,
        {**WINDOW, "top": 2},
        {"distribution": "EOTHERDIST"},
        {"end": "2025-03-14T12:00:00Z"},
        {"start": "2030-01-01T00:00:00Z"},
    ],
)
def test_engines_agree(lake: str, params: dict[str, Any]) -> None:
    duck, polars = both(lake, params)
    assert_same(duck, polars)


def test_engines_agree_with_a_web_acl(acl_lake: str) -> None:
    duck, polars = both(acl_lake, WINDOW)
    assert_same(duck, polars)


def test_parameters_filter_and_limit(lake: str) -> None:
    other = run(NAME, lake, {"distribution": "EOTHERDIST"}, engine="polars")
    assert other.select(*KEY, "matches").rows() == [(CRS, "SizeRestrictions_BODY", "rule_override", 1)]
    before = run(NAME, lake, {"end": "2025-03-14T12:00:00Z"})  # only the record an hour early
    assert before.select(*KEY, "matches").rows() == [(CRS, "SizeRestrictions_BODY", "rule_override", 1)]
    everything = rows_by_key(run(NAME, lake, {}))
    assert everything[(CRS, "SizeRestrictions_BODY", "rule_override")]["matches"] == 42
    for engine in ("duckdb", "polars"):
        limited = rows_by_key(run(NAME, lake, {**WINDOW, "top": 2}, engine=engine))
        tp = limited[("webacl", "block-probe-paths", "webacl_count")]
        assert tp["top_uris"] == ["/probe/00.php", "/probe/01.php"]
        assert len(limited[(CRS, "CrossSiteScripting_BODY", "rule_override")]["sample_matched_data"]) == 2
        assert tp["matches"] == 30  # top limits lists, not counts


def test_web_acl_decides_web_acl_count_rules(acl_lake: str) -> None:
    for engine in ("duckdb", "polars"):
        rows = rows_by_key(run(NAME, acl_lake, WINDOW, engine=engine))
        # configured as Count in the ACL: exactly what a rollout would flip to Block, so a candidate
        assert rows[("webacl", "count-by-design", "webacl_count")]["would_be_action"] == "BLOCK"
        assert ("webacl", "AWS-AWSManagedRulesAnonymousIpList", "webacl_count") not in rows  # a group
        assert rows[("webacl", "block-probe-paths", "webacl_count")]["would_be_action"] == "BLOCK"
        assert rows[(ANON, "HostingProviderIPList", "group_count")]["matches"] == 8
        assert rows[(ANON, "HostingProviderIPList", "group_count")]["co_rules"] == [
            f"{KBI}/Log4JRCE_HEADER",
            "webacl/block-bad-ua",
        ]  # one shared record each: ties by value


def test_hostile_strings_pass_through(lake: str) -> None:
    for engine in ("duckdb", "polars"):
        rows = rows_by_key(run(NAME, lake, {**WINDOW, "top": 10}, engine=engine))
        xss = rows[(CRS, "CrossSiteScripting_BODY", "rule_override")]
        assert xss["top_uris"] == sorted(HOSTILE_URIS)  # one match each: ties by value
        assert xss["sample_matched_data"] == sorted(" ".join(d) for d in HOSTILE_DATA)
        assert xss["locations"] == ["BODY"]
        assert xss["matches"] == 4 and xss["share_2xx_3xx"] == 1.0


def test_empty_lake(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    duck, polars = both(str(tmp_path / "empty"))
    assert duck.height == polars.height == 0
    assert duck.columns == polars.columns == COLUMNS
    for engine in ("duckdb", "polars"):  # a directory that does not exist is no lake, on either engine
        with pytest.raises(LakeError, match="no lake at"):
            run(NAME, str(tmp_path / "missing"), engine=engine)


def test_cli_json(lake: str) -> None:
    done = subprocess.run(
        [
            str(EDGELAKE),
            "query",
            NAME,
            "--lake",
            lake,
            "--format",
            "json",
            "--param",
            f"distribution={DIST}",
            "--param",
            "start=2025-03-14T12:00:00Z",
            "--engine",
            "polars",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    first = rows[0]
    assert first["rule_id"] == "SizeRestrictions_BODY"
    assert list(first) == COLUMNS
    assert (first["matches"], first["distinct_ips"], first["verdict"]) == (40, 40, "likely_false_positive")
    assert first["top_uris"] == ["/api/upload", "/api/avatar"]
