"""A follower batch in which every line is rejected still commits its rejects and checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from helpers import REALTIME

from pipeline.follow import FollowOptions, follow
from pipeline.lake import Lake
from pipeline.readers.realtime import load_fields


def test_a_batch_of_only_rejects(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    opts = FollowOptions(
        realtime_fields=load_fields(str(REALTIME / "realtime-config.json")), distribution_id="E2EXAMPLE1", once=True
    )
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as fh:  # a real pipe, as a Kinesis consumer would give
        fh.write(b'\xff\xfe garbage\n{"a": 1}\n')
    with os.fdopen(read_fd, "rb") as stdin:
        follow("-", lake, opts, stdin=stdin)
    rejects = Lake(lake).scan("rejects").collect()
    assert sorted(rejects.select("source_line", "reason_code").rows()) == [(1, "invalid_utf8"), (2, "field_count")]
    assert Lake(lake).scan("realtime").collect().height == 0
    assert Lake(lake).scan("rollup_minute").collect().height == 0
