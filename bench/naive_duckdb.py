"""Naive DuckDB contender: one `COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)` statement.

Reads every `*.gz` in the input directory as tab-separated text with all columns VARCHAR, skips the `#`
header lines, and writes a single Parquet file. The options beyond the obvious ones are what it takes to
make DuckDB read CloudFront files at all: quoting and escaping are off (a `"` never appears unencoded),
the 33 columns are declared so the sniffer cannot guess a different width, and `null_padding` is off so a
short line fails instead of being padded. No typing, decoding, validation or rejects.

    python bench/naive_duckdb.py <input dir> <output dir>
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

COLUMN_COUNT = 33  # the legacy standard-log field count (FORMATS.md §a.3)


def _literal(text: str) -> str:
    """A SQL string literal (COPY ... TO does not take a bound parameter for its target)."""
    return "'" + text.replace("'", "''") + "'"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: naive_duckdb.py <input dir> <output dir>", file=sys.stderr)
        return 2
    source, out = Path(argv[0]), Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    columns = "{" + ", ".join(f"'column{i:02d}': 'VARCHAR'" for i in range(COLUMN_COUNT)) + "}"
    glob = str(source / "*.gz")
    target = str(out / "out.parquet")
    con = duckdb.connect()  # in-memory database; spills go to the output directory
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = {_literal(str(out / '.duckdb_tmp'))}")
    con.execute(
        f"""
        COPY (
            SELECT * FROM read_csv(
                {_literal(glob)},
                delim = '\\t', header = false, all_varchar = true, comment = '#',
                quote = '', escape = '', columns = {columns},
                auto_detect = false, null_padding = false, compression = 'gzip'
            )
        ) TO {_literal(target)} (FORMAT parquet)
        """
    )
    row = con.execute(f"SELECT count(*) FROM read_parquet({_literal(target)})").fetchone()
    print(f'{{"rows": {row[0] if row else 0}}}')
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
