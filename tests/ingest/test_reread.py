"""An object a run could not read with the options it was given is read by the next run that has them.

Real-time records have no header: without ``--realtime-fields`` their lines cannot be typed, so the object
is reported as failed (not in the manifest) instead of being recorded as done with none of its lines. An
object nothing recognised is recorded, and read again once a run says what it is with ``--source``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from helpers import REALTIME

from pipeline.ingest import IngestOptions, ingest
from pipeline.lake import Lake
from pipeline.readers.realtime import load_fields

FIELDS = load_fields(str(REALTIME / "realtime-config.json"))


def test_real_time_records_without_their_field_list_wait_for_a_run_that_has_it(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    first = ingest([str(REALTIME / "2023")], lake)
    assert (first.failed, first.rows["realtime"]) == (1, 0)
    assert "--realtime-fields" in first.problems[0]["problem"]
    assert Lake(lake).open("manifest") is None  # nothing is "done"
    second = ingest([str(REALTIME / "2023")], lake, IngestOptions(realtime_fields=FIELDS, distribution_id="E2EXAMPLE1"))
    assert (second.failed, second.skipped, second.rows["realtime"]) == (0, 0, 36)
    unreadable = Lake(lake).scan("rejects").collect().get_column("reason_code").to_list()
    assert "unreadable" not in unreadable  # the note the failed attempt left is cleared once it is read


def test_an_unrecognised_object_is_read_again_when_the_run_names_its_source(tmp_path: Path) -> None:
    lake, src = str(tmp_path / "lake"), tmp_path / "src"
    src.mkdir()
    # A real-time object with its first record damaged: nothing recognises it by content.
    sample = next(REALTIME.rglob("*.gz"))
    lines = gzip.decompress(sample.read_bytes()).splitlines(keepends=True)
    (src / "stream.log").write_bytes(b"damaged first line\n" + b"".join(lines))
    first = ingest([str(src)], lake)
    assert first.objects == 1 and first.rows["realtime"] == 0
    assert ingest([str(src)], lake).skipped == 1  # recorded: an unknown file is not re-read every night
    named = ingest(
        [str(src)], lake, IngestOptions(source="realtime", realtime_fields=FIELDS, distribution_id="E2EXAMPLE1")
    )
    assert (named.skipped, named.rows["realtime"], named.rejects) == (0, len(lines), 1)
