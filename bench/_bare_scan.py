"""The floor an analysis is compared with: a bare scan-and-aggregate of the columns it reads.

Run as a fresh process by `analyses.py`: `python _bare_scan.py ENGINE LAKE TABLE:col,col,... [...]`.
Prints one JSON object: the seconds spent scanning (timed inside the process, after the imports, so
process start is not in it), their CPU seconds, and the aggregates (so nothing can be optimised away).

* duckdb: DuckDB's own Parquet reader over the Delta snapshot's files (the list comes from delta-rs),
  one `SELECT` per table aggregating every needed column: `min()` of a flat column (every value is
  decoded and compared), `sum(len())` of a list column.
* polars: `pl.scan_delta` with the same aggregates.

Must not: filter, join or group: it is the cost of reading the data, nothing more.
"""

from __future__ import annotations

import json
import sys
import time


def _duckdb(lake: str, table: str, columns: list[str]) -> tuple[float, list[object]]:
    import duckdb
    from deltalake import DeltaTable

    started = time.perf_counter()
    dt = DeltaTable(f"{lake}/{table}")
    types = {f.name: str(f.type) for f in dt.schema().to_arrow()}
    files = dt.file_uris()
    con = duckdb.connect()
    aggs = []
    for c in columns:
        nested = types.get(c, "").startswith(("list", "large_list", "struct"))
        aggs.append(f'sum(len("{c}"))' if nested else f'min("{c}")')
    row = con.sql(f"SELECT {', '.join(aggs)} FROM read_parquet($files, union_by_name=true)", params={"files": files})
    values = list(row.fetchall()[0])
    return time.perf_counter() - started, values


def _polars(lake: str, table: str, columns: list[str]) -> tuple[float, list[object]]:
    import polars as pl

    started = time.perf_counter()
    frame = pl.scan_delta(f"{lake}/{table}")
    schema = frame.collect_schema()
    aggs = [pl.col(c).list.len().sum() if isinstance(schema[c], pl.List) else pl.col(c).min() for c in columns]
    values = list(frame.select(aggs).collect().row(0))
    return time.perf_counter() - started, values


def main(argv: list[str]) -> int:
    engine, lake, *specs = argv
    scan = _duckdb if engine == "duckdb" else _polars
    total = 0.0
    cpu = time.process_time()
    out: dict[str, object] = {}
    for spec in specs:
        table, _, cols = spec.partition(":")
        seconds, values = scan(lake, table, cols.split(","))
        total += seconds
        out[table] = {"seconds": round(seconds, 3), "values": [str(v)[:40] for v in values]}
    cpu = time.process_time() - cpu  # CPU of the scans (all threads): steadier than wall time on a busy host
    print(json.dumps({"engine": engine, "seconds": round(total, 3), "cpu_seconds": round(cpu, 3), "tables": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
