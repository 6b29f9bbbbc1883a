"""The analyses recover the scenario generator's planted facts, on both engines.

The generator (pipeline/scenario) writes a day of CloudFront, WAF and real-time logs for one distribution
with a 5xx storm, a 429 storm (the Streamhaul incident), writes failing in an outage, a single-origin
behavior failing, a cache-key regression after a deploy, WAF Count-mode false positives next to true
positives, credential stuffing and a busy office NAT, and counts each fact itself while it writes
(truth.json), without the pipeline's readers or matchers. The lake is built from those files by the
ordinary ingest; the assertions compare analysis rows with the generator's literal counts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from test_analysis_edge import both

from pipeline.ingest import IngestOptions, ingest
from pipeline.readers.realtime import load_fields
from pipeline.scenario import generate

SCALE = 0.2


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("scenario")
    scen = generate(root / "logs", seed=7, scale=SCALE)
    lake = str(root / "lake")
    main = ingest([str(scen.cloudfront_dir), str(scen.waf_dir), str(scen.distribution_config), str(scen.web_acl)], lake)
    assert main.rejects == 0 and main.failed == 0, main.problems
    rt = ingest(
        [str(scen.realtime_dir)],
        lake,
        IngestOptions(
            source="realtime",
            realtime_fields=load_fields(str(scen.realtime_config)),
            distribution_id=scen.distribution_id,
        ),
    )
    assert rt.rejects == 0, rt.problems
    truth = json.loads((scen.root / "truth.json").read_text())
    assert main.rows["cloudfront"] == truth["totals"]["cloudfront_requests"]
    return lake, truth


def test_failover_rows_are_the_generators(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    got = both("failover", lake)
    expected = truth["failover"]["rows"]
    assert len(expected) > 0
    key = ("target", "category", "sc_status")
    want = {tuple(r[k] for k in key): (r["requests"], _ts(r["first_seen"]), _ts(r["last_seen"])) for r in expected}
    have = {tuple(r[k] for k in key): (r["requests"], r["first_seen"], r["last_seen"]) for r in got.to_dicts()}
    assert have == want


@pytest.mark.parametrize("fact", ["storm_5xx", "writes_outage", "storm_429", "storm_429_video", "single_origin"])
def test_planted_failure_windows(world: tuple[str, dict[str, Any]], fact: str) -> None:
    lake, truth = world
    planted = truth["planted"][fact]
    window = {"start": planted["window"]["start"], "end": planted["window"]["end"]}
    got = both("failover", lake, window)
    mine = got.filter((pl.col("target") == planted["target"]) & (pl.col("category") == planted["category"]))
    assert {str(s): n for s, n in mine.select("sc_status", "requests").rows()} == planted["by_status"]
    assert mine.get_column("requests").sum() == planted["requests"]


def test_the_429_storm_is_a_gap_and_the_video_429s_are_eligible(world: tuple[str, dict[str, Any]]) -> None:
    lake, _truth = world
    got = both("failover", lake, {"start": "2025-03-14T20:00:00Z", "end": "2025-03-14T20:30:00Z"})
    web = got.filter((pl.col("target") == "web-group") & (pl.col("sc_status") == 429))
    assert web.get_column("category").unique().to_list() == ["gap_status"]
    video = got.filter((pl.col("target") == "media-group") & (pl.col("sc_status") == 429))
    assert video.get_column("category").unique().to_list() == ["eligible"]


def test_edge_errors_are_not_origin_failures(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    counted = both("failover", lake).get_column("requests").sum()
    failures_total = sum(r["requests"] for r in truth["failover"]["rows"])
    assert counted == failures_total
    assert truth["edge_errors"]["waf_blocked"] > 0 and truth["edge_errors"]["by_detailed_type"]


def test_hit_ratio_per_behavior(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    got = {r["behavior"]: r for r in both("hit-ratio", lake).to_dicts()}
    for behavior, want in truth["hit_ratio"]["by_behavior"].items():
        row = got[behavior]
        assert (row["requests"], row["cacheable_requests"], row["hits"]) == (
            want["requests"],
            want["cacheable_requests"],
            want["hits"],
        ), behavior
        assert row["hit_ratio"] == pytest.approx(want["hits"] / want["cacheable_requests"], rel=1e-12)
        assert row["byte_hit_ratio"] == pytest.approx(want["hit_bytes"] / want["cacheable_bytes"], rel=1e-12)
        assert row["origin_offload"] == pytest.approx(
            (want["hits"] + want["origin_shield_hits"]) / want["cacheable_requests"], rel=1e-12
        )


def test_hourly_hit_ratio_and_the_regression(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    hourly = both("hit-ratio", lake, {"bucket": "hour"})
    have = {(r["behavior"], r["bucket_start"]): (r["cacheable_requests"], r["hits"]) for r in hourly.to_dicts()}
    for want in truth["hit_ratio"]["hourly"]:
        assert have[(want["behavior"], _ts(want["bucket_start"]))] == (want["cacheable_requests"], want["hits"])
    regressions = both("hit-ratio-regressions", lake, {"min_cacheable": 20})
    static = regressions.filter(pl.col("behavior") == "/static/*")
    assert static.height == 1, regressions
    row = static.row(0, named=True)
    deploy = truth["hit_ratio"].get("deploy_at") or "2025-03-14T14:00:00Z"
    assert row["started_at"] == _ts(deploy)
    assert row["baseline_ratio"] > 0.88 and row["ratio_during"] < 0.78
    assert set(regressions.get_column("behavior").to_list()) == {"/static/*"}  # nothing else regressed


def test_waf_false_positive_verdicts(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    got = both("waf-fp-candidates", lake)
    for rule in truth["waf"]["rules"]:
        if rule.get("expected_verdict") is None:
            continue
        rows = got.filter((pl.col("rule_group") == rule["rule_group"]) & (pl.col("rule_id") == rule["rule_id"]))
        assert rows.height >= 1, rule
        verdicts = set(rows.get_column("verdict").to_list())
        assert rule["expected_verdict"] in verdicts, (rule, rows.select("match_kind", "verdict", "fp_score"))
        if rule["would_block"]:
            counted = rows.filter(pl.col("verdict") != "already_blocking")
            assert counted.get_column("matches").sum() == rule["matches"], rule
            assert counted.get_column("distinct_ips").max() == rule["distinct_ips"], rule


def test_status_mix_reaches_every_target(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    mix = both("status-mix", lake)
    assert set(mix.get_column("origin").to_list()) >= {
        "api-group",
        "upload-origin",
        "static-s3",
        "media-group",
        "web-group",
    }
    per_origin = mix.group_by("origin").agg(pl.col("share").sum())
    assert all(abs(s - 1.0) < 1e-9 for s in per_origin.get_column("share").to_list())
    assert mix.get_column("requests").sum() == truth["totals"]["cloudfront_requests"]


def test_realtime_log_gives_the_same_video_hit_ratio(world: tuple[str, dict[str, Any]]) -> None:
    lake, truth = world
    rt = both("hit-ratio", lake, {"log": "realtime"})
    video = rt.filter(pl.col("behavior") == "/video/*").row(0, named=True)
    want = truth["hit_ratio"]["by_behavior"]["/video/*"]
    assert (video["requests"], video["hits"]) == (want["requests"], want["hits"])
