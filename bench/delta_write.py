"""Which Delta write path is faster for the ingest: ``write_deltalake`` or Parquet files + one commit?

Reads the benchmark's gzip files once with edgelake's readers (not timed), then times, on the same typed
rows, (a) ``deltalake.write_deltalake(..., partition_by=["dt"])`` per batch and (b) edgelake's path:
``Lake.write_files`` (Parquet files into the table's partitions) plus one ``create_write_transaction`` commit.

    python bench/delta_write.py <dir of .gz files> [--runs 3]
"""

from __future__ import annotations

import argparse
import glob
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import polars as pl
from deltalake import WriterProperties, write_deltalake

from pipeline.lake import FileSet, Lake
from pipeline.readers._base import ReadContext
from pipeline.readers.cloudfront import read_w3c
from pipeline.storage.chunks import ChunkStream


def load(directory: str) -> list[pl.DataFrame]:
    frames = []
    for path in sorted(glob.glob(f"{directory}/*.gz")):
        frames.extend(
            b.rows for b in read_w3c(ChunkStream(path), ReadContext(uri=path, source="cloudfront")) if b.rows.height
        )
    return frames


def via_write_deltalake(frames: list[pl.DataFrame], root: Path) -> None:
    props = WriterProperties(compression="ZSTD", compression_level=1)
    for frame in frames:
        write_deltalake(
            str(root / "cloudfront"), frame.to_arrow(), partition_by=["dt"], mode="append", writer_properties=props
        )


def via_files_and_commit(frames: list[pl.DataFrame], root: Path) -> None:
    lake = Lake(str(root))
    files = FileSet("cloudfront")
    for frame in frames:
        files.extend(lake.write_files("cloudfront", frame))
    lake.commit(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    frames = load(args.directory)
    rows = sum(f.height for f in frames)
    print(f"{rows:,} rows in {len(frames)} batches")
    for name, fn in (
        ("write_deltalake per batch", via_write_deltalake),
        ("edgelake files + one commit", via_files_and_commit),
    ):
        times = []
        for _ in range(args.runs):
            root = Path(tempfile.mkdtemp(prefix="edgelake-delta-bench-"))
            start = time.perf_counter()
            fn(frames, root)
            times.append(time.perf_counter() - start)
            shutil.rmtree(root)
        med = statistics.median(times)
        print(f"{name:<28} median {med:6.2f} s  {rows / med:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
