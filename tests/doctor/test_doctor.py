"""edgelake doctor on the bundled AWS samples: what it says, its JSON shape, its exit codes, its escaping.

The lake holds every sample config (E2EXAMPLE1 get-distribution, E3EXAMPLE2 get-distribution-config,
the edgelake-www web ACL, the managed cache policies) and the sample logs. What the doctor must say
about them is written out here finding by finding; the scenario's planted findings and its clean twin
are tests/test_doctor_scenario.py.
"""

from __future__ import annotations

import glob
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from helpers import EDGELAKE, ROOT, SAMPLES

from pipeline.doctor import diagnose, fixes
from pipeline.doctor.deploy import refusals
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix, Report
from pipeline.doctor.render import md_text, render, terminal_safe
from pipeline.ingest import IngestOptions, ingest

SCHEMA = json.loads((ROOT / "schemas" / "doctor.schema.json").read_text())


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft202012Validator(SCHEMA).iter_errors(doc)]
    assert errors == []


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("samples") / "lake")
    logs = sorted(glob.glob(str(SAMPLES / "aws-docs" / "*")))
    logs += sorted(p for p in glob.glob(str(SAMPLES / "cloudfront" / "**" / "*"), recursive=True) if Path(p).is_file())
    ingest([p for p in logs if not p.endswith(".md")], root)
    ingest([str(SAMPLES / "waf" / "aws-docs.jsonl")], root, IngestOptions(source="waf"))
    configs = [
        "distribution/E2EXAMPLE1.get-distribution.json",
        "webacl/edgelake-www.get-web-acl.json",
        "cache-policy/managed.list-cache-policies.json",
    ]
    ingest([str(SAMPLES / c) for c in configs], root)
    ingest(
        [str(SAMPLES / "distribution" / "E3EXAMPLE2.get-distribution-config.json")],
        root,
        IngestOptions(distribution_id="E3EXAMPLE2"),
    )
    return root


@pytest.fixture(scope="module")
def report(lake: str) -> Report:
    return diagnose(lake)


def _found(report: Report) -> set[tuple[str, str, str]]:
    return {
        (f.id, f.subject["distribution_id"], f.subject.get("behavior") or f.subject.get("origin") or "")
        for f in report.findings
    }


def test_what_the_doctor_says_about_the_samples(report: Report) -> None:
    assert _found(report) == {
        # E2EXAMPLE1: /api/* runs api-error-pages on origin responses behind api-group
        ("edge-code.hides-failures", "E2EXAMPLE1", "/api/*"),
        # E3EXAMPLE2: plain HTTP viewers on its only behavior, and no web ACL
        ("transport.viewer-allow-all", "E3EXAMPLE2", "*"),
        ("waf.no-acl", "E3EXAMPLE2", ""),
        # the sample logs: origin errors (no config: the origin is the Host header) and one edge error
        ("origin.errors", "EMLARXS9EXAMPLE", "www.example.com"),
        ("origin.errors", "E2QWRUHAPOMQZL", "www.example.com"),
        ("origin.errors", "E1KTQ8R9ZJ4MYB", "media.example.net"),
        ("edge.own-errors", "E2QWRUHAPOMQZL", ""),
    }
    dns = next(f for f in report.findings if f.subject["distribution_id"] == "EMLARXS9EXAMPLE")
    assert dns.fact("by_kind") == {"OriginDnsError": 3}
    assert dns.first_seen == datetime(2019, 12, 13, 22, 36, 26, tzinfo=UTC)
    hides = next(f for f in report.findings if f.id == "edge-code.hides-failures")
    assert hides.fact("functions") == ["arn:aws:lambda:us-east-1:111122223333:function:api-error-pages:7"]
    # E3EXAMPLE2 uses CloudFront's default certificate: its vip/TLSv1 defaults are CloudFront's, not a finding
    assert not [f for f in report.findings if f.id in ("transport.viewer-min-tls", "transport.dedicated-ip")]
    assert [f.severity for f in report.findings][:3] == ["warn", "warn", "warn"]


