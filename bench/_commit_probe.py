"""Run one ingest in this process with the coordinator's commits timed, and print what they cost as JSON.

Owns the timing only: ``commit_group`` (a whole group: data tables, rejects, manifest) and every
``Lake.commit_parts`` (one table's Delta commit) are wrapped with a clock; the ingest itself is the real one.
``EDGELAKE_GROUP_OBJECTS`` sets the objects per group commit, as for edgelake itself.

    python bench/_commit_probe.py DATA LAKE --cluster tcp://127.0.0.1:8786
    python bench/_commit_probe.py DATA LAKE --workers 2
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def main(argv: list[str]) -> int:
    data, lake, flag, value = argv
    import pipeline.ingest.orchestrate as orchestrate
    from pipeline.ingest import IngestOptions, ingest
    from pipeline.lake.table import Lake

    groups: list[tuple[int, float]] = []
    tables: dict[str, list[float]] = {}
    commit_group, commit_parts = orchestrate.commit_group, Lake.commit_parts

    def timed_group(*args: Any) -> None:
        started = time.perf_counter()
        commit_group(*args)
        groups.append((len(args[1]), time.perf_counter() - started))

    def timed_parts(self: Lake, table: str, parts: Any) -> int:
        started = time.perf_counter()
        done = commit_parts(self, table, parts)
        tables.setdefault(table, []).append(time.perf_counter() - started)
        return done

    orchestrate.commit_group = timed_group  # type: ignore[assignment]
    Lake.commit_parts = timed_parts  # type: ignore[method-assign]
    if flag == "--cluster":
        opts = IngestOptions(source="cloudfront", cluster=value)
    else:
        opts = IngestOptions(source="cloudfront", workers=int(value))
    started = time.perf_counter()
    summary = ingest([data], lake, opts)
    seconds = time.perf_counter() - started
    committing = sum(t for _, t in groups)
    print(
        json.dumps(
            {
                "via": "cluster" if flag == "--cluster" else f"pool of {value}",
                "group_objects": orchestrate.GROUP_OBJECTS,
                "objects": summary.objects,
                "lines": summary.lines,
                "seconds": seconds,
                "objects_per_second": summary.objects / seconds,
                "groups": len(groups),
                "group_ms": 1000 * committing / max(1, len(groups)),
                "tables_per_group": sum(len(v) for v in tables.values()) / max(1, len(groups)),
                "tables": {t: {"commits": len(v), "ms_per_commit": 1000 * sum(v) / len(v)} for t, v in tables.items()},
                "commit_seconds": committing,
                "commit_share_of_run": committing / seconds,
                "commit_ms_per_object": 1000 * committing / max(1, summary.objects),
                "commit_ceiling_objects_per_second": summary.objects / committing if committing else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
