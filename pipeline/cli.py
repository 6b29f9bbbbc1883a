"""The ``edgelake`` command: parses arguments, calls one library function, renders, sets the exit code.

Data goes to stdout; progress and diagnostics go to stderr. Every :class:`EdgelakeError` becomes a
one-line message and exit status 2; no traceback reaches the user for bad input. ``ingest`` exits 1
when anything was rejected or could not be read, so a scheduler can tell a clean run from one that
needs a look. Heavy imports happen inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated, Any

import typer

from pipeline.errors import EdgelakeError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="CloudFront and AWS WAF logs into a typed Delta Lake, and the questions it answers.",
)

LakeOpt = Annotated[str, typer.Option("--lake", help="Lake root: a directory or an s3:// prefix.")]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        help="Read the objects on a Dask cluster: its scheduler (tcp://scheduler:8786), or local:N for N worker "
        "processes here (needs edgelake[dask]; workers need the same AWS_* and EDGELAKE_* environment)."
    ),
]


def _fail(exc: EdgelakeError) -> typer.Exit:
    typer.echo(f"edgelake: error: {exc}", err=True)
    return typer.Exit(exc.exit_code)


@app.command()
def ingest(
    inputs: Annotated[list[str], typer.Argument(help="Files, directories, globs or s3:// prefixes.")],
    lake: LakeOpt,
    source: Annotated[
        str | None,
        typer.Option(
            help="cloudfront | realtime | waf | distribution-config | web-acl | cache-policy (default: detect from "
            "content)."
        ),
    ] = None,
    realtime_fields: Annotated[
        str | None,
        typer.Option("--realtime-fields", help="GetRealtimeLogConfig JSON file, or a comma list of field names."),
    ] = None,
    distribution_id: Annotated[
        str | None,
        typer.Option("--distribution-id", help="Distribution id for real-time logs and get-distribution-config JSON."),
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Processes reading objects in parallel (0: automatic, up to 2 for large inputs).")
    ] = 0,
    cluster: ClusterOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Read log objects into the lake; every line becomes a row or a quarantined reject."""
    from pipeline.ingest import pool

    if cluster is None:
        pool.prestart(inputs, workers)  # its interpreter loads while this one imports what follows
    from pipeline.ingest import IngestOptions
    from pipeline.ingest import ingest as run
    from pipeline.readers.realtime import load_fields

    try:
        _need_distribution(source, realtime_fields, distribution_id)
        fields = load_fields(realtime_fields) if realtime_fields else None
        _one_runner(workers, cluster)
        opts = IngestOptions(
            source=source, realtime_fields=fields, distribution_id=distribution_id, workers=workers, cluster=cluster
        )
        with _Progress() as progress:
            summary = run(inputs, lake, opts, on_object=progress.update, on_message=_message)
    except EdgelakeError as exc:
        raise _fail(exc) from None
    finally:
        pool.discard()
    _report_run(summary, lake, as_json=as_json)


