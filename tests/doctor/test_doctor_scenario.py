"""edgelake doctor on the ground-truth scenario: every planted finding with its evidence, nothing on the twin.

The small scenario of tests/conftest.py (seed 11, scale 0.05) plants misconfigurations in distribution
E2SCENARIO01 and its web ACL, with traffic that shows them, ships an infrastructure-code draft
CloudFront would refuse (E2DRAFTCONFIG1), and a clean twin (E2CLEANTWIN01, its own web ACL and logs)
configured by the book. The generator counts what the doctor must say (truth.json, section
``doctor``) from its own requests; these tests compare. The lake is the session's scenario lake,
copied, plus the twin, the cache policies, the draft and a distribution whose failing URIs are hostile.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import CF_FIELDS_33, EDGELAKE, cf_record, gz, w3c_text
from test_doctor import validate

from pipeline.doctor import diagnose, fixes
from pipeline.doctor.context import load
from pipeline.doctor.deploy import refusals
from pipeline.doctor.model import Finding, Report
from pipeline.doctor.render import render
from pipeline.ingest import IngestOptions, ingest
from pipeline.readers.cachepolicy import read_cache_policies
from pipeline.readers.webacl import read_web_acl
from pipeline.scenario.world import TWIN

HOSTILE_DIST = "E9HOSTILE0001"
HOSTILE_URI = "/\x1b[2J\x1b]0;pwned\x07<script>alert(1)</script>|`x`*_[a](javascript:alert(1))"
DOCTOR_QUERIES = (
    "doctor-failures",
    "doctor-traffic",
    "doctor-origin-errors",
    "doctor-edge-errors",
    "doctor-constant-bodies",
    "doctor-query-names",
    "doctor-waf-traffic",
)


@pytest.fixture(scope="module")
def lake(small_scenario: Any, small_lake: tuple[str, list[Any]], tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("doctor") / "lake"
    shutil.copytree(small_lake[0], root)
    sc = small_scenario
    extra = ingest([str(sc.twin_dir), str(sc.cache_policy_dir)], str(root), IngestOptions(workers=2))
    assert (extra.rejects, extra.failed) == (0, 0), extra.problems
    ingest([str(sc.draft_config)], str(root), IngestOptions(distribution_id=sc.draft_distribution_id))
    # the URI as CloudFront writes it: bytes <= 32, >= 127 and a few specials percent-encoded
    encoded = "".join(
        f"%{b:02X}" if b <= 32 or b >= 127 or chr(b) in "<>\"#%{}|\\^~[]`' " else chr(b) for b in HOSTILE_URI.encode()
    )
    records = [
        cf_record(
            date="2025-03-14",
            time=f"03:0{i}:00",
            cs_uri_stem=encoded,
            sc_status="502",
            x_edge_result_type="Error",
            x_edge_response_result_type="Error",
            x_edge_detailed_result_type="OriginConnectError",
            x_edge_request_id=f"HOSTILE{i:049d}==",
        )
        for i in range(3)
    ]
    path = Path(root).parent / f"{HOSTILE_DIST}.2025-03-14-03.HOSTILE1.gz"
    path.write_bytes(gz(w3c_text(CF_FIELDS_33, records).encode()))
    ingest([str(path)], str(root))
    return str(root)


@pytest.fixture(scope="module")
def report(lake: str) -> Report:
    return diagnose(lake)


def _key(subject: dict[str, str], fid: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return fid, tuple(sorted(subject.items()))


def _close(want: Any, have: Any) -> bool:
    if isinstance(want, float):
        return math.isclose(want, have, rel_tol=1e-12)
    return bool(want == have)


def test_every_planted_finding_is_reported_with_its_evidence(report: Report, small_scenario: Any) -> None:
    truth = small_scenario.truth["doctor"]
    mine = {truth["distribution_id"], truth["draft"]["distribution_id"]}
    got: dict[Any, Finding] = {
        _key(f.subject, f.id): f for f in report.findings if f.subject["distribution_id"] in mine
    }
    expected = {_key(e["subject"], e["id"]): e for e in truth["findings"] + truth["draft"]["findings"]}
    assert sorted(got) == sorted(expected)
    for key, want in expected.items():
        f = got[key]
        for name, value in want.get("facts", {}).items():
            if name == "started_at":
                assert f.first_seen is not None and f.first_seen.strftime("%Y-%m-%dT%H:%M:%SZ") == value
            elif name == "change_at":
                assert f.fact("change_at").strftime("%Y-%m-%dT%H:%M:%SZ") == value, key
            elif name == "cookie_added":
                assert f"cookie {value} added to the key" in f.fact("change"), f.fact("change")
            else:
                assert _close(value, f.fact(name)), (key, name, value, f.fact(name))
        if "severity" in want:
            assert f.severity == want["severity"]
    # the 5xx storm's writes and /api/me's failures are there at all (not only zero counts agreeing)
    assert (
        got[
            _key(
                {"distribution_id": "E2SCENARIO01", "behavior": "/api/*", "origin": "api-primary"},
                "failover.writes-unprotected",
            )
        ].fact("failures")
        > 0
    )
    hidden = got[
        _key(
            {"distribution_id": "E2SCENARIO01", "behavior": "/api/recommendations*", "origin_group": "api-group"},
            "edge-code.hides-failures",
        )
    ]
    assert hidden.fact("constant_body_responses") >= 4 and hidden.fact("constant_body_bytes") == 23


def test_the_clean_twin_yields_no_finding(report: Report, lake: str) -> None:
    assert [f for f in report.findings if f.subject["distribution_id"] == TWIN.distribution_id] == []
    alone = diagnose(lake, distribution=TWIN.distribution_id)
    assert alone.findings == []
    assert {c.status for c in alone.checks} <= {"ok", "not_checked"}
    assert all(c.status == "ok" for c in alone.checks if c.id != "origin.errors-by-kind"), [
        (c.id, c.status, c.needs) for c in alone.checks
    ]
    twin = subprocess.run(
        [str(EDGELAKE), "doctor", "--lake", lake, "--distribution", TWIN.distribution_id, "--fail-on", "info"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert twin.returncode == 0, twin.stdout + twin.stderr


def test_ranking_and_json_shape(report: Report) -> None:
    ranks = [("info", "warn", "error").index(f.severity) for f in report.findings]
    assert ranks == sorted(ranks, reverse=True)
    for sev in ("error", "warn", "info"):
        touched = [f.requests for f in report.findings if f.severity == sev]
        assert touched == sorted(touched, reverse=True)
    doc = json.loads(render(report, "json"))
    validate(doc)
    assert len(doc["findings"]) == len(report.findings) and report.at_or_above("warn")


def test_evidence_says_where_it_comes_from(report: Report) -> None:
    gap = next(f for f in report.findings if f.id == "failover.gap-429")
    sources = {x.name: x.source for x in gap.facts}
    assert sources["answered_by"] == "inferred" and sources["failures"] == "logs"
    assert sources["failover_status_codes"] == "config"
    assert gap.samples and all(s["status"] == 429 for s in gap.samples) and gap.queries
    assert (
        gap.fix is not None and "429" in json.dumps(gap.fix.patch) and any("moves the load" in n for n in gap.fix.notes)
    )


def test_suggested_configs_are_ones_cloudfront_accepts(report: Report, lake: str) -> None:
    ctx = load(lake, start=None, end=None, distribution=None, engine="duckdb")
    kinds: set[str] = set()
    for f in report.findings:
        fix = f.fix
        if fix is None:
            continue
        if fix.document == "distribution-config" and fix.patch:
            doc = ctx.distributions[f.subject["distribution_id"]].document
            assert doc is not None
            before, after = refusals(doc), refusals(fixes.apply(doc, fix.patch))
            assert set(after) < set(before) if before else after == [], (f.id, after)
        elif fix.document == "web-acl":
            acl = ctx.web_acls[next(a for a in ctx.web_acls if ctx.web_acls[a].name == f.subject["web_acl"])]
            assert acl.document is not None
            patched = fixes.apply(acl.document, fix.patch)
            rules = read_web_acl(json.dumps({"WebACL": patched}).encode(), uri="patched.json")
            crs = rules.filter(rules["rule_name"] == "AWS-AWSManagedRulesCommonRuleSet").row(0, named=True)
            assert {"name": "SizeRestrictions_QUERYSTRING", "action": "COUNT"} in crs["rule_action_overrides"]
        elif fix.document == "cache-policy":
            policy = fix.new_document
            if policy is None:
                pid = next(p for p in ctx.cache_policies if ctx.cache_policies[p].name == f.subject["cache_policy"])
                policy = fixes.apply(ctx.cache_policies[pid].config, fix.patch)
                cookies = policy["ParametersInCacheKeyAndForwardedToOrigin"]["CookiesConfig"]
                assert cookies == {"CookieBehavior": "none"}  # the regression's cookie is out of the key again
            read_cache_policies(
                json.dumps({"CachePolicy": {"Id": "new", "CachePolicyConfig": policy}}).encode(), uri="policy.json"
            )
        else:
            continue
        kinds.add(f"{f.id}:{fix.document}")
    assert {
        "failover.silently-off:distribution-config",
        "waf.fp-blocking:web-acl",
        "cache.hit-ratio-regression:cache-policy",
        "cache.key-defeats-cache:cache-policy",
        "config.write-methods-on-group:distribution-config",
    } <= kinds


def test_hostile_log_values_are_inert_in_every_format(lake: str) -> None:
    hostile = diagnose(lake, distribution=HOSTILE_DIST)
    assert [f.id for f in hostile.findings] == ["origin.errors"] and not hostile.at_or_above("warn")
    table = render(hostile, "table")
    assert "\x1b" not in table and "\x07" not in table and "\\x1b[2J" in table
    markdown = render(hostile, "markdown")
    assert "\x1b" not in markdown and "<script>" not in markdown and "\\<script\\>" in markdown
    doc = json.loads(render(hostile, "json"))
    validate(doc)
    assert doc["findings"][0]["evidence"]["samples"][0]["uri"] == HOSTILE_URI


def test_doctor_queries_agree_on_both_engines(lake: str) -> None:
    """Each sql/doctor/ query and its Polars twin (pipeline/doctor/twins.py): the same rows, in order."""
    from pipeline.analyses import polars_impl
    from pipeline.lake import Lake
    from pipeline.query import named as queries
    from pipeline.query.views import connect, run_named

    con = connect(lake)  # one connection for all: opening the lake's views is the slow part
    try:
        for name in DOCTOR_QUERIES:
            named = queries.get(name)
            bound = named.bind({})
            duck = pl.from_arrow(run_named(con, named, bound))
            twin = polars_impl(name)(Lake(lake), **bound)
            assert isinstance(duck, pl.DataFrame) and duck.columns == twin.columns, name
            assert duck.height == twin.height > 0, name
            for col in duck.columns:
                for x, y in zip(duck.get_column(col).to_list(), twin.get_column(col).to_list(), strict=True):
                    assert _close(x, y) if isinstance(x, float) else x == y, (name, col, x, y)
    finally:
        con.close()


def test_without_cache_policies_the_checks_say_what_they_need(small_lake: tuple[str, list[Any]]) -> None:
    """The session's lake has the distribution but none of its custom cache policies."""
    report = diagnose(small_lake[0], checks=("cache.key-defeats-cache", "cache.hit-ratio-regression"))
    key = next(c for c in report.checks if c.id == "cache.key-defeats-cache")
    assert any("get-cache-policy --id 7d3e9a51-2c4b-4f8d-a6e0-91b5c3d7f248" in n for n in key.needs), key.needs
    assert any("/static/*" in n for n in key.notes)
    (found,) = [f for f in report.findings if f.id == "cache.hit-ratio-regression"]
    assert "no ingested config change explains it" in found.summary
    with pytest.raises(KeyError):
        found.fact("change_at")
