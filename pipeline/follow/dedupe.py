"""Dropping records a stdin producer sent twice, by their request id, within a stated horizon.

A pipe cannot be rewound, so ``edgelake follow -`` is at-least-once from the producer's side: a
Kinesis consumer that restarts re-sends the records after its own last checkpoint, some of which
the lake already holds. This module drops a record when its request id

- occurs earlier in the same micro-batch (the first one is kept), or
- is already in the table followed (``realtime`` by ``x_edge_request_id``, ``waf`` by ``request_id``,
  the id CloudFront gave the request): checked for ids committed by this process during the last
  ``horizon`` seconds and, at start, for the table's rows (of this distribution, for real-time logs)
  whose timestamps fall in the ``horizon`` before now.

Outside that horizon a re-sent record is not recognised and becomes a second row. Memory stays
bounded: the ids are kept as 64-bit hashes (8 bytes each; about 100 MB for ten minutes at 20k
records/s), and a hash match is confirmed against the table's rows before anything is dropped, so
a hash collision can never lose a record. Records without a request id are always kept.

Must not: read input or commit anything.
"""

from __future__ import annotations

import time
from collections import deque
from datetime import UTC, datetime, timedelta

import polars as pl

from pipeline.lake import Lake

SEED = 20230516  # any fixed seed: hashes never leave this process


def _hashes(ids: pl.Series) -> pl.Series:
    return ids.drop_nulls().hash(seed=SEED)


class RequestIdFilter:
    """Remembers committed request ids for ``horizon`` seconds and drops records that repeat one."""

    def __init__(
        self, lake: Lake, table: str, column: str, horizon: float, *, scope: tuple[str, str] | None = None
    ) -> None:
        self.lake = lake
        self.table = table
        self.column = column
        self.scope = scope  # (column, value) the table's rows must match: a real-time log's distribution
        self.horizon = horizon
        self._recent: deque[tuple[float, pl.Series]] = deque()
        self._merged: pl.Series | None = None
        self._pending: list[pl.Series] = []  # ids kept in the micro-batch being written

    def warm(self) -> int:
        """Load the ids of rows of this distribution from the last ``horizon`` seconds of the table."""
        if self.lake.open(self.table) is None:
            return 0
        since = datetime.now(UTC) - timedelta(seconds=self.horizon)
        # Hashed while scanning: the ids themselves (~60 bytes each) are never all in memory at once.
        hashes = (
            self.lake.scan(self.table)
            .filter(self._in_scope() & (pl.col("timestamp") >= since) & pl.col(self.column).is_not_null())
            .select(pl.col(self.column).hash(seed=SEED))
            .collect(engine="streaming")
            .to_series()
        )
        self._remember_hashes(hashes)
        return hashes.len()

    def filter(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        """``rows`` without repeated records, and how many were dropped.

        Rows kept count as part of the current micro-batch until :meth:`committed` is called.
        """
        if self.column not in rows.columns or rows.height == 0:
            return rows, 0
        ids = rows.get_column(self.column)
        keep = ids.is_null() | ids.is_first_distinct()
        if self._pending:
            keep = keep & ~ids.is_in(pl.concat(self._pending).implode())
        seen = self._seen()
        if seen is not None:
            hashes = ids.hash(seed=SEED)
            maybe = keep & ids.is_not_null() & hashes.is_in(seen)
            if maybe.any():
                known = self._in_table(rows.filter(maybe))
                keep = keep & ~(maybe & ids.is_in(known))
        kept = rows.filter(keep)
        self._pending.append(kept.get_column(self.column).drop_nulls())
        return kept, rows.height - kept.height

    def committed(self) -> None:
        """The rows kept since the last call are now in the table."""
        if self._pending:
            self._remember(pl.concat(self._pending))
            self._pending = []

    def _remember(self, ids: pl.Series) -> None:
        self._remember_hashes(_hashes(ids))

    def _remember_hashes(self, hashes: pl.Series) -> None:
        now = time.monotonic()
        if hashes.len():
            self._recent.append((now, hashes))
            self._merged = None
        while self._recent and self._recent[0][0] < now - self.horizon:
            self._recent.popleft()
            self._merged = None

    def _seen(self) -> pl.Series | None:
        if self._merged is None and self._recent:
            self._merged = pl.concat([h for _, h in self._recent], rechunk=True)
        return self._merged

    def _in_table(self, candidates: pl.DataFrame) -> pl.Series:
        """The candidates' ids that really are in the table (a re-sent record has the same timestamp)."""
        lo, hi = candidates.select(pl.col("timestamp").min().alias("lo"), pl.col("timestamp").max().alias("hi")).row(0)
        wanted = candidates.get_column(self.column).unique()
        return (
            self.lake.scan(self.table)
            .filter(self._in_scope() & pl.col("timestamp").is_between(lo, hi))
            .filter(pl.col(self.column).is_in(wanted.implode()))
            .select(self.column)
            .unique()
            .collect()
            .get_column(self.column)
        )

    def _in_scope(self) -> pl.Expr:
        return pl.lit(True) if self.scope is None else pl.col(self.scope[0]) == self.scope[1]