def test_checks_say_what_they_could_not_look_at(report: Report) -> None:
    checks = {c.id: c for c in report.checks}
    assert len(checks) == 12 and {c.status for c in checks.values()} <= {"ok", "finding", "not_checked"}
    shield = checks["origin-shield.placement"]  # api-primary's Shield, but its name is no AWS endpoint
    assert shield.status == "not_checked" and "api-primary" in shield.notes[0]
    assert any("AWS endpoint" in n for n in shield.needs)
    origin_errors = checks["origin.errors-by-kind"]  # the 2014 sample has 24 fields: no detailed result type
    assert origin_errors.status == "finding"
    assert any("EMLARXS9EXAMPLE" in n and "x-edge-detailed-result-type" in n for n in origin_errors.notes)
    assert checks["waf.configuration"].status == "finding"
    assert any("E2EXAMPLE1: no WAF logs" in n for n in checks["waf.configuration"].notes)
    for c in checks.values():
        assert c.findings == sum(1 for f in report.findings if f.check == c.id)


def test_both_engines_give_the_same_report(report: Report, lake: str) -> None:
    assert diagnose(lake, engine="duckdb").as_json() == report.as_json()


def test_json_follows_the_documented_shape(report: Report) -> None:
    doc = json.loads(render(report, "json"))
    validate(doc)
    assert [f["id"] for f in doc["findings"]] == [f.id for f in report.findings]


def test_suggested_configs_are_ones_cloudfront_accepts(report: Report, lake: str) -> None:
    from pipeline.doctor.context import load

    ctx = load(lake, start=None, end=None, distribution=None, engine="duckdb")
    patched = 0
    for f in report.findings:
        if f.fix is None or f.fix.document != "distribution-config" or not f.fix.patch:
            continue
        doc = ctx.distributions[f.subject["distribution_id"]].document
        assert doc is not None
        assert refusals(fixes.apply(doc, f.fix.patch)) == [], f.id
        patched += 1
    assert patched == 2  # the Lambda association removed, the viewer policy raised


