"""The analyses, each runnable on two engines with one answer.

Every analysis is a named DuckDB query in ``sql/<name>.sql`` (what an analyst runs) and a Polars
function registered here under the same name, taking the lake and the query's declared parameters as
keywords. :func:`run` binds and checks the parameters once (from the SQL header) and dispatches to
either engine; tests assert that both return the same rows.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import polars as pl

from pipeline.errors import UsageError
from pipeline.lake import Lake
from pipeline.query import named as queries
from pipeline.storage.fs import require_lake

ENGINES = ("duckdb", "polars")
# analysis name -> "module:function" of its Polars implementation (imported on first use)
POLARS: dict[str, str] = {
    "hit-ratio": "pipeline.analyses.cache:hit_ratio",
    "hit-ratio-regressions": "pipeline.analyses.cache:hit_ratio_regressions",
    "status-mix": "pipeline.analyses.origins:status_mix",
    "failover": "pipeline.analyses.origins:failover",
    "failover-episodes": "pipeline.analyses.origins:failover_episodes",
    "waf-fp-candidates": "pipeline.analyses.waf:waf_fp_candidates",
    "rate-sizing": "pipeline.analyses.rates:rate_sizing",
    "rate-limit-recommendation": "pipeline.analyses.rates:rate_limit_recommendation",
    "rate-limit-table": "pipeline.analyses.rates:rate_limit_table",
    # the doctor's evidence queries (sql/doctor/)
    "doctor-failures": "pipeline.doctor.twins:doctor_failures",
    "doctor-traffic": "pipeline.doctor.twins:doctor_traffic",
    "doctor-origin-errors": "pipeline.doctor.twins:doctor_origin_errors",
    "doctor-edge-errors": "pipeline.doctor.twins:doctor_edge_errors",
    "doctor-constant-bodies": "pipeline.doctor.twins:doctor_constant_bodies",
    "doctor-query-names": "pipeline.doctor.twins:doctor_query_names",
    "doctor-waf-traffic": "pipeline.doctor.twins:doctor_waf_traffic",
}


def polars_impl(name: str) -> Callable[..., pl.DataFrame]:
    target = POLARS.get(name)
    if target is None:
        raise UsageError(f"query {name!r} has no Polars implementation; use --engine duckdb")
    module, func = target.split(":")
    impl: Callable[..., pl.DataFrame] = getattr(importlib.import_module(module), func)
    return impl


def run(
    name: str, lake: Lake | str, params: Mapping[str, Any] | None = None, *, engine: str = "duckdb"
) -> pl.DataFrame:
    """Run analysis ``name`` on ``engine`` with ``params`` (strings are converted to declared types)."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose duckdb or polars")
    lake = Lake(lake) if isinstance(lake, str) else lake
    query = queries.get(name)
    bound = query.bind(params or {})
    require_lake(lake.uri)  # both engines: a mistyped lake is an error, not empty tables
    if engine == "polars":
        return polars_impl(name)(lake, **bound)
    from pipeline.query.views import connect, run_named

    con = connect(lake, lazy=True)
    try:
        frame = pl.from_arrow(run_named(con, query, bound))
    finally:
        con.close()
    assert isinstance(frame, pl.DataFrame)
    return frame
