"""Dropping records a stdin producer sent twice, by ``x_edge_request_id``, within a stated horizon.

A pipe cannot be rewound, so ``edgelake follow -`` is at-least-once from the producer's side: a
Kinesis consumer that restarts re-sends the records after its own last checkpoint, some of which
the lake already holds. This module drops a record when its request id

- occurs earlier in the same micro-batch (the first one is kept), or
- is already in the ``realtime`` table: checked for ids committed by this process during the last
  ``horizon`` seconds and, at start, for the rows of this distribution whose timestamps fall in the
  ``horizon`` before now.

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

ID = "x_edge_request_id"
TABLE = "realtime"
SEED = 20230516  # any fixed seed: hashes never leave this process


def _hashes(ids: pl.Series) -> pl.Series:
    return ids.drop_nulls().hash(seed=SEED)


class RequestIdFilter:
    """Remembers committed request ids for ``horizon`` seconds and drops records that repeat one."""

    def __init__(self, lake: Lake, distribution_id: str, horizon: float) -> None:
        self.lake = lake
        self.distribution_id = distribution_id
        self.horizon = horizon
        self._recent: deque[tuple[float, pl.Series]] = deque()
        self._merged: pl.Series | None = None
        self._pending: list[pl.Series] = []  # ids kept in the micro-batch being written

    def warm(self) -> int:
        """Load the ids of rows of this distribution from the last ``horizon`` seconds of the table."""
        if self.lake.open(TABLE) is None:
            return 0
        since = datetime.now(UTC) - timedelta(seconds=self.horizon)
        # Hashed while scanning: the ids themselves (~60 bytes each) are never all in memory at once.
        hashes = (
            self.lake.scan(TABLE)
            .filter(
                (pl.col("distribution_id") == self.distribution_id)
                & (pl.col("timestamp") >= since)
                & pl.col(ID).is_not_null()
            )
            .select(pl.col(ID).hash(seed=SEED))
            .collect(engine="streaming")
            .to_series()
        )
        self._remember_hashes(hashes)
        return hashes.len()

    def filter(self, rows: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        """``rows`` without repeated records, and how many were dropped.

        Rows kept count as part of the current micro-batch until :meth:`committed` is called.
        """
        if ID not in rows.columns or rows.height == 0:
            return rows, 0
        ids = rows.get_column(ID)
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
        self._pending.append(kept.get_column(ID).drop_nulls())
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
        wanted = candidates.get_column(ID).unique()
        return (
            self.lake.scan(TABLE)
            .filter(
                (pl.col("distribution_id") == self.distribution_id)
                & pl.col("timestamp").is_between(lo, hi)
                & pl.col(ID).is_in(wanted.implode())
            )
            .select(ID)
            .unique()
            .collect()
            .get_column(ID)
        )
