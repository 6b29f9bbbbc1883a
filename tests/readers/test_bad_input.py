"""Hostile input through ``ingest``: every line becomes a row or a named reject, and the counts add up.

Each file of ``data/samples/bad/`` (made by its ``_make.py``) is ingested into a fresh lake; the tests
assert the exact reject codes and line numbers, the rows kept, and the reconciliation
``lines == rows + line rejects + meta lines`` from both the ``manifest`` table and the run summary.
The CLI is checked for exit codes and for never showing a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import zlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from helpers import (
    BAD,
    EDGELAKE,
    assert_reconciled,
    manifest_of,
    read,
    reject_at,
    rejects_of,
    table,
    write,
)

from pipeline.ingest import IngestOptions, IngestSummary, ingest

REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{54}==$")


def _ingest(tmp_path: Path, name: str, **opts: str) -> tuple[str, str, IngestSummary]:
    lake = str(tmp_path / "lake")
    uri = str(BAD / name)
    summary = ingest([uri], lake, IngestOptions(**opts))  # type: ignore[arg-type]
    assert summary.objects == 1 and summary.failed == 0
    assert_reconciled(lake, summary)
    return lake, uri, summary


def _rows(lake: str, uri: str) -> pl.DataFrame:
    return table(lake, "cloudfront", source_file=uri)


# --- gzip damage --------------------------------------------------------------------------------------
def test_truncated_gzip_keeps_lines_before_the_break(tmp_path: Path) -> None:
    data = (BAD / "truncated.log.gz").read_bytes()
    # Oracle: Python's zlib decodes everything before the break without complaint.
    prefix = zlib.decompressobj(wbits=31).decompress(data)
    complete = prefix[: prefix.rfind(b"\n") + 1]
    kept, tail = complete.count(b"\n"), prefix[len(complete) :]
    assert kept == 34 and tail  # the corpus cuts inside line 35

    lake, uri, summary = _ingest(tmp_path, "truncated.log.gz")
    assert rejects_of(lake) == [(None, "truncated_gzip"), (kept + 1, "truncated_line")]
    cut = str(reject_at(lake, kept + 1)["raw"])
    # the cut-off text (a decoder may hold back the last few bytes of a broken stream)
    assert cut.startswith("2024-03-01\t") and tail.decode().startswith(cut) and len(cut) >= len(tail) - 16
    assert "truncated" in str(reject_at(lake, None)["reason"])
    rows = _rows(lake, uri)
    assert rows["source_line"].to_list() == list(range(3, kept + 1))
    expected_ids = [ln.split(b"\t")[14].decode() for ln in complete.splitlines()[2:]]
    assert rows["x_edge_request_id"].to_list() == expected_ids
    m = manifest_of(lake)[uri]
    assert (m["lines"], m["meta_lines"], m["rows"], m["rejects"]) == (kept + 1, 2, kept - 2, 2)
    assert m["problem"] and summary.problems == [{"object": uri, "problem": m["problem"]}]


def test_corrupt_gzip_is_an_object_reject(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "corrupt-body.log.gz", source="cloudfront")
    codes = rejects_of(lake)
    assert codes[0] == (None, "truncated_gzip")
    assert "corrupt" in str(reject_at(lake, None)["reason"])
    rows = _rows(lake, uri)
    # whatever was kept is the real thing, not bytes decoded from the damage
    assert all(REQUEST_ID.match(r) for r in rows["x_edge_request_id"].to_list())
    assert set(rows["date"].to_list()) <= {date(2024, 3, 1)}


def test_corrupt_gzip_keeps_lines_before_the_damage(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "corrupt-body.log.gz")
    assert manifest_of(lake)[uri]["source"] == "cloudfront"
    assert (None, "truncated_gzip") in rejects_of(lake)
    rows = _rows(lake, uri)
    assert rows.height >= 10
    assert rows["source_line"].to_list()[:10] == list(range(3, 13))


# --- lines that cannot become rows -------------------------------------------------------------------
def test_invalid_utf8_line_between_good_lines(tmp_path: Path) -> None:
    lake, uri, summary = _ingest(tmp_path, "invalid-utf8.log")
    assert rejects_of(lake) == [(5, "invalid_utf8")]
    assert "\\xff\\xfe" in str(reject_at(lake, 5)["raw"])
    assert _rows(lake, uri)["source_line"].to_list() == [3, 4, 6, 7, 8]
    assert (summary.rows["cloudfront"], summary.rejects, summary.lines, summary.meta_lines) == (5, 1, 8, 2)


def test_wrong_field_counts(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "field-count.log")
    assert rejects_of(lake) == [(4, "field_count"), (6, "field_count")]
    assert "has 20 tab-separated fields" in str(reject_at(lake, 4)["reason"])
    assert "has 36 tab-separated fields" in str(reject_at(lake, 6)["reason"])
    assert "declares 33" in str(reject_at(lake, 6)["reason"])
    rows = _rows(lake, uri)
    # line 7 carries AWS's trailing extra TAB and is a normal row
    assert rows.select("source_line", "c_port").rows() == [(3, 1024), (5, 1025), (7, 1027), (8, 1028)]
    assert rows["sc_range_end"].null_count() == 4


def test_line_before_any_fields_header(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "no-header.log")
    assert rejects_of(lake) == [(2, "no_header"), (3, "no_header")]
    assert str(reject_at(lake, 2)["raw"]).startswith("2024-03-01\t10:00:00\tFRA56-P1")
    assert _rows(lake, uri)["source_line"].to_list() == [5, 6]
    assert manifest_of(lake)[uri]["meta_lines"] == 2


def test_json_lines_that_are_not_objects(tmp_path: Path) -> None:
    lake, uri, summary = _ingest(tmp_path, "not-object.json")
    assert rejects_of(lake) == [(2, "not_an_object"), (3, "not_an_object"), (5, "invalid_json"), (8, "not_an_object")]
    assert reject_at(lake, 2)["raw"] == "[1,2]" and reject_at(lake, 3)["raw"] == "42"
    rows = _rows(lake, uri)
    assert rows["source_line"].to_list() == [1, 4, 7, 9]
    assert rows["asn"].to_list() == [16509] * 4
    assert (summary.lines, summary.meta_lines, summary.rows["cloudfront"]) == (9, 1, 4)


# --- objects with nothing usable in them ----------------------------------------------------------------
def test_empty_file(tmp_path: Path) -> None:
    lake, uri, summary = _ingest(tmp_path, "empty.log")
    assert rejects_of(lake) == [(None, "empty_object")]
    m = manifest_of(lake)[uri]
    assert (m["lines"], m["rows"], m["rejects"]) == (0, 0, 1)
    assert summary.lines == 0 and summary.rejects == 1


def test_empty_gzip_read_as_cloudfront(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "empty.log.gz", source="cloudfront")
    assert rejects_of(lake) == [(None, "empty_object")]
    assert manifest_of(lake)[uri]["lines"] == 0


def test_empty_gzip_is_an_empty_object(tmp_path: Path) -> None:
    lake, _, _ = _ingest(tmp_path, "empty.log.gz")
    assert rejects_of(lake) == [(None, "empty_object")]


def test_plain_text_named_gz_is_read_by_content(tmp_path: Path) -> None:
    lake, uri, summary = _ingest(tmp_path, "not-gzip.log.gz")
    assert rejects_of(lake) == []
    assert _rows(lake, uri)["source_line"].to_list() == [3, 4, 5, 6]
    assert summary.problems == [] and manifest_of(lake)[uri]["problem"] is None


def test_binary_garbage_is_one_object_reject(tmp_path: Path) -> None:
    lake, uri, summary = _ingest(tmp_path, "garbage.bin")
    assert rejects_of(lake) == [(None, "unknown_source")]
    assert manifest_of(lake)[uri]["lines"] == 0
    assert summary.rows["cloudfront"] == 0


def test_binary_garbage_forced_as_cloudfront_rejects_every_line(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "garbage.bin", source="cloudfront")
    codes = rejects_of(lake)
    m = manifest_of(lake)[uri]
    assert codes and {c for _, c in codes} == {"no_header"}
    assert m["rows"] == 0 and m["lines"] == len(codes) + m["meta_lines"]
    raw = table(lake, "rejects")["raw"].to_list()
    assert any("\\x" in r for r in raw)  # undecodable bytes shown as escapes, not dropped


# --- CRLF ---------------------------------------------------------------------------------------------
def test_crlf_file_reads_like_lf(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "crlf.log")
    assert rejects_of(lake) == []
    rows = _rows(lake, uri)
    assert rows.height == 5
    text_cols = [c for c, t in rows.schema.items() if t == pl.String]
    assert not any(rows[c].str.contains("\r", literal=True).any() for c in text_cols)
    lf = read(write(tmp_path / "lf.log", (BAD / "crlf.log").read_bytes().replace(b"\r\n", b"\n")))
    drop = ["source_file"]
    assert rows.drop(drop).equals(lf.rows.drop(drop).select(rows.drop(drop).columns))


def test_crlf_with_trailing_tab_on_the_slow_path(tmp_path: Path) -> None:
    lake, uri, _ = _ingest(tmp_path, "crlf-invalid-utf8.log")
    assert rejects_of(lake) == [(7, "invalid_utf8")]
    assert _rows(lake, uri)["source_line"].to_list() == [3, 4, 5, 6]


# --- the CLI ------------------------------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EDGELAKE), *args], capture_output=True, text=True, timeout=120, check=False)


def test_cli_on_bad_input_exits_1_without_traceback(tmp_path: Path) -> None:
    files = sorted(str(p) for p in BAD.iterdir() if not p.name.startswith("_"))
    res = _cli("ingest", *files, "--lake", str(tmp_path / "lake"), "--json")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    out = json.loads(res.stdout)
    assert out["files"] == len(files) and out["failed"] == 0 and out["rejects"] > 0
    assert "reject(s) quarantined" in res.stderr


def test_cli_missing_input_exits_2_with_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such.log.gz"
    res = _cli("ingest", str(missing), "--lake", str(tmp_path / "lake"), "--json")
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgelake: error:") and str(missing) in lines[0]


# (A file that starts with gzip's magic bytes is read as gzip, by design; the others are text to us.)
@pytest.mark.parametrize("head", [b"x\x01", b"x^", b"(\xb5/\xfd", b"BZh9"])
def test_lines_that_start_like_compressed_data_are_rejects_not_unreadable(head: bytes, tmp_path: Path) -> None:
    # Polars' CSV reader takes a buffer that starts like gzip, zlib, zstd or bzip2 for one. A chunk of
    # real-time log text that starts so is still text: its lines are read or rejected, and the object
    # is not called unreadable.
    path = tmp_path / "rt.log"
    path.write_bytes(head + b"abc\t192.0.2.1\n1700000000.123\t192.0.2.2\n")
    summary = ingest(
        [str(path)],
        str(tmp_path / "lake"),
        IngestOptions(source="realtime", realtime_fields=("timestamp", "c-ip"), distribution_id="E1", workers=1),
    )
    assert summary.failed == 0 and summary.problems == []
    assert summary.lines == 2 and summary.rows["realtime"] == 1 and summary.rejects == 1
