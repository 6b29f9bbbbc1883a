"""The lake: one Delta Lake table per dataset under ``<lake>/<table>/``, on local disk or S3.

Owns the physical layout and every write. Workers call :meth:`Lake.write_files` to turn typed rows
into zstd Parquet data files inside the table's ``dt=`` partitions and get Delta ``AddAction`` values
back; nothing is visible to readers until the single coordinator commits those actions with
:meth:`Lake.commit`, atomically, together with the application transaction ids that make a retried
commit detectable (Delta's ``txn`` actions). Data files written by a worker that died before the
commit are never referenced by the log, so readers never see them (``vacuum`` removes them).

Must not: parse logs or decide what to ingest (that is :mod:`pipeline.ingest`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import crashpoints, schemas
from pipeline.errors import LakeError
from pipeline.inputs import filesystem, storage_options

ROW_GROUP_ROWS = 262_144  # rows per Parquet row group: big enough for scans, small enough to skip
ZSTD_LEVEL = 1
STAT_CHARS = 64  # string statistics are cut to this many characters
STATS_COLUMNS = "delta.dataSkippingStatsColumns"  # the table property naming the columns with statistics


@dataclass
class FileSet:
    """Data files written for one table and not yet committed."""

    table: str
    actions: list[Any] = field(default_factory=list)  # deltalake.transaction.AddAction
    extra_columns: dict[str, pa.DataType] = field(default_factory=dict)
    rows: int = 0

    def extend(self, other: FileSet) -> None:
        self.actions.extend(other.actions)
        self.extra_columns.update(other.extra_columns)
        self.rows += other.rows


def _delta_storage_options(uri: str) -> dict[str, str] | None:
    if not uri.startswith("s3"):
        return None
    opts: dict[str, str] = {}
    s3 = storage_options()
    endpoint = s3.get("endpoint_url")
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    opts["AWS_REGION"] = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(key):
            opts[key] = os.environ[key]
    # No locking option: delta-rs commits to S3 with conditional puts (If-None-Match: *), which is safe
    # with any number of writers on a store that honours them (Lake.check_writable makes sure of that).
    # delta-rs (object_store) retries 5xx, throttling, resets and timeouts itself, with exponential
    # backoff, up to 10 retries within ``retry_timeout``. Its ``max_retries`` key is left at that
    # default on purpose: Polars' scan_delta reuses these options and insists on an int for that
    # key, while delta-rs insists on strings. ``timeout`` bounds a whole request, body included, so
    # it is longer than botocore's read timeout (an idle-socket limit): a 128 MiB compacted file
    # must fit in it on a slow link. Keys verified against deltalake 1.6 (bad values are refused).
    config = s3["config_kwargs"]
    retry_window = os.environ.get("EDGELAKE_S3_RETRY_TIMEOUT", "").strip() or "180"
    if not retry_window.isdigit():
        raise LakeError(f"environment variable EDGELAKE_S3_RETRY_TIMEOUT={retry_window!r} must be whole seconds")
    opts["retry_timeout"] = f"{retry_window}s"  # no new attempt after this long since the first
    opts["connect_timeout"] = f"{round(float(config['connect_timeout']) * 1000)}ms"
    opts["timeout"] = f"{round(max(float(config['read_timeout']), 120.0) * 1000)}ms"
    opts["backoff_config.init_backoff"] = "100ms"
    opts["backoff_config.max_backoff"] = "10s"
    return opts


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _to_arrow(frame: pl.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table without copying its strings, in a form Arrow's Parquet writer takes.

    Flat string columns stay string views. Arrow cannot slice views inside structs into row groups, so
    nested columns go over in the classic layout (a copy, only for them).
    """
    table = frame.to_arrow(compat_level=pl.CompatLevel.newest())
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    if nested:
        classic = frame.select(nested).to_arrow(compat_level=pl.CompatLevel.oldest())
        for name in nested:
            table = table.set_column(table.schema.get_field_index(name), name, classic.column(name))
    return table