def test_refusals_know_cloudfronts_rules() -> None:
    doc = json.loads((SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json").read_text())
    config = doc["Distribution"]["DistributionConfig"]
    assert refusals(config) == []
    bad = fixes.apply(
        config,
        [
            fixes.replace(
                "/CacheBehaviors/Items/0/AllowedMethods",
                None,
                {
                    "Quantity": 4,
                    "Items": ["GET", "HEAD", "OPTIONS", "POST"],
                    "CachedMethods": {"Quantity": 2, "Items": ["GET", "HEAD"]},
                },
            ),
            fixes.replace("/CacheBehaviors/Items/1/TargetOriginId", "static-s3", "nowhere"),
            fixes.replace(
                "/OriginGroups/Items/0/FailoverCriteria/StatusCodes", None, {"Quantity": 2, "Items": [500, 501]}
            ),
            fixes.replace(
                "/ViewerCertificate/ACMCertificateArn", None, "arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d"
            ),
            fixes.replace("/WebACLId", None, "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/x/1"),
            fixes.replace("/Aliases/Quantity", 1, 2),
        ],
    )
    found = refusals(bad)
    assert len(found) == 6, found
    assert any("AllowedMethods cannot include POST, PUT, PATCH, or DELETE" in r for r in found)


def test_cli_exit_status_and_formats(lake: str, tmp_path: Path) -> None:
    def doctor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EDGELAKE), "doctor", "--lake", lake, *args], capture_output=True, text=True, timeout=300
        )

    warn = doctor("--format", "json")
    assert warn.returncode == 1, warn.stderr
    validate(json.loads(warn.stdout))
    only = doctor("--distribution", "E2EXAMPLE1", "--format", "markdown", "--fail-on", "error")
    assert only.returncode == 0  # its one finding is a warning
    assert only.stdout.startswith("## Findings") and "edge-code.hides-failures" in only.stdout
    assert "E3EXAMPLE2" not in only.stdout
    assert doctor("--format", "yaml").returncode == 2
    assert doctor("--fail-on", "fatal").returncode == 2
    missing = subprocess.run(
        [str(EDGELAKE), "doctor", "--lake", str(tmp_path / "none")], capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 2 and "no edgelake table" in missing.stderr


HOSTILE = "/upload/\x1b[2J\x1b[31m\u202e<script>alert(1)</script>|`*_[x](javascript:alert(1))\n# h\u009b1m"


def test_hostile_values_are_inert_in_every_format() -> None:
    f = Finding(
        "failover.writes-unprotected",
        "failover.writes-unprotected",
        "warn",
        "p",
        {"distribution_id": "E1", "behavior": "/upload/*"},
        f"writes failed on {HOSTILE}",
        [Fact("uri", "a URI", HOSTILE, "logs")],
        samples=[
            {"timestamp": None, "method": "PUT", "uri": HOSTILE, "status": 503, "client_ip": "1", "request_id": "r"}
        ],
        fix=Fix("nothing", notes=(HOSTILE,)),
    )
    report = Report([f], [CheckResult("x", "x", "p")])
    table = render(report, "table")
    assert "\x1b" not in table and "\u202e" not in table and "\u009b" not in table
    assert "\\x1b[2J" in table and "\\u202e" in table
    markdown = render(report, "markdown")
    assert "<script>" not in markdown and "\x1b" not in markdown
    assert not re.search(r"(?<!\\)\]\(", markdown)  # no link: every ] is escaped
    assert "\n# h" not in markdown and "\\<script\\>" in markdown
    for line in markdown.splitlines():
        if line.startswith("| ") and "a URI" in line:
            assert line.count(" | ") == 2  # the hostile | did not open a cell
    text = render(report, "json")
    assert "\x1b" not in text and "<script>" in json.loads(text)["findings"][0]["evidence"]["samples"][0]["uri"]
    assert terminal_safe("a\x00b") == "a\\x00b" and md_text("a|b") == "a\\|b"


def test_patch_application_and_jq_program() -> None:
    doc = {"A": {"Quantity": 1, "Items": ["x"]}, "B": 1}
    patch = [fixes.add("/A/Items/-", "y"), fixes.replace("/A/Quantity", 1, 2), fixes.remove("/B", 1)]
    assert fixes.apply(doc, patch) == {"A": {"Quantity": 2, "Items": ["x", "y"]}}
    assert doc["B"] == 1  # untouched
    assert fixes.jq_program(".X", patch) == '.X | .A.Items += ["y"] | .A.Quantity = 2 | del(.B)'
    with pytest.raises(KeyError):
        fixes.apply(doc, [fixes.replace("/C", None, 1)])


def test_a_rate_limit_below_a_legitimate_peak(tmp_path: Path) -> None:
    """WAF would limit a key the rate analyses call legitimate: the doctor says so and raises the limit."""
    from waf_lines import Req, cf_lines, waf_line

    arn = "arn:aws:wafv2:us-east-1:111122223333:global/webacl/edge/1"  # what waf_lines' records name
    dist = "E2QWRUHAPOMQZL"
    # one viewer, a request every 2 s for 2 minutes (peak 30 per 60 s), answered 200; a second one, 5 requests
    start = int(datetime(2025, 3, 14, 12, 0, tzinfo=UTC).timestamp() * 1000)
    reqs = list(
        enumerate(
            [Req(start + 2_000 * i, "198.51.100.7", dist=dist) for i in range(60)]
            + [Req(start + 9_000 * i, "198.51.100.8", dist=dist) for i in range(5)]
        )
    )
    (tmp_path / "waf.log").write_text("".join(waf_line(n, r) + "\n" for n, r in reqs))
    (tmp_path / f"{dist}.2025-03-14-12.a1b2c3d4").write_text(cf_lines(reqs))
    rule = {
        "Name": "per-ip",
        "Priority": 0,
        "Action": {"Block": {}},
        "Statement": {"RateBasedStatement": {"Limit": 10, "EvaluationWindowSec": 60, "AggregateKeyType": "IP"}},
        "VisibilityConfig": {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "r"},
    }
    acl = {
        "WebACL": {
            "Name": "edge",
            "Id": "1",
            "ARN": arn,
            "DefaultAction": {"Allow": {}},
            "Rules": [rule],
            "Capacity": 2,
        },
        "LockToken": "t-1",
    }
    (tmp_path / "acl.json").write_text(json.dumps(acl))
    doc = json.loads((SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json").read_text())
    doc["Distribution"]["Id"] = dist
    doc["Distribution"]["DistributionConfig"]["WebACLId"] = arn
    (tmp_path / "dist.json").write_text(json.dumps(doc))
    lake = str(tmp_path / "lake")
    summary = ingest(
        [str(tmp_path / n) for n in ("waf.log", f"{dist}.2025-03-14-12.a1b2c3d4", "acl.json", "dist.json")], lake
    )
    assert summary.rejects == 0
    report = diagnose(lake, checks=("waf.configuration",))
    (f,) = [f for f in report.findings if f.id == "waf.rate-limit-below-legit"]
    assert f.subject == {"distribution_id": dist, "web_acl": "edge", "rule": "per-ip"}
    assert (f.fact("limit"), f.fact("window_s"), f.fact("legit_max_peak")) == (10, 60, 30)
    assert f.fact("keys") == [["198.51.100.7", 30]] and f.fact("recommended_limit") == 38  # ceil(30 * 1.25)
    assert f.fix is not None and f.fix.patch == (
        {"op": "replace", "path": "/Rules/0/Statement/RateBasedStatement/Limit", "value": 38, "old": 10},
    )
    patched = fixes.apply(acl["WebACL"], f.fix.patch)
    assert patched["Rules"][0]["Statement"]["RateBasedStatement"]["Limit"] == 38
    assert any("update-web-acl" in c for c in f.fix.commands)


def test_transport_findings_read_the_whole_document(tmp_path: Path) -> None:
    """Config only: S3 without OAC, dedicated-IP SSL, an old viewer policy, match-viewer behind HTTP viewers."""
    doc = json.loads((SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json").read_text())
    config = doc["Distribution"]["DistributionConfig"]
    config["Origins"]["Items"][4]["OriginAccessControlId"] = ""  # static-s3: no OAC, no OAI
    config["Origins"]["Items"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] = "match-viewer"  # web-primary
    config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] = "allow-all"  # -> web-group -> web-primary
    config["ViewerCertificate"] |= {"SSLSupportMethod": "vip", "MinimumProtocolVersion": "TLSv1"}
    (tmp_path / "dist.json").write_text(json.dumps(doc))
    lake = str(tmp_path / "lake")
    ingest([str(tmp_path / "dist.json")], lake)
    report = diagnose(lake, checks=("transport.security",))
    found = {(f.id, f.severity, tuple(sorted(f.subject.items()))) for f in report.findings}
    cert = ("certificate", "arn:aws:acm:us-east-1:111122223333:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789")
    dist = ("distribution_id", "E2EXAMPLE1")
    assert found == {
        ("transport.s3-no-oac", "warn", (dist, ("origin", "static-s3"))),
        ("transport.origin-plaintext", "warn", (dist, ("origin", "web-primary"))),
        ("transport.viewer-allow-all", "warn", (("behavior", "*"), dist)),
        ("transport.viewer-min-tls", "warn", (cert, dist)),
        ("transport.dedicated-ip", "info", (cert, dist)),
    }
    ctx_doc = fixes.apply(config, [op for f in report.findings if f.fix for op in f.fix.patch])
    assert refusals(ctx_doc) == []
    assert ctx_doc["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"


def test_a_distribution_version_that_swapped_the_cache_policy_is_a_cause(tmp_path: Path) -> None:
    from pipeline.doctor.cache import _changes
    from pipeline.doctor.context import load

    src = SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json"
    later = json.loads(src.read_text())
    later["ETag"] = "E9LATER"
    later["Distribution"]["LastModifiedTime"] = "2025-03-20T14:02:00+00:00"
    static = later["Distribution"]["DistributionConfig"]["CacheBehaviors"]["Items"][1]
    static["CachePolicyId"] = "2e54312d-136d-493c-8eb9-b001f22f67d2"  # Amplify: all cookies, all query strings
    (tmp_path / "later.json").write_text(json.dumps(later))
    lake = str(tmp_path / "lake")
    ingest([str(tmp_path / "later.json"), str(src)], lake)
    ctx = load(lake, start=None, end=None, distribution=None, engine="polars")
    dist = ctx.distributions["E2EXAMPLE1"]
    b = next(x for x in dist.behaviors if x.path_pattern == "/static/*")
    (change,) = _changes(ctx, dist, b)
    assert (change.kind, change.grew, change.etags) == ("distribution", True, ("E3QWRUHEXAMPLE", "E9LATER"))
    assert change.what[0].startswith("behavior's cache policy 658327ea") and "cookies: none -> all" in change.what
