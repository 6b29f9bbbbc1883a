"""Committing a group of ingested objects: data tables, then configs, rejects, and the manifest last.

Every table records each object's application transaction (:func:`~pipeline.ingest.unit.object_app_id`,
its generation) in the same commit as its rows, so an object whose rows a killed run or another writer
already committed to a table is left out of that table's commit, and nothing lands twice; the manifest
goes last, so an object is only "done" once every table has it. Also here: removing a changed object's
old rows before its new version is committed, and clearing the notes failed attempts left in
``rejects``.

Must not: read inputs (the outcomes carry everything), or print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pipeline import crashpoints
from pipeline.ingest.unit import DATA_TABLES, ObjectOutcome, identity, object_app_id
from pipeline.lake import FileSet, Lake
from pipeline.readers import reasons
from pipeline.readers._base import ConfigTables
from pipeline.sqlutil import sql_literal


@dataclass
class IngestSummary:
    run_id: str
    seen: int = 0  # objects listed
    older: int = 0  # listed but last modified before --since
    objects: int = 0  # objects read in this run
    skipped: int = 0  # already in the lake with the same identity
    failed: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DATA_TABLES, 0))
    rejects: int = 0
    lines: int = 0
    meta_lines: int = 0
    bytes_in: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    commit_retries: int = 0  # commits that lost a race to another writer and were made again
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "files": self.objects,
            "rows": self.rows,
            "rejects": self.rejects,
            "skipped": self.skipped,
            "failed": self.failed,
            "seen": self.seen,
            "older_than_since": self.older,
            "lines": self.lines,
            "meta_lines": self.meta_lines,
            "bytes": self.bytes_in,
            "problems": self.problems,
            "commit_retries": self.commit_retries,
            "seconds": round(self.seconds, 3),
            "run_id": self.run_id,
        }


def forget(lake: Lake, uri: str, generation: int) -> None:
    """Remove the rows of an object's previous version before its new version is ingested.

    A table that already holds ``generation`` (a run that was killed after committing it) is left alone:
    deleting there would remove the new rows, which the commit step would then skip as done.
    """
    for table in (*DATA_TABLES, "rejects"):
        lake.delete_rows(table, f"source_file = {sql_literal(uri)}", unless=(object_app_id(uri), generation))


def _clear_unreadable(lake: Lake, uris: list[str]) -> None:
    """Objects read now drop the `unreadable` notes earlier failed attempts left in ``rejects``."""
    dt = lake.open("rejects") if uris else None
    if dt is None:
        return
    stale = (
        pl.scan_delta(dt)
        .filter((pl.col("reason_code") == reasons.UNREADABLE) & pl.col("source_file").is_in(uris))
        .select("source_file")
        .unique()
        .collect()
        .get_column("source_file")
        .to_list()
    )
    for uri in stale:
        lake.delete_rows("rejects", f"reason_code = 'unreadable' AND source_file = {sql_literal(uri)}")


def commit_group(lake: Lake, group: list[ObjectOutcome], summary: IngestSummary, started: datetime) -> None:
    """Commit a group of outcomes: data tables, then configs, rejects, and the manifest last.

    Every table records each object's application transaction (its app id, its generation) in the
    same commit as its rows, so an object whose rows a killed run or another writer already
    committed to a table is left out of that table's commit, and nothing lands twice.
    """
    done = [o for o in group if o.failed is None]
    for table in DATA_TABLES:
        parts: list[tuple[FileSet | pl.DataFrame, list[tuple[str, int]]]] = [
            (o.files[table], [(object_app_id(o.obj.uri), o.generation)]) for o in done if table in o.files
        ]
        if parts and lake.commit_parts(table, parts):
            crashpoints.reached(f"after-commit-{table}")
    for o in done:
        for part in o.configs:
            _commit_config(lake, part)
        if o.configs:
            crashpoints.reached("after-configs")
    # Failed objects' rejects carry no transaction: they are reported again every run until read.
    _clear_unreadable(lake, [o.obj.uri for o in done])
    rejects: list[tuple[FileSet | pl.DataFrame, list[tuple[str, int]]]] = [
        (o.rejects, [(object_app_id(o.obj.uri), o.generation)]) for o in done
    ]
    rejects += [(o.rejects, []) for o in group if o.failed is not None]
    if rejects and lake.commit_parts("rejects", rejects):
        crashpoints.reached("after-rejects")
    if done:
        from pipeline.readers._typing import conform
        from pipeline.schemas import load

        manifest = conform(
            pl.DataFrame([_manifest_row(o, summary.run_id, started) for o in done], infer_schema_length=None),
            load("manifest"),
        )
        parts = [(manifest.slice(i, 1), [(object_app_id(o.obj.uri), o.generation)]) for i, o in enumerate(done)]
        if lake.commit_parts("manifest", parts):
            crashpoints.reached("after-manifest")
    for o in group:
        summary.objects += 1
        summary.lines += o.lines
        summary.meta_lines += o.meta_lines
        summary.rejects += o.rejects.height
        summary.bytes_in += o.obj.size or 0
        for table, n in o.rows.items():
            summary.rows[table] = summary.rows.get(table, 0) + n
        if o.failed:
            summary.failed += 1
            summary.problems.append({"object": o.obj.uri, "problem": o.failed})
        elif o.problem:
            summary.problems.append({"object": o.obj.uri, "problem": o.problem})


def _commit_config(lake: Lake, part: ConfigTables) -> None:
    """Keep the version, then make it the config tables' rows unless a later version is there already.

    Versions of one config are ordered by config_versions.order_time (LastModifiedTime when the export
    has it, else when it was ingested), so ingesting an old export after a newer one keeps the newer
    one in the config tables, whatever the order of the files.
    """
    latest = True
    if part.version is not None:
        row = part.version.row(0, named=True)
        lake.replace_rows("config_versions", part.version, key="version_id", value=row["version_id"])
        newer = (
            lake.scan("config_versions")
            .filter(
                (pl.col("kind") == row["kind"])
                & (pl.col("config_id") == row["config_id"])
                & (pl.col("order_time") > row["order_time"])
            )
            .select(pl.len())
            .collect()
            .item()
        )
        latest = newer == 0
    if part.key is not None and latest:
        column, value = part.key
        for table, frame in part.tables.items():
            lake.replace_rows(table, frame, key=column, value=value)


def _manifest_row(o: ObjectOutcome, run_id: str, started: datetime) -> dict[str, Any]:
    return {
        "object_uri": o.obj.uri,
        "identity": identity(o.obj),
        "size": o.obj.size,
        "etag": o.obj.etag,
        "last_modified": datetime.fromtimestamp(o.obj.mtime, UTC) if o.obj.mtime else None,
        "source": o.source,
        "generation": o.generation,
        "lines": o.lines,
        "meta_lines": o.meta_lines,
        "rows": sum(o.rows.values()),
        "rejects": o.rejects.height,
        "problem": o.problem,
        "run_id": run_id,
        "ingested_at": started,
    }
