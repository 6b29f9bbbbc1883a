"""Batch ingest: input objects in, committed lake tables and a reconciled summary out.

:mod:`~pipeline.ingest.orchestrate` (the coordinator), :mod:`~pipeline.ingest.unit` (one object in,
uncommitted files out), :mod:`~pipeline.ingest.commit` (a group of outcomes into the tables),
:mod:`~pipeline.ingest.pool` (worker processes, started before the heavy imports),
:mod:`~pipeline.ingest.cluster` (the units of work on a Dask cluster, with ``--cluster``).

This file imports nothing at import time: :mod:`pipeline.ingest.pool` must load before Polars does, so
the public names are resolved on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.ingest.commit import IngestSummary
    from pipeline.ingest.orchestrate import ingest
    from pipeline.ingest.unit import IngestOptions

__all__ = ["IngestOptions", "IngestSummary", "ingest"]


def __getattr__(name: str) -> Any:
    if name == "ingest":
        from pipeline.ingest import orchestrate

        return orchestrate.ingest
    if name == "IngestSummary":
        from pipeline.ingest import commit

        return commit.IngestSummary
    if name == "IngestOptions":
        from pipeline.ingest import unit

        return unit.IngestOptions
    raise AttributeError(f"module 'pipeline.ingest' has no attribute {name!r}")
