"""Naive Polars contender: what a first attempt at "logs to Parquet" with Polars looks like.

For each input file: `pl.read_csv` (tab separator, `#` lines skipped, no header, every column a string),
then `write_parquet` of that frame, one Parquet file per input file. No column names from the `#Fields`
line, no typing, no percent-decoding, no validation, no rejects; a line with the wrong field count makes
the read fail. It is the floor a real ingest has to be compared with, not a competitor in correctness.

    python bench/naive_polars.py <input dir> <output dir>
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: naive_polars.py <input dir> <output dir>", file=sys.stderr)
        return 2
    source, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for path in sorted(source.glob("*.gz")):
        frame = pl.read_csv(
            path,
            separator="\t",
            has_header=False,
            comment_prefix="#",
            infer_schema=False,  # every column stays a string
            quote_char=None,  # W3C logs have no quoting; CloudFront percent-encodes `"`
        )
        frame.write_parquet(out / (path.name.removesuffix(".gz") + ".parquet"))
        rows += frame.height
    print(f'{{"rows": {rows}}}')
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
