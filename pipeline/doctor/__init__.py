"""``edgelake doctor``: the seed's failure playbook, run against the ingested configs and logs.

:func:`diagnose` runs every check of :mod:`.checks` over a lake and returns a :class:`~.model.Report`:
findings ranked by severity, then by how many requests they touch, each with labelled evidence (from
the logs, from the config, or inferred from the config), the queries that re-derive it and a fix as a
patch of the config document with the commands that apply it; and every check with its status (ok,
finding, not_checked with what it needs). Modules: :mod:`.model` (the shape), :mod:`.context` (what
checks read), :mod:`.fixes`, one module per family of checks (:mod:`.deploy`, :mod:`.failover`,
:mod:`.edge`, :mod:`.cache`, :mod:`.origins`, :mod:`.transport`, :mod:`.waf`), :mod:`.twins` (Polars
twins of ``sql/doctor/``) and :mod:`.render` (table, markdown, JSON). It never writes to the lake.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.doctor.model import SEVERITIES, CheckResult, Finding, Report

__all__ = ["SEVERITIES", "CheckResult", "Finding", "Report", "diagnose"]


def diagnose(
    lake: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    distribution: str | None = None,
    engine: str = "polars",
    checks: tuple[str, ...] | None = None,
) -> Report:
    """Run the doctor's checks (all, or those named in ``checks``) over ``lake`` in [start, end).

    ``engine`` runs the evidence queries: both give the same findings (tested); Polars is the default, as
    for the reports, because it reads each table where DuckDB opens every view of the lake first.
    """
    from pipeline.doctor import context
    from pipeline.doctor.checks import CHECKS
    from pipeline.errors import UsageError

    if start is not None and end is not None and end <= start:
        raise UsageError("--end must be after --start")
    if engine not in ("duckdb", "polars"):
        raise UsageError(f"unknown engine {engine!r}; choose duckdb or polars")
    ctx = context.load(lake, start=start, end=end, distribution=distribution, engine=engine)
    findings: list[Finding] = []
    results = []
    try:
        for check in CHECKS:
            if checks is not None and check.id not in checks:
                continue
            result = CheckResult(check.id, check.title, check.playbook)
            found = check.run(ctx, result)
            result.findings = len(found)
            if found:
                result.status = "finding"
            result.needs = sorted(set(result.needs))
            findings += found
            results.append(result)
    finally:
        ctx.close()
    if results:
        for dist in ctx.without_document:
            results[0].notes.append(
                f"{dist}: the lake holds only its typed config rows (an older edgelake ingested it): ingest its "
                "distribution config again for the checks that read the whole document"
            )
    return Report(findings, results, (start, end), distribution, lake)