def _leaf_paths(field: pa.Field, prefix: str = "") -> list[str]:
    """The Parquet column paths under an Arrow field (``labels`` -> ``labels.list.element``)."""
    path = f"{prefix}{field.name}"
    t = field.type
    if pa.types.is_struct(t):
        return [p for i in range(t.num_fields) for p in _leaf_paths(t.field(i), f"{path}.")]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _leaf_paths(pa.field("element", t.value_type), f"{path}.list.")
    return [path]


def _footer_stats(path: str, columns: list[str], rows: int, stats: dict[str, Any]) -> list[str]:
    """Fill ``stats`` from the Parquet footer at ``path``; return the columns it could not answer for."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, ValueError):
        return columns
    found: dict[str, list[Any]] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for i in range(group.num_columns):
            col = group.column(i)
            name = col.path_in_schema
            st = col.statistics
            if name not in columns or st is None or st.null_count is None:
                found[name] = [None]  # poisoned: compute it
                continue
            entry = found.setdefault(name, [0, None, None, True])
            if entry[0] is None:
                continue
            entry[0] += st.null_count
            if st.has_min_max:
                lo, hi = st.min, st.max
                if isinstance(lo, str | bytes) and max(len(lo), len(hi)) >= STAT_CHARS:
                    found[name] = [None]  # possibly truncated by the writer: compute it
                    continue
                entry[1] = lo if entry[1] is None else min(entry[1], lo)
                entry[2] = hi if entry[2] is None else max(entry[2], hi)
            elif st.null_count < group.num_rows:
                found[name] = [None]
    rest = []
    for name in columns:
        got = found.get(name)
        if got is None or got[0] is None:
            rest.append(name)
            continue
        stats["nullCount"][name] = got[0]
        if got[1] is not None and got[0] < rows:
            stats["minValues"][name] = _iso(got[1])
            stats["maxValues"][name] = _iso(got[2])
    return rest


class Lake:
    """A lake rooted at a local directory or an ``s3://`` prefix."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/") or "/"
        self.is_s3 = uri.startswith("s3://")
        if not self.is_s3:
            self.uri = os.path.abspath(self.uri)
        self.fs, self._root = filesystem(self.uri)
        self.storage_options = _delta_storage_options(self.uri)

    # --- locations ---------------------------------------------------------------------------------
    def table_uri(self, table: str) -> str:
        schemas.column_name(table)  # table names are ours, never from log data; still refuse odd ones
        return f"{self.uri}/{table}"

    def _table_path(self, table: str) -> str:
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
        dt = self.open(table)
        if dt is None:
            empty = pl.from_arrow(schemas.load(table).arrow_schema().empty_table())
            assert isinstance(empty, pl.DataFrame)
            return empty.lazy()
        return pl.scan_delta(dt)

    # --- writing (workers) -------------------------------------------------------------------------
    def write_files(self, table: str, rows: pl.DataFrame) -> FileSet:
        """Write ``rows`` as Parquet data files of ``table`` (one per ``dt``), uncommitted."""
        from deltalake.transaction import AddAction

        schema = schemas.load(table)
        known = schema.arrow_schema()
        known_stats = set(schema.stats_columns)
        out = FileSet(table)
        if rows.height == 0:
            return out
        for name in rows.columns:
            if name not in known.names:
                out.extra_columns[name] = pa.string()
        parts = list(schema.partition_by)
        groups: Any
        if not parts:
            groups = [((), rows)]
        elif all(rows.get_column(p).n_unique() == 1 for p in parts):  # the usual case: skip the shuffle
            groups = [(tuple(rows.row(0, named=True)[p] for p in parts), rows)]
        else:
            groups = rows.partition_by(parts, as_dict=True, maintain_order=True).items()
        for values, part in groups:
            rel_dir = "/".join(f"{k}={v}" for k, v in zip(parts, values, strict=True))
            name = f"part-{uuid.uuid4().hex}.zstd.parquet"
            rel = f"{rel_dir}/{name}" if rel_dir else name
            data = part.drop(parts) if parts else part
            arrow = _to_arrow(data)
            stat_cols = [c for c in data.columns if c in known_stats]
            plain = {c for c in data.columns if c in schema.by_name and not schema.by_name[c].dictionary}
            dictionary: bool | list[str] = (
                True if not plain else [p for f in arrow.schema if f.name not in plain for p in _leaf_paths(f)]
            )
            path = f"{self._table_path(table)}/{rel}"
            try:
                if not self.is_s3:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                # The column types already follow the schema, so the files match the Delta schema.
                # Polars hands its buffers to Arrow without a copy (string views stay views), and
                # Arrow's writer encoded them with ~20% less CPU than Polars' own, measured here.
                options: dict[str, Any] = dict(
                    compression="zstd",
                    compression_level=ZSTD_LEVEL,
                    row_group_size=ROW_GROUP_ROWS,
                    data_page_size=1 << 20,
                    write_statistics=stat_cols,
                    use_dictionary=dictionary,
                    # no Arrow schema in the footer: readers would see string views and some
                    # (delta-rs' dataset filters) cannot compare them with strings
                    store_schema=False,
                )
                if self.is_s3:
                    with self.fs.open(path, "wb") as fh:
                        pq.write_table(arrow, fh, **options)
                    size = self.fs.size(path)
                else:  # Arrow's own file output: no Python call for each of a file's ~450 writes
                    pq.write_table(arrow, path, **options)
                    size = os.path.getsize(path)
            except OSError as exc:
                raise LakeError(f"cannot write to the lake at {self.table_uri(table)}: {exc.strerror or exc}") from exc
            out.actions.append(
                AddAction(
                    rel,
                    size,
                    dict(zip(parts, (str(v) for v in values), strict=True)),
                    int(time.time() * 1000),
                    True,
                    self._stats(data, stat_cols, None if self.is_s3 else path),
                )
            )
            out.rows += data.height
        return out

    @staticmethod
    def _stats(data: pl.DataFrame, columns: list[str], written: str | None = None) -> str:
        """Delta file statistics for ``columns`` (the schema's statistics columns present in ``data``).

        Readers prune files with these. The table's ``delta.dataSkippingStatsColumns`` property names
        the same columns, which matters: without it, delta-rs' Arrow dataset reads a column missing
        from a file's statistics as all null, and a filter on it skipped every file. Long strings are
        cut to a valid bound. The Parquet writer has already computed most of them: they are taken
        from the ``written`` file's footer where it holds them whole, and computed here otherwise.
        """
        flat = [c for c in columns if not data.schema[c].is_nested()]
        stats: dict[str, Any] = {"numRecords": data.height, "minValues": {}, "maxValues": {}, "nullCount": {}}
        if written is not None:
            flat = _footer_stats(written, flat, data.height, stats)
        if not flat:
            return json.dumps(stats)
        summary = data.select(
            *[pl.col(c).null_count().alias(f"n:{c}") for c in flat],
            *[pl.col(c).min().alias(f"lo:{c}") for c in flat],
            *[pl.col(c).max().alias(f"hi:{c}") for c in flat],
        ).row(0, named=True)
        for c in flat:
            stats["nullCount"][c] = summary[f"n:{c}"]
            lo, hi = summary[f"lo:{c}"], summary[f"hi:{c}"]
            if lo is None:
                continue
            if isinstance(lo, str) and len(lo) > STAT_CHARS:
                lo = lo[:STAT_CHARS]
            if isinstance(hi, str) and len(hi) > STAT_CHARS:
                hi = hi[:STAT_CHARS] + "\U0010ffff"  # still above every value with that prefix
            stats["minValues"][c] = _iso(lo)
            stats["maxValues"][c] = _iso(hi)
        return json.dumps(stats)

    # --- committing (the coordinator) --------------------------------------------------------------
    def check_writable(self) -> None:
        """Refuse an S3 store without conditional writes (checked once per process and bucket)."""
        if self.is_s3:
            from pipeline.concurrency import require_conditional_writes

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
        fresh snapshot when it loses a race (see :mod:`pipeline.concurrency`), so a table another writer
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
        from pipeline.concurrency import retry_conflicts

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


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal for a Delta predicate (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"
