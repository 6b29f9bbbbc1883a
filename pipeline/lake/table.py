"""The lake: one Delta Lake table per dataset under ``<lake>/<table>/``, on local disk or S3.

Owns the layout and every commit. Workers call :meth:`Lake.write_files` to turn typed rows into data
files (:mod:`pipeline.lake.files`) and get Delta ``AddAction`` values back; nothing is visible to
readers until a coordinator commits those actions with :meth:`Lake.commit_parts`, atomically, together
with the application transaction ids that make a retried commit detectable (Delta's ``txn`` actions).
Data files written by a worker that died before the commit are never referenced by the log, so
readers never see them (``vacuum`` removes them). Commits hold while other writers commit to the same
tables (:mod:`pipeline.lake.concurrency`).

Must not: parse logs or decide what to ingest (that is :mod:`pipeline.ingest`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from pipeline import crashpoints, schemas
from pipeline.errors import LakeError
from pipeline.lake.files import FileSet, write_files
from pipeline.sqlutil import sql_literal
from pipeline.storage.fs import delta_storage_options, filesystem, storage_options

if TYPE_CHECKING:  # Polars (~0.3 s to import) is loaded by what scans or writes, not by DuckDB's readers
    import polars as pl

STATS_COLUMNS = "delta.dataSkippingStatsColumns"  # the table property naming the columns with statistics


class Lake:
    """A lake rooted at a local directory or an ``s3://`` prefix."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/") or "/"
        self.is_s3 = uri.startswith("s3://")
        if not self.is_s3:
            self.uri = os.path.abspath(self.uri)
        self.fs, self._root = filesystem(self.uri)
        self.storage_options = delta_storage_options(self.uri)

    # --- locations ---------------------------------------------------------------------------------
    def table_uri(self, table: str) -> str:
        schemas.column_name(table)  # table names are ours, never from log data; still refuse odd ones
        return f"{self.uri}/{table}"

    def table_path(self, table: str) -> str:
        return f"{self._root.rstrip('/')}/{table}"

    # --- reading -----------------------------------------------------------------------------------
    def open(self, table: str) -> Any | None:
        """The table's DeltaTable, or None when it has never been written."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self.table_uri(table), storage_options=self.storage_options)
        except TableNotFoundError:
            return None
        except OSError as exc:
            raise LakeError(f"cannot open lake table {self.table_uri(table)}: {exc}") from exc

    def tables(self) -> list[str]:
        return [t for t in schemas.table_names() if self.open(t) is not None]

    def scan(self, table: str) -> pl.LazyFrame:
        """A Polars scan of a table (an empty frame of the schema's columns if it does not exist)."""
        import polars as pl

        dt = self.open(table)
        if dt is None:
            empty = pl.from_arrow(schemas.load(table).arrow_schema().empty_table())
            assert isinstance(empty, pl.DataFrame)
            return empty.lazy()
        return pl.scan_delta(dt)

    # --- writing (workers) -------------------------------------------------------------------------
    def write_files(self, table: str, rows: pl.DataFrame) -> FileSet:
        """Write ``rows`` as Parquet data files of ``table`` (one per ``dt``), uncommitted."""
        return write_files(
            self.fs, self.table_path(table), table, rows, local=not self.is_s3, uri=self.table_uri(table)
        )

    # --- committing (the coordinator) --------------------------------------------------------------
    def check_writable(self) -> None:
        """Refuse an S3 store without conditional writes (checked once per process and bucket)."""
        if self.is_s3:
            from pipeline.lake.concurrency import require_conditional_writes

            require_conditional_writes(self.fs, self._root, self.uri, storage_options().get("endpoint_url"))

    def commit(self, files: FileSet, *, app_transactions: Sequence[tuple[str, int]] = ()) -> None:
        """Commit written files atomically, recording each (app id, version) transaction.

        All or nothing: when every transaction id already landed (an earlier try whose answer was lost),
        nothing is committed again; when only some did, another writer is committing the same sources
        and the commit is refused.
        """
        self.commit_parts(files.table, [(files, tuple(app_transactions))])

    def commit_parts(
        self, table: str, parts: Sequence[tuple[FileSet | pl.DataFrame, Sequence[tuple[str, int]]]]
    ) -> int:
        """Commit the parts not yet in ``table`` as one atomic Delta commit; return how many were committed.

        A part is what one source contributes, as written files or as a small frame (rejects, manifest
        rows: written at commit time, one file for all pending parts), with the application
        transactions that record it (an ingested object: one id; a part without ids is always
        committed). A part whose transactions all landed already (committed by an earlier,
        interrupted run, or by another writer a moment ago) is left out. The commit is retried from a
        fresh snapshot when it loses a race (see :mod:`pipeline.lake.concurrency`), so a table another writer
        just created or changed is simply appended to.
        """
        from deltalake import CommitProperties, Transaction

        self.check_writable()
        schema = schemas.load(table)
        committed = 0
        written: dict[tuple[int, ...], FileSet] = {}  # frames written once per set of pending parts

        def attempt() -> None:
            nonlocal committed
            dt = self._open_or_create(table)
            versions = {app: dt.transaction_version(app) for _, txns in parts for app, _ in txns}
            pending: list[int] = []
            txns: list[tuple[str, int]] = []
            for i, (_, part_txns) in enumerate(parts):
                landed = [(versions[app] or 0) >= version for app, version in part_txns]
                if part_txns and all(landed):
                    continue
                if any(landed):
                    raise LakeError(
                        f"another writer committed some of the sources of this commit to "
                        f"{self.table_uri(table)} ({', '.join(a for a, _ in part_txns)}) but not all; "
                        "two writers are reading the same sources: stop one of them"
                    )
                pending.append(i)
                txns.extend(part_txns)
            if not pending:
                return
            files = self._files_of(table, [parts[i][0] for i in pending], written)
            dt = self._conform_table(dt, schema, files.extra_columns)
            crashpoints.reached(f"commit-snapshot-{table}")
            props = CommitProperties(app_transactions=[Transaction(a, v) for a, v in txns]) if txns else None
            dt.create_write_transaction(
                files.actions,
                mode="append",
                schema=pa.schema(dt.schema().to_arrow()),
                partition_by=list(schema.partition_by) or None,
                commit_properties=props,
            )
            committed = len(pending)

        self._guarded(f"commit to {self.table_uri(table)}", attempt, table, [t for _, txns in parts for t in txns])
        return committed

    def _files_of(
        self, table: str, payloads: list[FileSet | pl.DataFrame], written: dict[tuple[int, ...], FileSet]
    ) -> FileSet:
        """The files of ``payloads``: written files as they are, frames written now as one more file set."""
        out = FileSet(table)
        import polars as pl

        frames = [p for p in payloads if isinstance(p, pl.DataFrame) and p.height]
        for p in payloads:
            if isinstance(p, FileSet):
                out.extend(p)
        if frames:
            key = tuple(id(f) for f in frames)
            if key not in written:
                written[key] = self.write_files(table, pl.concat(frames, how="vertical_relaxed"))
            out.extend(written[key])
        return out

    def _guarded(
        self, what: str, attempt: Callable[[], None], table: str, txns: Sequence[tuple[str, int]] = ()
    ) -> None:
        """Run a commit ``attempt`` with race retries; wrap what still fails in a :class:`LakeError`."""
        from pipeline.lake.concurrency import retry_conflicts

        try:
            retry_conflicts(what, attempt)
        except LakeError:
            raise
        except Exception as exc:  # deltalake raises several unrelated types; all mean the same to a user
            # The answer to a commit can be lost after the commit itself landed (a reset connection):
            # when every transaction id of this commit is in the table now, it did land.
            if txns and self._landed(table, txns):
                return
            raise LakeError(f"{what} failed: {exc}") from exc

    def _open_or_create(self, table: str) -> Any:
        """The table, created empty first when it does not exist.

        A create that fails is not an error when the table exists afterwards: another writer created
        it a moment ago (our conditional put of its first log entry was refused), or ours landed and
        only the answer was lost.
        """
        from deltalake import DeltaTable

        dt = self.open(table)
        if dt is not None:
            return dt
        schema = schemas.load(table)
        try:
            DeltaTable.create(
                self.table_uri(table),
                schema.arrow_schema(),
                mode="ignore",
                partition_by=list(schema.partition_by) or None,
                name=table,
                description=schema.description,
                configuration=self._properties(schema) or None,
                storage_options=self.storage_options,
            )
        except Exception as exc:
            dt = self.open(table)
            if dt is None:
                raise LakeError(f"cannot create {self.table_uri(table)}: {exc}") from exc
            return dt
        dt = self.open(table)
        if dt is None:
            raise LakeError(f"{self.table_uri(table)} was created but cannot be opened")
        return dt

    def _conform_table(self, dt: Any, schema: schemas.Schema, extra: dict[str, pa.DataType]) -> Any:
        """Bring the table's properties and columns up to what this commit writes (metadata commits)."""
        from deltalake import Schema

        properties = self._properties(schema)
        configuration = dt.metadata().configuration
        if any(configuration.get(k) != v for k, v in properties.items()):
            # A table made by an older edgelake (every column had statistics), or a schema whose
            # `stats` choices changed: name the columns first, so that no reader ever sees a file
            # without statistics for a column the table says has them.
            dt.alter.set_table_properties(properties)
            dt = self.open(schema.name)
        known = schema.arrow_schema()
        wanted = list(known) + [pa.field(n, t) for n, t in extra.items() if n not in known.names]
        current = {f.name for f in dt.schema().fields}
        new = [f for f in wanted if f.name not in current]
        if new:
            dt.alter.add_columns(Schema.from_arrow(pa.schema(new)).fields)
            dt = self.open(schema.name)
        return dt

    @staticmethod
    def _properties(schema: schemas.Schema) -> dict[str, str]:
        """Delta table properties of a table written through :meth:`commit`."""
        return {STATS_COLUMNS: ",".join(schema.stats_columns)}

    def _landed(self, table: str, app_transactions: Sequence[tuple[str, int]]) -> bool:
        try:
            versions = self.committed_versions(table, [app for app, _ in app_transactions])
        except Exception:  # the table cannot be read either: report the original failure
            return False
        return all((versions[app] or 0) >= version for app, version in app_transactions)

    def committed_version(self, table: str, app_id: str) -> int | None:
        return self.committed_versions(table, [app_id])[app_id]

    def committed_versions(self, table: str, app_ids: Sequence[str]) -> dict[str, int | None]:
        """The last committed version of each application transaction id (one table open for all)."""
        dt = self.open(table)
        return {a: (None if dt is None else dt.transaction_version(a)) for a in app_ids}

    def delete_rows(self, table: str, predicate: str, *, unless: tuple[str, int] | None = None) -> None:
        """Delete the rows matching ``predicate`` (values quoted with :func:`sql_literal`), retried on races.

        ``unless`` (app id, version): leave the table alone once that transaction has landed in it. Each
        try reads a fresh snapshot, so rows another writer added or rewrote meanwhile are found.
        """
        self.check_writable()

        def attempt() -> None:
            dt = self.open(table)
            if dt is None or (unless is not None and (dt.transaction_version(unless[0]) or 0) >= unless[1]):
                return
            dt.delete(predicate)

        self._guarded(f"deleting {predicate} from {self.table_uri(table)}", attempt, table)

    def append_rows(self, table: str, rows: pl.DataFrame, *, app_transactions: Sequence[tuple[str, int]] = ()) -> None:
        """Write and commit small frames in one step (rejects, manifest)."""
        if rows.height or app_transactions:
            self.commit_parts(table, [(rows, tuple(app_transactions))])

    def replace_rows(self, table: str, rows: pl.DataFrame, *, key: str, value: str) -> None:
        """Atomically replace every row whose ``key`` equals ``value`` with ``rows`` (config tables)."""
        from deltalake import write_deltalake

        if not value.replace("-", "").replace("_", "").replace(":", "").replace("/", "").isalnum():
            raise LakeError(f"refusing to use {value!r} as a {key}: unexpected characters")
        self.check_writable()
        schema = schemas.load(table)
        arrow = rows.to_arrow().cast(schema.arrow_schema())

        def attempt() -> None:
            dt = self._open_or_create(table)
            write_deltalake(dt, arrow, mode="overwrite", predicate=f"{key} = {sql_literal(value)}")

        self._guarded(f"replacing {key}={value} in {self.table_uri(table)}", attempt, table)