@app.command()
def nightly(
    inputs: Annotated[list[str], typer.Argument(help="s3:// prefixes or local directories holding log objects.")],
    lake: LakeOpt,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only objects last modified at or after this UTC date/time (e.g. 2025-03-13), not by the "
            "date in their names: late objects belong to older partitions."
        ),
    ] = None,
    source: Annotated[str | None, typer.Option(help="As for ingest; default: detect each object.")] = None,
    realtime_fields: Annotated[str | None, typer.Option("--realtime-fields")] = None,
    distribution_id: Annotated[str | None, typer.Option("--distribution-id")] = None,
    workers: Annotated[int, typer.Option(help="As for ingest.")] = 0,
    cluster: ClusterOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Sweep log prefixes into the lake: every object not yet ingested (or changed since), exactly once.

    Exit status: 0 all new objects ingested cleanly (or nothing was new), 1 some lines were quarantined or
    some objects could not be read (they are retried by the next run), 2 a usage or lake error.
    """
    from pipeline.ingest import pool

    if cluster is None:
        pool.prestart(inputs, workers)  # its interpreter loads while this one imports what follows
    from pipeline.ingest import IngestOptions
    from pipeline.ingest import ingest as run
    from pipeline.readers.realtime import load_fields
    from pipeline.times import parse_instant

    try:
        _need_distribution(source, realtime_fields, distribution_id)
        fields = load_fields(realtime_fields) if realtime_fields else None
        cutoff = parse_instant(since, "--since") if since else None
        _one_runner(workers, cluster)
        opts = IngestOptions(
            source=source,
            realtime_fields=fields,
            distribution_id=distribution_id,
            workers=workers,
            since=cutoff,
            cluster=cluster,
        )
        with _Progress() as progress:
            summary = run(inputs, lake, opts, on_object=progress.update, on_message=_message)
    except EdgelakeError as exc:
        raise _fail(exc) from None
    finally:
        pool.discard()
    _report_run(summary, lake, as_json=as_json)


def _report_run(summary: Any, lake: str, *, as_json: bool) -> None:
    """Report an ingest or nightly run: summary on stdout, problems on stderr, exit status for schedulers."""
    if as_json:
        typer.echo(json.dumps(summary.as_json()))
    elif summary.objects == 0:
        typer.echo(
            f"nothing new: {summary.seen} object(s) listed, {summary.skipped} already in the lake"
            + (f", {summary.older} older than --since" if summary.older else "")
        )
    else:
        rows = ", ".join(f"{n} {t}" for t, n in summary.rows.items() if n)
        typer.echo(
            f"ingested {summary.objects} new or changed object(s) of {summary.seen} listed "
            f"({summary.skipped} already in the lake): {rows or 'no rows'}; {summary.rejects} reject(s); "
            f"{summary.failed} failed; {summary.lines} lines ({summary.meta_lines} header/blank) "
            f"in {summary.seconds:.1f}s"
        )
    for p in summary.problems:
        typer.echo(f"edgelake: {p['object']}: {p['problem']}", err=True)
    if summary.rejects:
        typer.echo(
            f"edgelake: {summary.rejects} reject(s) quarantined; see them with: edgelake sql "
            f'"SELECT * FROM rejects WHERE ingested_at = (SELECT max(ingested_at) FROM rejects)" '
            f"--lake {lake}",
            err=True,
        )
    global _quick_exit
    _quick_exit = True
    raise typer.Exit(1 if summary.rejects or summary.failed else 0)


def _one_runner(workers: int, cluster: str | None) -> None:
    """Refuse a bad --cluster before listing anything, and --workers beside it."""
    if cluster is None:
        return
    from pipeline.ingest.cluster import parse  # imports no Dask

    parse(cluster)
    if workers:
        raise UsageError("--workers sizes the local pool; with --cluster the cluster's workers read the objects")


def _message(text: str) -> None:
    typer.echo(f"edgelake: {text}", err=True)


def _need_distribution(source: str | None, realtime_fields: str | None, distribution_id: str | None) -> None:
    if (source == "realtime" or realtime_fields) and not distribution_id:
        raise UsageError(
            "real-time records do not say which distribution they belong to: pass --distribution-id "
            "(the distribution whose cache behaviors the real-time log config is attached to)"
        )


class _Progress:
    """A progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=True, console=None)
            self._bar.__enter__()
        return self

    def update(self, outcome: object, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._task is None:
            self._task = self._bar.add_task("ingesting", total=total)
        self._bar.update(self._task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help="A read-only SQL query over the lake's views.")],
    lake: LakeOpt,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json | markdown")] = "table",
) -> None:
    """Run a read-only SQL query against the lake (views: cloudfront, realtime, waf, rejects, ...)."""
    from pipeline.query.render import FORMATS, render
    from pipeline.query.views import connect, query

    try:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        result = query(connect(lake, lazy=True), statement)
    except EdgelakeError as exc:
        raise _fail(exc) from None
    typer.echo(render(result, fmt))


