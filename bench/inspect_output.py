"""Count what a contender wrote, so the benchmark can check it did the whole job.

Owns one question: how many rows are in the output directory? Delta tables (any directory holding a
`_delta_log`) are counted through `deltalake` (only the files of the current version); loose Parquet
files outside Delta tables are counted from their footers. Prints one JSON object to stdout:

    {"tables": {"<relative path>": rows, ...}, "bytes": on-disk size}

Which table holds the data and which the rejects is for the caller to decide. It runs in its own
process after a timed run, so its memory never counts against a contender.

    python bench/inspect_output.py <output dir>
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq


def _delta_rows(table: Path) -> int:
    from deltalake import DeltaTable

    return int(DeltaTable(str(table)).count())


def inspect(root: Path) -> dict[str, object]:
    tables: dict[str, int] = {}
    delta_roots = sorted(p.parent for p in root.rglob("_delta_log") if p.is_dir())
    for table in delta_roots:
        tables[str(table.relative_to(root)) or "."] = _delta_rows(table)
    for parquet in sorted(root.rglob("*.parquet")):
        if any(parquet.is_relative_to(t) for t in delta_roots):
            continue
        tables[str(parquet.relative_to(root))] = pq.ParquetFile(parquet).metadata.num_rows
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return {"tables": tables, "bytes": size}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: inspect_output.py <output dir>", file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not root.is_dir():
        print(f"{root} is not a directory: the contender wrote nothing there", file=sys.stderr)
        return 1
    print(json.dumps(inspect(root)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
