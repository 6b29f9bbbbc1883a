"""Make a lake of K x the requests from a one-day bench lake: copy k is the same traffic k days later.

    python bench/_replicate.py SRC_LAKE DST_LAKE --copies 10

Owns: the 100M-request bench lake, built from the 10M one in minutes instead of hours (generating and
ingesting 100M requests plus 100M WAF records took ~4 h of this 2-core machine by the 10M run's rate).
Copy k of the `cloudfront` and `waf` tables shifts `timestamp`, `date` and the `dt` partition by k days
and makes every record id unique (`x_edge_request_id`, `request_id`, `source_file` get a `~k` suffix),
so joins between the two tables match exactly as in the source and no two copies share an id. The
config tables are copied as they are. Each copy is one Delta commit of its own Parquet files (streamed
a source file at a time: memory stays at one file's rows). The result is a lake of K days with the
source's per-day shape; it is a benchmark input, not a realistic month (every day is the same day).
Must not: touch the source lake.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

SHIFTED = ("cloudfront", "waf")
IDS = {"cloudfront": ("x_edge_request_id", "source_file"), "waf": ("request_id", "source_file")}


def _batches(table: DeltaTable, root: Path, name: str, k: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    adds = pl.DataFrame(table.get_add_actions(flatten=True))
    for path, dt in zip(adds["path"], adds["partition.dt"], strict=True):
        frame = pl.read_parquet(root / path)
        shift = timedelta(days=k)
        frame = frame.with_columns(
            pl.col("timestamp") + shift,
            *([pl.col("date") + shift] if "date" in frame.columns else []),
            *[pl.col(c) + f"~{k}" for c in IDS[name]],
            (pl.lit(dt, pl.Date) + shift).alias("dt"),
        )
        yield from frame.select(schema.names).to_arrow().cast(schema).to_batches()


def replicate(src: Path, dst: Path, copies: int) -> None:
    if dst.exists():
        raise SystemExit(f"{dst} exists; remove it first")
    shutil.copytree(src, dst)  # copy 0, the config tables and every table property
    for name in SHIFTED:
        if not (src / name / "_delta_log").exists():
            continue
        source = DeltaTable(str(src / name))
        schema = pa.schema(source.schema().to_arrow())  # type: ignore[arg-type]
        for k in range(1, copies):
            reader = pa.RecordBatchReader.from_batches(schema, _batches(source, src / name, name, k, schema))
            write_deltalake(str(dst / name), reader, mode="append", partition_by=["dt"])
            print(f"  {name}: copy {k} of {copies - 1} committed", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    replicate(args.src, args.dst, args.copies)
    (args.dst / "DONE").write_text(f"{args.copies} copies of {args.src}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
