"""`edgelake follow --source waf`: WAF records streamed into the ``waf`` table exactly once, as real-time logs are.

A security engineer watching a Count-mode rule wants its matches within seconds. The follower takes the
kinds it can stream from the readers' registry, so WAF logs go through the same loop: a growing file is
tailed and resumed after SIGKILL without a record twice, a bad line is a reject once, and records a
stdin producer sends again are dropped by their request id. No rollup is written for WAF records.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from helpers import EDGELAKE, SAMPLES

from pipeline.errors import UsageError
from pipeline.follow import FollowOptions, follow
from pipeline.follow.sources import follow_app_id
from pipeline.lake import Lake

SAMPLE = [
    json.loads(line)
    for line in gzip.decompress(next((SAMPLES / "waf").glob("*.log.gz")).read_bytes()).decode().splitlines()
]


START_MS = int(time.time() * 1000) - 60_000  # recent: stdin's dedupe remembers the last minutes


def records(ns: range) -> str:
    """WAF records ``n`` (the sample's records in turn) with request ids ``waf-<n>``, 250 ms apart."""
    out = []
    for n in ns:
        rec = json.loads(json.dumps(SAMPLE[n % len(SAMPLE)]))
        rec["httpRequest"]["requestId"] = f"waf-{n:05d}"
        rec["timestamp"] = START_MS + n * 250
        out.append(json.dumps(rec, separators=(",", ":")) + "\n")
    return "".join(out)


def ids(lake: str) -> list[str]:
    return sorted(Lake(lake).scan("waf").select("request_id").collect().get_column("request_id").to_list())


def opts(**kw: object) -> FollowOptions:
    base: dict[str, object] = {"kind": "waf", "flush_interval": 0.0, "once": True}
    base.update(kw)
    return FollowOptions(**base)  # type: ignore[arg-type]


def test_a_growing_waf_log_is_followed_exactly_once(tmp_path: Path) -> None:
    lake, src = str(tmp_path / "lake"), tmp_path / "waf"
    src.mkdir()
    log = src / "edge-acl.log"
    log.write_text(records(range(0, 10)) + "not a waf record\n")
    follow(str(src), lake, opts())
    with log.open("a") as fh:
        fh.write(records(range(10, 25)))
    follow(str(src), lake, opts())  # a second run resumes at its checkpoint
    assert ids(lake) == [f"waf-{n:05d}" for n in range(25)]
    rejects = Lake(lake).scan("rejects").collect()
    assert rejects.select("source_file", "source_line").rows() == [(str(log), 11)]
    assert Lake(lake).committed_version("waf", follow_app_id(str(log))) == log.stat().st_size
    assert Lake(lake).open("rollup_minute") is None  # real-time logs only
    assert Lake(lake).open("realtime") is None


def test_waf_records_resent_on_stdin_are_dropped_by_request_id(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    for batch in (range(0, 8), range(4, 12)):  # the producer re-sends 4..7 after a restart
        read_fd, write_fd = os.pipe()
        with os.fdopen(write_fd, "wb") as fh:
            fh.write(records(batch).encode())
        with os.fdopen(read_fd, "rb") as stdin:
            follow("-", lake, opts(), stdin=stdin)
    assert ids(lake) == [f"waf-{n:05d}" for n in range(12)]
    assert Lake(lake).committed_version("waf", "edgelake-follow-stdin-waf") == 2


@pytest.mark.slow
def test_a_killed_waf_follower_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    lake, src = str(tmp_path / "lake"), tmp_path / "waf"
    src.mkdir()
    log = src / "edge-acl.log"
    log.write_text(records(range(0, 50)))
    args = [str(EDGELAKE), "follow", str(src), "--source", "waf", "--lake", lake, "--flush-interval", "0", "--json"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    first = proc.stdout.readline()  # one micro-batch committed
    assert json.loads(first)["records"] > 0
    with log.open("a") as fh:
        fh.write(records(range(50, 120)))
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert time.monotonic() < deadline
    done = subprocess.run([*args, "--once"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ids(lake) == [f"waf-{n:05d}" for n in range(120)]


def test_real_time_records_still_need_their_field_list() -> None:
    with pytest.raises(UsageError, match="--realtime-fields and --distribution-id"):
        FollowOptions(kind="realtime")
    with pytest.raises(UsageError, match="follow streams waf or realtime logs"):
        FollowOptions(kind="cloudfront-w3c")
    assert FollowOptions(kind="waf").tables.all == ("waf", "rejects")
