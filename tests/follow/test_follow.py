"""`edgelake follow`: micro-batches from tailed files, S3 objects and stdin, exactly once, with a rollup.

Records are the real-time sample's 36 lines (data/samples/realtime) with their timestamp and request
id rewritten, so each test knows exactly which rows, line numbers and rejects the lake must hold. The
crash tests kill the follower with SIGKILL (at random moments while a writer appends, and right after
a chosen commit through the EDGELAKE_FOLLOW_KILL_AFTER hook) and compare the lake with the input.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import EDGELAKE, SAMPLES

from pipeline.analyses import run as run_query
from pipeline.errors import UsageError
from pipeline.follow import FlushReport, FollowOptions, follow
from pipeline.follow.rollup import rollup
from pipeline.follow.sources import STDIN_APP, after_nth_newline, follow_app_id
from pipeline.lake import Lake
from pipeline.query.views import connect
from pipeline.readers.realtime import load_fields
from pipeline.times import parse_duration

REALTIME = SAMPLES / "realtime"
CONFIG = str(REALTIME / "realtime-config.json")
FIELDS = load_fields(CONFIG)
SAMPLE = gzip.decompress(next(REALTIME.rglob("*.gz")).read_bytes()).decode().splitlines()
DIST = "EDFDVBD6EXAMPLE"
BASE = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
BAD = "this is not a real-time log record"


def record(n: int, at: datetime | None = None) -> str:
    """Sample line ``n % 36`` with request id ``rid-<n>`` and a timestamp 1.7 s per record after BASE."""
    fields = SAMPLE[n % len(SAMPLE)].split("\t")
    ts = at or BASE + timedelta(milliseconds=1700 * n)
    fields[0] = f"{ts.timestamp():.3f}"
    fields[11] = f"rid-{n:07d}"
    return "\t".join(fields)


def lines(ns: Sequence[int], at: datetime | None = None) -> str:
    return "".join(record(n, at) + "\n" for n in ns)


def opts(**kw: Any) -> FollowOptions:
    base: dict[str, Any] = {"realtime_fields": FIELDS, "distribution_id": DIST, "flush_interval": 0.0, "once": True}
    base.update(kw)
    return FollowOptions(**base)


def run(source: Path | str, lake: Path | str, **kw: Any) -> list[FlushReport]:
    reports: list[FlushReport] = []
    follow(str(source), str(lake), opts(**kw), on_flush=reports.append)
    return reports


def rows(lake: Path | str) -> pl.DataFrame:
    return (
        Lake(str(lake))
        .scan("realtime")
        .select("x_edge_request_id", "source_file", "source_line")
        .collect()
        .sort("source_file", "source_line")
    )


def ids(lake: Path | str) -> list[str]:
    return sorted(rows(lake).get_column("x_edge_request_id").to_list())


def rejects(lake: Path | str) -> list[tuple[str, int, str]]:
    frame = Lake(str(lake)).scan("rejects").select("source_file", "source_line", "reason_code").collect()
    return sorted(frame.iter_rows())


def rid(ns: Sequence[int]) -> list[str]:
    return sorted(f"rid-{n:07d}" for n in ns)


def assert_rollup_matches_raw(lake: Path | str) -> None:
    """The rollup, summed per group, equals the same counts taken from the raw rows with SQL."""
    con = connect(str(lake))
    raw = con.execute("""
        SELECT date_trunc('minute', timestamp) AS minute, coalesce(cache_behavior_path_pattern, 'unknown'),
               coalesce(x_host_header, 'unknown'), sc_status, count(*),
               count(*) FILTER (WHERE cacheable), count(*) FILTER (WHERE cacheable AND hit),
               sum(coalesce(sc_bytes, 0))
        FROM (SELECT *, (cs_method NOT IN ('POST', 'PUT', 'PATCH', 'DELETE')
                         AND x_edge_response_result_type IN ('Hit', 'RefreshHit', 'Miss')
                         AND coalesce(cs_protocol, '') NOT IN ('ws', 'wss')) AS cacheable,
                         x_edge_response_result_type IN ('Hit', 'RefreshHit') AS hit FROM realtime)
        GROUP BY ALL ORDER BY ALL""").fetchall()
    rolled = con.execute("""
        SELECT minute, behavior, origin, sc_status, sum(requests), sum(cacheable), sum(hits), sum(bytes)
        FROM rollup_minute GROUP BY ALL ORDER BY ALL""").fetchall()
    assert rolled == raw
    assert sum(r[4] for r in raw) == rows(lake).height
    # the dashboard's hit ratio from the rollup is the project's hit-ratio analysis over raw rows
    dashboard = con.execute("""
        SELECT behavior, sum(requests), sum(cacheable), sum(hits), sum(hits) / sum(cacheable)
        FROM rollup_minute GROUP BY behavior ORDER BY behavior""").fetchall()
    analysis = run_query("hit-ratio", str(lake), {"log": "realtime"}).sort("behavior")
    assert dashboard == analysis.select("behavior", "requests", "cacheable_requests", "hits", "hit_ratio").rows()


def test_appended_lines_and_new_files_across_flushes(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    (src / "2024").mkdir(parents=True)
    a, b = src / "a.log", src / "2024" / "b.log"
    a.write_text(lines(range(0, 10)))
    b.write_text(lines(range(100, 105)))
    (src / ".hidden").write_text(lines([999]))
    reports = run(src, lake, max_batch=4)
    assert [r.records for r in reports] == [4, 4, 4, 3]  # max_batch cuts batches across files
    assert ids(lake) == rid([*range(10), *range(100, 105)])
    with a.open("a") as fh:
        fh.write(lines(range(10, 17)) + BAD + "\n")
    (src / "c.log").write_text(lines(range(200, 203)))
    (src / "d.gz").write_bytes(gzip.compress(lines(range(300, 305)).encode()))  # a whole gzip file
    run(src, lake)
    frame = rows(lake)
    assert ids(lake) == rid([*range(17), *range(100, 105), *range(200, 203), *range(300, 305)])
    assert frame.filter(pl.col("source_file") == str(a)).get_column("source_line").to_list() == list(range(1, 18))
    gz = src / "d.gz"
    assert frame.filter(pl.col("source_file") == str(gz)).get_column("source_line").to_list() == [1, 2, 3, 4, 5]
    assert rejects(lake) == [(str(a), 18, "field_count")]
    # the checkpoint is the byte offset of everything consumed, in the rows' commit
    assert Lake(str(lake)).committed_version("realtime", follow_app_id(str(a))) == a.stat().st_size
    assert Lake(str(lake)).committed_version("rollup_minute", follow_app_id(str(gz))) == gz.stat().st_size
    assert run(src, lake) == []  # nothing new: nothing committed
    assert_rollup_matches_raw(lake)


def test_resume_after_a_restart_mid_file(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    text = lines(range(30))
    (src / "a.log").write_text(text)

    class Crash(Exception):
        pass

    def crash_after_two(report: FlushReport) -> None:
        if crash_after_two.n == 1:  # type: ignore[attr-defined]
            raise Crash
        crash_after_two.n += 1  # type: ignore[attr-defined]

    crash_after_two.n = 0  # type: ignore[attr-defined]
    with pytest.raises(Crash):
        follow(str(src), str(lake), opts(max_batch=7), on_flush=crash_after_two)
    assert ids(lake) == rid(range(14))
    offset = after_nth_newline(text.encode(), 14)
    assert Lake(str(lake)).committed_version("realtime", follow_app_id(str(src / "a.log"))) == offset
    reports = run(src, lake, max_batch=7)
    assert sum(r.records for r in reports) == 16
    assert rows(lake).get_column("source_line").to_list() == list(range(1, 31))
    assert ids(lake) == rid(range(30))


def test_partial_last_line_waits_for_its_newline(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    path = src / "a.log"
    last = record(3)
    path.write_text(lines(range(3)) + last[:40])
    run(src, lake)
    assert ids(lake) == rid(range(3))
    assert rejects(lake) == []
    assert Lake(str(lake)).committed_version("realtime", follow_app_id(str(path))) == len(lines(range(3)))
    with path.open("a") as fh:
        fh.write(last[40:])  # still no newline: still waiting
    assert run(src, lake) == []
    with path.open("a") as fh:
        fh.write("\n")
    run(src, lake)
    assert ids(lake) == rid(range(4))
    assert rows(lake).get_column("source_line").to_list() == [1, 2, 3, 4]


def _follow_cmd(source: str, lake: Path | str, *extra: str) -> list[str]:
    return [
        str(EDGELAKE),
        "follow",
        source,
        "--lake",
        str(lake),
        "--realtime-fields",
        CONFIG,
        "--distribution-id",
        DIST,
        "--json",
        *extra,
    ]


def test_kill_9_at_random_moments_while_a_writer_appends(tmp_path: Path) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    rng = random.Random(4)
    expected: list[int] = []
    bad: list[tuple[str, int]] = []
    stop = threading.Event()

    def writer() -> None:
        counters = {"a.log": 0, "b.log": 0}
        n = 0
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            name = rng.choice(sorted(counters))
            chunk = []
            for _ in range(rng.randrange(1, 40)):
                counters[name] += 1
                if counters[name] % 97 == 0:
                    chunk.append(BAD + "\n")
                    bad.append((str(src / name), counters[name]))
                else:
                    chunk.append(record(n) + "\n")
                    expected.append(n)
                    n += 1
            text = "".join(chunk)
            cut = rng.randrange(len(text))  # the follower may see half a line
            with (src / name).open("a") as fh:
                fh.write(text[:cut])
                fh.flush()
                time.sleep(0.002)
                fh.write(text[cut:])
            time.sleep(0.01)
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    kills = 0
    try:
        while not stop.is_set():
            proc = subprocess.Popen(
                _follow_cmd(str(src), lake, "--flush-interval", "0.15s", "--max-batch", "400"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.6, 1.6))
            proc.kill()
            proc.wait()
            kills += 1
    finally:
        thread.join()
    done = subprocess.run(_follow_cmd(str(src), lake, "--once"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert kills >= 3
    got = rows(lake)
    assert got.height == len(expected) > 1000
    assert ids(lake) == rid(expected)  # every record exactly once
    assert rejects(lake) == sorted((f, n, "field_count") for f, n in bad)
    for name in ("a.log", "b.log"):  # line numbers survive restarts: each file's rows and rejects tile it
        lines_seen = got.filter(pl.col("source_file") == str(src / name)).get_column("source_line").to_list()
        total = (src / name).read_bytes().count(b"\n")
        assert sorted(lines_seen + [n for f, n in bad if f == str(src / name)]) == list(range(1, total + 1))
    assert_rollup_matches_raw(lake)


@pytest.mark.parametrize("step", ["realtime:1", "realtime:2", "rejects:1"])
def test_a_crash_between_the_rows_and_the_rollup_is_repaired(tmp_path: Path, step: str) -> None:
    src, lake = tmp_path / "src", tmp_path / "lake"
    src.mkdir()
    (src / "a.log").write_text(lines(range(5)) + BAD + "\n" + lines(range(5, 12)))
    env = {**os.environ, "EDGELAKE_FOLLOW_KILL_AFTER": step}
    killed = subprocess.run(
        _follow_cmd(str(src), lake, "--once", "--max-batch", "8"), env=env, capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == -9
    before = Lake(str(lake))
    app = follow_app_id(str(src / "a.log"))
    assert (before.committed_version("rollup_minute", app) or 0) < (before.committed_version("realtime", app) or 0)
    done = subprocess.run(
        _follow_cmd(str(src), lake, "--once", "--max-batch", "8"), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert ids(lake) == rid(range(12))
    assert rejects(lake) == [(str(src / "a.log"), 6, "field_count")]
    assert_rollup_matches_raw(lake)


def test_stdin_drops_a_resent_record_and_resumes_its_batch_numbers(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    now = datetime.now(UTC).replace(microsecond=0)
    first = lines(range(6), now) + record(2, now) + "\n" + BAD + "\n"  # rid-2 twice in one batch
    out = subprocess.run(_follow_cmd("-", lake), input=first, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert sum(r["records"] for r in reports) == 6
    assert sum(r["duplicates"] for r in reports) == 1
    assert sum(r["rejects"] for r in reports) == 1
    # a producer restarting from its checkpoint re-sends rid-3..5: they are in the table, so dropped
    again = lines(range(3, 8), now)
    out = subprocess.run(_follow_cmd("-", lake), input=again, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    assert (sum(r["records"] for r in reports), sum(r["duplicates"] for r in reports)) == (2, 3)
    assert ids(lake) == rid(range(8))
    assert set(rows(lake).get_column("source_file")) == {"stdin:1", "stdin:2"}
    assert rejects(lake) == [("stdin:1", 8, "field_count")]
    assert Lake(str(lake)).committed_version("realtime", STDIN_APP) == 2
    assert_rollup_matches_raw(lake)


def test_stdin_rollup_lost_in_a_crash_is_recomputed_from_the_rows(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    env = {**os.environ, "EDGELAKE_FOLLOW_KILL_AFTER": "realtime:1"}
    killed = subprocess.run(
        _follow_cmd("-", lake), input=lines(range(9)), env=env, capture_output=True, text=True, timeout=60
    )
    assert killed.returncode == -9
    assert Lake(str(lake)).committed_version("rollup_minute", STDIN_APP) is None
    out = subprocess.run(_follow_cmd("-", lake), input=lines(range(9, 11)), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "recomputed it from their 9 rows" in out.stderr
    assert ids(lake) == rid(range(11))
    assert Lake(str(lake)).committed_version("rollup_minute", STDIN_APP) == 2
    assert_rollup_matches_raw(lake)


def test_stdin_duplicates_across_parse_chunks_of_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.follow.sources as sources

    monkeypatch.setattr(sources, "PARSE_BYTES", 4096)  # a batch is parsed in many small chunks
    now = datetime.now(UTC).replace(microsecond=0)
    text = lines(range(40), now) + lines([0, 17, 39], now) + lines(range(40, 45), now) + lines([44], now)
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as fh:  # fits in the pipe buffer; closing it is the end of input
        fh.write(text.encode())
    reports: list[FlushReport] = []
    with os.fdopen(read_fd, "rb") as stdin:
        follow("-", str(tmp_path / "lake"), opts(flush_interval=10.0, once=False), on_flush=reports.append, stdin=stdin)
    assert len(reports) == 1
    assert (reports[0].records, reports[0].duplicates, reports[0].lines) == (45, 4, 49)
    assert ids(tmp_path / "lake") == rid(range(45))


@pytest.mark.s3
def test_s3_prefix_with_gzip_objects_appearing_over_time(s3_env: Any, tmp_path: Path) -> None:
    bucket = s3_env.make_bucket("follow")
    fs = s3_env.filesystem()
    prefix = f"{bucket}/firehose"
    lake = f"s3://{bucket}/lake"

    def put(hour: int, ns: range, *, compress: bool = True) -> str:
        key = f"{prefix}/2024/03/01/{hour:02d}/edgelake-rt-1-2024-03-01-{hour:02d}-00-00-{hour:04x}"
        body = lines(ns).encode()
        fs.pipe(key, gzip.compress(body) if compress else body)
        return key

    keys = [put(10, range(0, 40)), put(11, range(40, 75), compress=False)]
    proc = subprocess.Popen(
        _follow_cmd(f"s3://{prefix}", lake, "--flush-interval", "0.2s", "--idle-exit", "3"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())  # the follower is running and has taken the first objects
    assert first["records"] == 75
    keys.append(put(12, range(75, 120)))
    time.sleep(1.0)
    keys.append(put(13, range(120, 150)))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert first["records"] + sum(json.loads(line)["records"] for line in out.splitlines()) == 150
    assert ids(lake) == rid(range(150))
    for key in keys:
        assert Lake(lake).committed_version("realtime", follow_app_id(f"s3://{key}")) == fs.size(key)
    again = subprocess.run(_follow_cmd(f"s3://{prefix}", lake, "--once"), capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""  # every object was already in the lake
    assert_rollup_matches_raw(lake)


def test_rollup_counts_cacheable_hits_and_bytes() -> None:
    frame = pl.DataFrame(
        {
            "timestamp": [BASE, BASE + timedelta(seconds=30), BASE + timedelta(seconds=61), BASE],
            "distribution_id": [DIST] * 4,
            "cache_behavior_path_pattern": ["/api/*", "/api/*", "/api/*", None],
            "x_host_header": ["www.example.com"] * 4,
            "sc_status": [200, 200, 200, 502],
            "sc_bytes": [100, 50, None, 7],
            "cs_method": ["GET", "GET", "POST", "GET"],
            "x_edge_response_result_type": ["Hit", "Miss", "Miss", "Error"],
            "cs_protocol": ["https"] * 4,
            "x_edge_detailed_result_type": ["Hit", "Miss", "Miss", "OriginConnectError"],
        },
        schema_overrides={"sc_status": pl.Int16, "timestamp": pl.Datetime("us", "UTC")},
    )
    got = rollup(frame).sort("minute", "behavior")
    assert got.select("minute", "behavior", "sc_status", "requests", "cacheable", "hits", "bytes").rows() == [
        (BASE, "/api/*", 200, 2, 2, 1, 150),
        (BASE, "unknown", 502, 1, 0, 0, 7),
        (BASE + timedelta(minutes=1), "/api/*", 200, 1, 0, 0, 0),
    ]
    assert got.get_column("dt").to_list() == [BASE.date()] * 3


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5.0), ("250ms", 0.25), ("2m", 120.0), ("1.5", 1.5), ("1d", 86_400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="duration"):
        parse_duration("soon")
    with pytest.raises(UsageError, match="max-batch"):
        opts(max_batch=0)
    out = subprocess.run(
        _follow_cmd(str(tmp_path / "missing"), tmp_path / "lake", "--once"), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.startswith("edgelake: error:") and "no such directory" in out.stderr
