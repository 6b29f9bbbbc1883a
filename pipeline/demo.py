"""``make demo``: a day at the edge, generated, ingested and analysed, with no AWS account.

Two parts, both through the same library calls as the CLI. First every bundled sample in
``data/samples/`` (AWS's documentation examples, legacy 24- and 33-field files, v2 JSON and Parquet,
real-time logs with their field config, WAF logs, distribution configs, a web ACL, managed cache
policies, and the bad-input corpus whose lines land in ``rejects`` with their reasons) goes into one
lake, and the doctor says what it finds there. Then the scenario generator writes a realistic day for
one distribution (the Streamhaul incident and friends, its clean twin, its cache policies and a draft
config CloudFront would refuse), which is ingested into a second lake, put through the named analyses
and the doctor, and written up as both HTML reports.
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path
from typing import Any

from pipeline.errors import EdgelakeError
from pipeline.ingest import IngestOptions, ingest
from pipeline.query.render import render
from pipeline.query.views import connect, query
from pipeline.readers.realtime import load_fields
from pipeline.times import parse_instant

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


def _files(*patterns: str) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        found.extend(sorted(glob.glob(str(SAMPLES / pattern), recursive=True)))
    # README files and the scripts that rebuilt the samples (`_make.py`) are not logs
    return [f for f in found if Path(f).is_file() and not f.endswith(".md") and not Path(f).name.startswith("_")]


def _steps() -> list[tuple[str, list[str], IngestOptions]]:
    realtime_config = SAMPLES / "realtime" / "realtime-config.json"
    rt_fields = load_fields(str(realtime_config)) if realtime_config.exists() else None
    return [
        (
            "CloudFront standard logs: AWS documentation examples, legacy and v2",
            _files("aws-docs/*", "cloudfront/**/*"),
            IngestOptions(),
        ),
        (
            "CloudFront real-time logs (fields from the real-time log config)",
            _files("realtime/**/*.gz"),
            IngestOptions(source="realtime", realtime_fields=rt_fields, distribution_id="E2EXAMPLE1"),
        ),
        ("AWS WAF logs", _files("waf/**/*.gz", "waf/**/*.log", "waf/aws-docs.jsonl"), IngestOptions(source="waf")),
        (
            "Distribution configs (get-distribution), a web ACL and the managed cache policies",
            _files("distribution/*.get-distribution.json", "webacl/*.json", "cache-policy/*.json"),
            IngestOptions(),
        ),
        (
            "A get-distribution-config export, which needs --distribution-id",
            _files("distribution/E3EXAMPLE2.get-distribution-config.json"),
            IngestOptions(distribution_id="E3EXAMPLE2"),
        ),
        ("Bad input: every line is quarantined with a reason, nothing is lost", _files("bad/*"), IngestOptions()),
    ]


QUERIES = [
    (
        "Rows per table",
        "SELECT 'cloudfront' AS table_name, count(*) AS rows FROM cloudfront "
        "UNION ALL SELECT 'realtime', count(*) FROM realtime UNION ALL SELECT 'waf', count(*) FROM waf "
        "UNION ALL SELECT 'rejects', count(*) FROM rejects ORDER BY 1",
    ),
    (
        "Requests per distribution and day",
        "SELECT distribution_id, dt, count(*) AS requests, "
        "sum(sc_bytes) AS bytes FROM cloudfront GROUP BY ALL ORDER BY ALL",
    ),
    (
        "Cache behaviors of the sample distribution (precedence order)",
        "SELECT distribution_id, precedence, path_pattern, target_origin_id, target_is_group "
        "FROM behaviors ORDER BY distribution_id, precedence",
    ),
    (
        "WAF actions",
        "SELECT action, terminating_rule_id, count(*) AS requests FROM waf GROUP BY ALL "
        "ORDER BY requests DESC LIMIT 10",
    ),
    (
        "Rejects by reason",
        "SELECT reason_code, count(*) AS n, min(source_file) AS example FROM rejects GROUP BY ALL ORDER BY n DESC",
    ),
]


ANALYSES: list[tuple[str, str, dict[str, str]]] = [
    ("Hit ratio per cache behavior", "hit-ratio", {}),
    ("Hit-ratio regressions (the deploy that fragmented the cache key)", "hit-ratio-regressions", {}),
    ("Origin failures: failed over, or a gap no origin group closes", "failover", {}),
    ("Failure episodes", "failover-episodes", {}),
    ("WAF rules counting requests they would block", "waf-fp-candidates", {}),
    ("Rate-based rule sizing", "rate-limit-recommendation", {}),
]
_SHOW = {"waf-fp-candidates": ["rule_group", "rule_id", "match_kind", "matches", "distinct_ips", "fp_score", "verdict"]}


def samples_doctor(lake: str) -> None:
    """What the doctor says about AWS's sample configs and logs (one line per finding)."""
    from pipeline.doctor import diagnose

    report = diagnose(lake)
    print(f"\n-- edgelake doctor --lake {lake}: {len(report.findings)} findings")
    for f in report.findings:
        print(f"   {f.severity.upper():5} {f.id:28} {f.summary[:110]}")