@app.command()
def query(
    name: Annotated[str | None, typer.Argument(help="A named query (see --list).")] = None,
    lake: Annotated[str | None, typer.Option("--lake", help="Lake root: a directory or an s3:// prefix.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="KEY=VALUE, repeatable; see --list for each query's parameters."),
    ] = None,
    engine: Annotated[str, typer.Option(help="duckdb | polars (same rows either way)")] = "duckdb",
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json | markdown | parquet")] = "table",
    out: Annotated[str | None, typer.Option("--out", help="File to write (required for parquet).")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List every named query and its parameters.")] = False,
) -> None:
    """Run a named analysis (hit-ratio, status-mix, failover, waf-fp-candidates, rate-sizing, ...)."""
    from pipeline.analyses import run
    from pipeline.query import named as queries
    from pipeline.query.render import FORMATS, render

    try:
        if list_ or name is None:
            for q in queries.all_queries().values():
                typer.echo(f"{q.name}\n  {q.description}")
                for p in q.params:
                    default = "required" if p.required else f"default {p.default}"
                    choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
                    typer.echo(f"    --param {p.name}=<{p.type}>{choices} ({default}) {p.doc}")
            return
        if lake is None:
            raise UsageError("--lake is required to run a query")
        values: dict[str, str] = {}
        for item in param or []:
            key, sep, value = item.partition("=")
            if not sep:
                raise UsageError(f"--param {item!r} is not KEY=VALUE")
            values[key.strip()] = value
        if fmt not in (*FORMATS, "parquet"):
            raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}, parquet")
        result = run(name, lake, values, engine=engine)
        if fmt == "parquet" and not out:
            raise UsageError("--format parquet needs --out FILE")
        text = "" if fmt == "parquet" else render(result.to_arrow(), fmt)
        if not out:
            typer.echo(text)
            return
        try:
            if fmt == "parquet":
                result.write_parquet(out)
            else:
                with open(out, "w", encoding="utf-8") as fh:
                    fh.write(text + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from exc
        typer.echo(f"wrote {result.height} rows to {out}", err=True)
    except EdgelakeError as exc:
        raise _fail(exc) from None


@app.command()
def console(lake: LakeOpt) -> None:
    """Interactive read-only SQL console over the lake; reads statements from stdin when it is piped."""
    from pipeline.console.app import main as run_console

    try:
        code = run_console(lake)
    except EdgelakeError as exc:
        raise _fail(exc) from None
    raise typer.Exit(code)


@app.command()
def schema(
    table: Annotated[str | None, typer.Argument(help="A table name; all tables if omitted.")] = None,
) -> None:
    """Describe the lake's tables: every column, its type and what it holds."""
    from pipeline import schemas

    try:
        names = [table] if table else schemas.table_names()
        for name in names:
            sch = schemas.load(name)
            typer.echo(f"{sch.name}: {sch.description}")
            if sch.partition_by:
                typer.echo(f"  partitioned by {', '.join(sch.partition_by)}")
            width = max(len(c.name) for c in sch.columns)
            for col in sch.columns:
                origin = f" [{col.field}]" if col.field and col.field != col.name else ""
                typer.echo(f"  {col.name.ljust(width)}  {col.type_text:<10} {col.description}{origin}")
            typer.echo("")
    except EdgelakeError as exc:
        raise _fail(exc) from None


@app.command()
def compact(
    lake: LakeOpt,
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Only dt partitions whose day ended this long ago (2d, 36h; 0: all before "
            "today); today's partitions are left to the writers.",
        ),
    ] = "2d",
    table: Annotated[
        list[str] | None,
        typer.Option(
            "--table",
            help="A table to compact (repeatable); default: cloudfront, realtime, waf, rejects, "
            "manifest, rollup_minute.",
        ),
    ] = None,
    retention: Annotated[
        str,
        typer.Option(
            help="Vacuum keeps files removed less than this long ago, so running readers keep their snapshot "
            "(at least 1h)."
        ),
    ] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Merge small files into ~128 MiB zstd files (Delta optimize), then vacuum; rows are unchanged."""
    from pipeline.compact import compact as run
    from pipeline.times import parse_duration

    try:
        summary = run(
            lake,
            older_than=parse_duration(older_than, "--older-than"),
            tables=table or None,
            retention=parse_duration(retention, "--retention"),
        )
    except EdgelakeError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(summary.as_json()))
    for t in summary.tables:
        where = f" ({t.partition_filter})" if t.partition_filter else ""
        if not as_json:
            typer.echo(
                f"{t.table}{where}: {t.files_before} -> {t.files_after} files, {t.rows_after} rows, "
                f"{t.files_removed} merged into {t.files_added}, {t.vacuumed} vacuumed in {t.seconds:.1f}s"
            )
        if t.skipped:
            typer.echo(f"edgelake: {t.table}: not merged: {t.skipped}", err=True)
    if summary.absent:
        typer.echo(f"edgelake: not in the lake (skipped): {', '.join(summary.absent)}", err=True)


@app.command()
def follow(
    source: Annotated[
        str,
        typer.Argument(
            help="An s3:// prefix (Firehose objects), a local directory (new files and appended lines), or - "
            "(stdin). Files and objects resume exactly where the last commit ended, even after kill -9; stdin "
            "is at-least-once from the producer's side, so re-sent records are dropped by their request id "
            "within --dedupe-window."
        ),
    ],
    lake: LakeOpt,
    kind: Annotated[
        str, typer.Option("--source", help="What the source carries: realtime (CloudFront real-time logs) or waf.")
    ] = "realtime",
    realtime_fields: Annotated[
        str | None,
        typer.Option("--realtime-fields", help="Real-time logs: GetRealtimeLogConfig JSON file, or a comma list."),
    ] = None,
    distribution_id: Annotated[
        str | None, typer.Option("--distribution-id", help="Real-time logs: the distribution the config belongs to.")
    ] = None,
    flush_interval: Annotated[
        str,
        typer.Option("--flush-interval", help="Commit at the latest this long after a batch's first line (5s, 500ms)."),
    ] = "5s",
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="Commit as soon as this many lines are buffered.")
    ] = 100_000,
    once: Annotated[bool, typer.Option("--once", help="Process what is there now, then exit (tests, cron).")] = False,
    idle_exit: Annotated[
        str | None, typer.Option("--idle-exit", help="Exit after this many seconds without new data.")
    ] = None,
    dedupe_window: Annotated[
        str,
        typer.Option(
            "--dedupe-window",
            help="stdin only: how long committed request ids are remembered (at start: rows this "
            "recent) to drop records a producer sends again.",
        ),
    ] = "10m",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line per committed micro-batch.")] = False,
) -> None:
    """Stream real-time log or WAF log records into the lake in micro-batches, exactly once.

    Real-time records also update a per-minute rollup (rollup_minute).
    """
    from pipeline.follow import FlushReport, FollowOptions
    from pipeline.follow import follow as run
    from pipeline.readers.realtime import load_fields
    from pipeline.times import parse_duration

    def flushed(report: FlushReport) -> None:
        if as_json:
            typer.echo(json.dumps(report.as_json()))
        else:
            lag = "" if report.lag_seconds is None else f", lag {report.lag_seconds:.1f}s"
            typer.echo(
                f"committed {report.records} record(s), {report.rejects} reject(s), "
                f"{report.duplicates} duplicate(s) dropped from {report.sources} source(s){lag}"
            )
        sys.stdout.flush()

    try:
        opts = FollowOptions(
            realtime_fields=load_fields(realtime_fields) if realtime_fields else None,
            distribution_id=distribution_id,
            kind=kind,
            flush_interval=parse_duration(flush_interval, "--flush-interval").total_seconds(),
            max_batch=max_batch,
            once=once,
            idle_exit=None if idle_exit is None else parse_duration(idle_exit, "--idle-exit").total_seconds(),
            dedupe_horizon=parse_duration(dedupe_window, "--dedupe-window").total_seconds(),
        )
        summary = run(source, lake, opts, on_flush=flushed, on_message=lambda m: typer.echo(f"edgelake: {m}", err=True))
    except EdgelakeError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"edgelake: follow stopped ({summary.stopped_by}): {summary.records} record(s), "
        f"{summary.rejects} reject(s), {summary.duplicates} duplicate(s) in {summary.flushes} batch(es)",
        err=True,
    )


@app.command("catalog")
def catalog_command(
    engine: Annotated[str, typer.Argument(help="athena | trino | spark")],
    lake: LakeOpt,
    location: Annotated[
        str | None,
        typer.Option(
            help="The lake's root as the engine reads it, s3://bucket/prefix (a lake built here and copied "
            "there); default: --lake when it is on S3."
        ),
    ] = None,
    database: Annotated[str, typer.Option(help="Glue database, Trino schema or Spark database.")] = "edgelake",
    trino_catalog: Annotated[
        str, typer.Option("--trino-catalog", help="Trino only: the Delta Lake connector's catalog name.")
    ] = "delta",
) -> None:
    """Print the statements that register every table of the lake in Athena/Glue, Trino or Spark.

    Exit status 1 (nothing printed) when the preflight finds a table those engines would misread; 2: usage error.
    """
    from pipeline.engines import registration

    try:
        reg = registration(engine, lake, location=location, database=database, trino_catalog=trino_catalog)
    except EdgelakeError as exc:
        raise _fail(exc) from None
    if not reg.report.ok:
        for finding in reg.report.findings:
            typer.echo(f"edgelake: {finding}", err=True)
        typer.echo(
            f"edgelake: error: preflight failed: {len(reg.report.findings)} problem(s) in "
            f"{len({f.table for f in reg.report.findings})} table(s); no DDL printed",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(reg.ddl, nl=False)


@app.command()
def doctor(
    lake: LakeOpt,
    start: Annotated[str | None, typer.Option(help="Inclusive UTC start, e.g. 2025-03-14 (default: all data).")] = None,
    end: Annotated[str | None, typer.Option(help="Exclusive UTC end.")] = None,
    distribution: Annotated[str | None, typer.Option(help="Only this distribution id.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table | json | markdown")] = "table",
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="info | warn | error: the lowest severity that makes the exit status 1.")
    ] = "warn",
    engine: Annotated[str, typer.Option(help="polars | duckdb (same findings either way)")] = "polars",
) -> None:
    """Run the failure playbook against the ingested configs and logs: ranked findings, evidence and fixes.

    Exit status: 0 no finding at or above --fail-on, 1 findings at or above it, 2 a usage or lake error.
    """
    from pipeline.doctor import SEVERITIES, diagnose
    from pipeline.doctor.render import FORMATS, render
    from pipeline.errors import LakeError
    from pipeline.lake import Lake
    from pipeline.times import parse_instant

    try:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        if fail_on not in SEVERITIES:
            raise UsageError(f"--fail-on {fail_on!r}: choose one of {', '.join(SEVERITIES)}")
        if not Lake(lake).tables():
            raise LakeError(f"{lake}: no edgelake table there; ingest configs and logs first (edgelake ingest)")
        report = diagnose(
            lake,
            start=parse_instant(start, "--start") if start else None,
            end=parse_instant(end, "--end") if end else None,
            distribution=distribution,
            engine=engine,
        )
    except EdgelakeError as exc:
        raise _fail(exc) from None
    typer.echo(render(report, fmt))
    raise typer.Exit(1 if report.at_or_above(fail_on) else 0)


# ---- report: self-contained HTML evidence reports (pipeline/reports) ----------------------------------
report_app = typer.Typer(no_args_is_help=True, help="Self-contained HTML evidence reports (open offline).")
app.add_typer(report_app, name="report")
ReportOut = Annotated[str, typer.Option("--out", help="HTML file to write.")]


@report_app.command("waf-rollout")
def report_waf_rollout(
    lake: LakeOpt,
    out: ReportOut = "waf-rollout.html",
    web_acl: Annotated[
        str | None, typer.Option("--web-acl", help="Web ACL name or ARN (if the lake has several).")
    ] = None,
    distribution: Annotated[str | None, typer.Option(help="Only this distribution id.")] = None,
    start: Annotated[str | None, typer.Option(help="Inclusive UTC start, e.g. 2025-03-14T00:00:00Z.")] = None,
    end: Annotated[str | None, typer.Option(help="Exclusive UTC end.")] = None,
    no_csp: Annotated[bool, typer.Option("--no-csp", help="Leave out the Content-Security-Policy (testing).")] = False,
) -> None:
    """WAF Count-to-Block rollout: phases, evidence and verdict per counted rule, exclusions, rate limits."""
    from pipeline.reports import waf_rollout_report

    try:
        path = waf_rollout_report(
            lake, out, web_acl=web_acl, distribution=distribution, start=start, end=end, csp=not no_csp
        )
    except EdgelakeError as exc:
        raise _fail(exc) from None
    typer.echo(str(path))


@report_app.command("incident")
def report_incident(
    lake: LakeOpt,
    start: Annotated[str, typer.Option(help="Inclusive UTC start of the incident window.")],
    end: Annotated[str, typer.Option(help="Exclusive UTC end of the incident window.")],
    out: ReportOut = "incident.html",
    distribution: Annotated[str | None, typer.Option(help="Only this distribution id.")] = None,
    context_hours: Annotated[int, typer.Option(help="Hours of hit-ratio history shown before --start.")] = 8,
    no_csp: Annotated[bool, typer.Option("--no-csp", help="Leave out the Content-Security-Policy (testing).")] = False,
) -> None:
    """Edge incident review: status mix per origin per minute, failover vs gaps, hit ratio, top URIs/IPs."""
    from pipeline.reports import incident_report

    try:
        path = incident_report(
            lake, out, start=start, end=end, distribution=distribution, context_hours=context_hours, csp=not no_csp
        )
    except EdgelakeError as exc:
        raise _fail(exc) from None
    typer.echo(str(path))


# Set by the commands that end a batch job: once their summary is printed, nothing is left to clean up.
_quick_exit = False


def main() -> None:
    global _quick_exit
    _quick_exit = False
    try:
        app()
    except SystemExit as exc:
        if not _quick_exit:
            raise
        # Tearing down an interpreter holding Polars, pyarrow and delta-rs takes 0.1-0.3 s and does
        # nothing a finished batch job needs (everything is committed and printed by now).
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main()
