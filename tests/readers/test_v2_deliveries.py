"""Standard logging v2: JSON and Parquet deliveries land in the cloudfront table, same values either way."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from helpers import ROOT

from pipeline.ingest import ingest
from pipeline.lake import Lake

V2 = (
    ROOT
    / "data"
    / "samples"
    / "cloudfront"
    / "v2"
    / "AWSLogs"
    / "123456789012"
    / "CloudFront"
    / "E2EXAMPLE1"
    / "2024"
    / "11"
    / "15"
)


def test_json_and_parquet_deliveries_agree(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    summary = ingest([str(V2)], lake)
    assert summary.objects == 2 and summary.rows["cloudfront"] == 6 and summary.rejects == 0
    frame = Lake(lake).scan("cloudfront").collect()
    cols = [
        "timestamp",
        "distribution_id",
        "asn",
        "cache_behavior_path_pattern",
        "origin_fbl",
        "origin_lbl",
        "x_edge_location",
        "timestamp_ms",
        "source_line",
    ]
    by_kind = {
        kind: frame.filter(pl.col("source_file").str.ends_with(kind)).select(cols).sort("source_line")
        for kind in (".gz", ".parquet")
    }
    assert by_kind[".gz"].equals(by_kind[".parquet"])
    first = by_kind[".gz"].row(0, named=True)
    assert first["timestamp"] == datetime(2024, 11, 14, 21, 34, 6, 814000, tzinfo=UTC)
    assert first["timestamp_ms"] == 1731620046814
    assert first["distribution_id"] == "E2EXAMPLE1" and first["asn"] == 16509
    assert frame.get_column("dt").unique().sort().to_list() == [
        datetime(2024, 11, 14).date(),
        datetime(2024, 11, 15).date(),
    ]