def scenario(root: Path, lake: str, scale: float) -> None:
    """Generate the scenario day, ingest it, and print the analyses' answers."""
    from pipeline.analyses import run
    from pipeline.scenario import generate

    scen = generate(root, scale=scale)
    print(
        f"\n== Scenario: {scen.truth['totals']['cloudfront_requests']} requests on {scen.day} for "
        f"{scen.distribution_id} (planted facts in {scen.root / 'truth.json'})"
    )
    # the main distribution, its clean twin and the cache policies (for the doctor), then the draft nobody applied
    summary = ingest(scen.doctor_inputs(), lake)
    ingest([str(scen.draft_config)], lake, IngestOptions(distribution_id=scen.draft_distribution_id))
    rt = ingest(
        [str(scen.realtime_dir)],
        lake,
        IngestOptions(
            source="realtime",
            realtime_fields=load_fields(str(scen.realtime_config)),
            distribution_id=scen.distribution_id,
        ),
    )
    print(
        f"   ingested {summary.objects + rt.objects} objects: "
        + ", ".join(f"{n} {t}" for t, n in {**summary.rows, "realtime": rt.rows["realtime"]}.items() if n)
        + f"; {summary.rejects + rt.rejects} rejects"
    )
    for title, name, params in ANALYSES:
        frame = run(name, lake, {**params, "distribution": scen.distribution_id})
        cols = _SHOW.get(name)
        if cols:
            frame = frame.select(cols)
        print(
            f"\n-- {title}: edgelake query {name} --lake {lake} --param distribution={scen.distribution_id}\n"
            f"{render(frame.head(12).to_arrow(), 'table')}"
        )
    doctor(lake, scen)
    # Both HTML evidence reports from the scenario lake; the incident one around the planted 429 storm.
    from datetime import timedelta

    from pipeline.reports import incident_report, waf_rollout_report

    storm = scen.truth["planted"]["storm_429"]["window"]
    start = parse_instant(storm["start"]) - timedelta(minutes=15)
    end = parse_instant(storm["end"]) + timedelta(minutes=15)
    out = root.parent / "reports"
    acl, dist = scen.truth["scenario"]["web_acl"], scen.distribution_id
    waf = waf_rollout_report(lake, out / "waf-rollout.html", web_acl=acl)
    incident = incident_report(lake, out / "incident.html", start=start, end=end, distribution=dist)
    print(
        f"\n== Reports (self-contained HTML, open offline; both open with the doctor's findings):\n"
        f"   {waf}\n   {incident}\n"
        f"   again with: edgelake report waf-rollout --lake {lake} --web-acl {acl} --out {waf}\n"
        f"               edgelake report incident --lake {lake} --distribution {dist} --out {incident} "
        f"--start {start:%Y-%m-%dT%H:%M:%SZ} --end {end:%Y-%m-%dT%H:%M:%SZ}"
    )


def doctor(lake: str, scen: Any) -> None:
    """``edgelake doctor`` over the scenario: the planted findings, nothing on the clean twin."""
    from pipeline.doctor import diagnose

    report = diagnose(lake)
    twin = scen.truth["doctor"]["twin"]["distribution_id"]
    print(f"\n== edgelake doctor --lake {lake}: {len(report.findings)} findings, ranked (details: --format markdown)")
    for f in report.findings:
        where = ", ".join(v for k, v in f.subject.items() if k != "distribution_id")
        print(f"   {f.severity.upper():5} {f.id:32} {f.subject['distribution_id']:15} {where}")
    clean = [f for f in report.findings if f.subject["distribution_id"] == twin]
    print(
        f"   exit status 1 (findings at or above --fail-on warn); the clean twin {twin}: "
        f"{len(clean)} finding(s): edgelake doctor --lake {lake} --distribution {twin} exits 0"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lake", default="out/demo-lake")
    parser.add_argument("--scenario-lake", default="out/scenario-lake")
    parser.add_argument("--scenario-data", default="out/scenario-data")
    parser.add_argument("--scale", type=float, default=0.2, help="scenario size (1.0 = about 250,000 requests)")
    args = parser.parse_args(argv)
    try:
        for title, files, opts in _steps():
            if not files:
                print(f"== {title}: no sample files, skipped")
                continue
            summary = ingest(files, args.lake, opts)
            rows = ", ".join(f"{n} {t}" for t, n in summary.rows.items() if n) or "no rows"
            print(
                f"== {title}\n   {summary.objects} object(s): {rows}; {summary.rejects} reject(s); "
                f"{summary.lines} lines = rows + rejects + {summary.meta_lines} header/blank lines"
            )
            for p in summary.problems:
                print(f"   note: {Path(p['object']).name}: {p['problem']}")
        con = connect(args.lake)
        for title, sql in QUERIES:
            print(f"\n-- {title}\n{render(query(con, sql), 'table')}")
        samples_doctor(args.lake)
        scenario(Path(args.scenario_data), args.scenario_lake, args.scale)
    except EdgelakeError as exc:
        print(f"edgelake demo: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"\nThe sample lake is at {args.lake}, the scenario lake at {args.scenario_lake}. Try:\n"
        f"  .venv/bin/edgelake query --list\n"
        f"  .venv/bin/edgelake console --lake {args.scenario_lake}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
