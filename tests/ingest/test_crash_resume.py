"""Kill the nightly job with SIGKILL at every commit step (and at random moments), run it again, and
check that the lake holds exactly what an uninterrupted run produces: same rows, no duplicates, nothing
missing, in every table."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import SAMPLES

from pipeline.crashpoints import POINTS
from pipeline.lake import Lake

INPUTS = [
    SAMPLES / "aws-docs" / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9",
    SAMPLES / "aws-docs" / "EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9",
    SAMPLES / "aws-docs" / "v2-example.json",
    *sorted((SAMPLES / "cloudfront").glob("*.gz")),
    *sorted((SAMPLES / "waf").glob("*.log.gz")),
    SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json",
    SAMPLES / "bad" / "truncated.log.gz",
    SAMPLES / "bad" / "invalid-utf8.log",
]
VOLATILE = {"ingested_at", "run_id", "last_modified"}


def _nightly(src: Path, lake: Path, workers: int = 1, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "EDGELAKE_GROUP_OBJECTS": "3", **env}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline.cli",
            "nightly",
            str(src),
            "--lake",
            str(lake),
            "--workers",
            str(workers),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=full,
        timeout=120,
    )


def snapshot(lake: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, volatile columns dropped, sorted: what "the same lake" means here."""
    out = {}
    for table in ("cloudfront", "waf", "rejects", "manifest", "behaviors", "origin_groups"):
        frame = Lake(str(lake)).scan(table).collect()
        keep = [c for c, t in frame.schema.items() if c not in VOLATILE and not t.is_nested()]
        out[table] = sorted(frame.select(keep).rows(), key=repr)
    return out


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash-src") / "logs"
    root.mkdir()
    for path in INPUTS:
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="module")
def clean(src: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[Any, ...]]]:
    lake = tmp_path_factory.mktemp("clean") / "lake"
    first = _nightly(src, lake)
    assert first.returncode == 1, first.stderr  # the bad files quarantine lines: exit 1 by design
    again = _nightly(src, lake)
    assert again.returncode == 0 and '"files": 0' in again.stdout  # a finished night is a no-op
    snap = snapshot(lake)
    assert len(snap["cloudfront"]) > 400 and snap["rejects"] and len(snap["manifest"]) == len(INPUTS)
    return snap


@pytest.mark.parametrize("point", [p for p in POINTS if p not in ("after-forget", "after-commit-realtime")])
@pytest.mark.parametrize("nth", [1, 2])
def test_kill_at_each_commit_step_then_resume(
    point: str, nth: int, src: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    crashed = _nightly(src, lake, EDGELAKE_CRASH_AT=f"{point}:{nth}")
    if crashed.returncode != -signal.SIGKILL:
        # fewer arrivals than nth at this point in this input: the run simply finished
        assert crashed.returncode in (0, 1), crashed.stderr
    resumed = _nightly(src, lake)
    assert resumed.returncode in (0, 1), resumed.stderr
    assert snapshot(lake) == clean


def test_changed_object_killed_between_forget_and_commit(src: Path, tmp_path: Path) -> None:
    mine = tmp_path / "logs"
    shutil.copytree(src, mine)
    lake, reference = tmp_path / "lake", tmp_path / "reference"
    for target in (lake, reference):
        assert _nightly(mine, target).returncode == 1
    changed = mine / INPUTS[0].name
    lines = changed.read_text().splitlines(keepends=True)
    time.sleep(0.01)
    changed.write_text("".join(lines[:-2]))  # a re-delivery with two lines fewer
    assert _nightly(mine, reference).returncode in (0, 1)
    for point in ("after-forget", "after-commit-cloudfront"):
        crashed = _nightly(mine, lake, EDGELAKE_CRASH_AT=point)
        assert crashed.returncode == -signal.SIGKILL, (point, crashed.stderr)
    assert _nightly(mine, lake).returncode in (0, 1)
    assert snapshot(lake) == snapshot(reference)
    rows = pl.scan_delta(str(lake / "cloudfront")).filter(pl.col("source_file") == str(changed)).collect()
    assert rows.height == len(lines) - 2 - 2  # minus the two header lines


def test_kill_at_random_moments(src: Path, clean: dict[str, Any], tmp_path: Path) -> None:
    rng = random.Random(20261122)
    lake = tmp_path / "lake"
    env = {**os.environ, "EDGELAKE_GROUP_OBJECTS": "2"}
    for _ in range(4):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline.cli",
                "nightly",
                str(src),
                "--lake",
                str(lake),
                "--workers",
                "1",
                "--json",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(rng.uniform(0.3, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert _nightly(src, lake).returncode in (0, 1)
    assert snapshot(lake) == clean


def test_two_worker_processes_build_the_same_lake(src: Path, clean: dict[str, Any], tmp_path: Path) -> None:
    # Objects go to whichever process is free and their outcomes arrive out of order: the lake must
    # not depend on who read what, or when.
    lake = tmp_path / "lake"
    run = _nightly(src, lake, workers=2)
    assert run.returncode == 1, run.stderr
    assert snapshot(lake) == clean


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_worker_process_is_reported_and_the_rerun_completes(
    src: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    env = {**os.environ, "EDGELAKE_GROUP_OBJECTS": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "nightly", str(src), "--lake", str(lake), "--workers", "2", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 30
    killed = False
    while not killed and time.monotonic() < deadline and proc.poll() is None:
        # the pool's worker is the child that runs the spawned interpreter (the other is its resource tracker)
        for child in _children(proc.pid):
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"spawn_main" in cmdline:
                os.kill(child, signal.SIGKILL)
                killed = True
        time.sleep(0.01)
    _, err = proc.communicate(timeout=60)
    assert killed, "the worker process was never seen"
    assert proc.returncode == 2, err
    assert "a worker process died" in err and "Traceback" not in err
    assert _nightly(src, lake).returncode in (0, 1)
    assert snapshot(lake) == clean
