"""The ingest's units of work on a real Dask cluster of worker processes (``--cluster``): the same lake as the
local pool, from S3 and from local files, whatever dies: a worker mid-task, a task that keeps raising, the
coordinator between commits.

One ``LocalCluster`` serves every test of this module but the CLI's own ``--cluster local:2`` run (its
start costs seconds); tests that change its workers' environment undo it.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import AWS_DOCS, BAD, EDGELAKE, SAMPLES
from s3server import S3Server

from pipeline.errors import UsageError
from pipeline.ingest import IngestOptions, ingest
from pipeline.ingest import cluster as fanout
from pipeline.ingest.unit import process_object
from pipeline.lake import Lake
from pipeline.storage.objects import InputObject

INPUTS = [
    AWS_DOCS / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9",
    AWS_DOCS / "EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9",  # its rows all land in dt=2014-05-23
    AWS_DOCS / "v2-example.json",
    *sorted((SAMPLES / "cloudfront").glob("*.gz")),
    *sorted((SAMPLES / "waf").glob("*.log.gz")),
    SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json",
    BAD / "truncated.log.gz",
    BAD / "invalid-utf8.log",
    BAD / "garbage.bin",
]
TABLES = ("cloudfront", "waf", "rejects", "manifest", "distributions", "behaviors", "origins", "origin_groups")
VOLATILE = {"ingested_at", "run_id"}  # when and by which run: the only columns two runs may differ in


def snapshot(lake: str) -> dict[str, list[str]]:
    """Every row of every table but the run ids and times, sorted: what "the same lake" means here."""
    out = {}
    for table in TABLES:
        frame = Lake(lake).scan(table).collect()
        out[table] = sorted(repr(row) for row in frame.drop([c for c in VOLATILE if c in frame.columns]).rows())
    return out


def committed_and_on_disk(lake: str, table: str) -> tuple[set[str], set[str]]:
    """(data files the table's log references, Parquet files under the table's directory)."""
    dt = Lake(lake).open(table)
    assert dt is not None
    root = Path(lake) / table
    committed = {str(Path(uri.removeprefix("file://"))) for uri in dt.file_uris()}
    return committed, {str(p) for p in root.rglob("*.parquet")}


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster-src") / "logs"
    root.mkdir()
    for path in INPUTS:
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="module")
def clean(src: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """The lake the local pool builds from ``src`` (in this process, one object after the other)."""
    lake = str(tmp_path_factory.mktemp("clean") / "lake")
    summary = ingest([str(src)], lake, IngestOptions(workers=1))
    assert summary.objects == len(INPUTS) and summary.failed == 0 and summary.rejects > 0
    snap = snapshot(lake)
    assert len(snap["cloudfront"]) > 400 and len(snap["waf"]) > 0 and len(snap["manifest"]) == len(INPUTS)
    return snap


@dataclass
class Cluster:
    address: str
    client: Any  # distributed.Client

    def attempts(self, lake: str) -> list[list[str]]:
        """The objects of every task attempt that started on a worker for ``lake``."""
        return [list(msg["objects"]) for _, msg in self.client.get_events(fanout.EVENT_TOPIC) if msg["lake"] == lake]

    def set_worker_env(self, name: str, value: str | None) -> None:
        def apply() -> None:
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

        self.client.run(apply)


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Cluster]:
    """Two worker processes, configured as ``--cluster local:2`` configures them."""
    import distributed

    local = fanout.start_local(2)
    client = distributed.Client(local, set_as_default=False)
    try:
        yield Cluster(local.scheduler_address, client)
    finally:
        client.close()
        local.close()


# --- the spec, the plan, the wire form ----------------------------------------------------------------
def test_cluster_spec_is_an_address_or_local_n() -> None:
    assert fanout.parse("tcp://10.0.0.5:8786") == fanout.ClusterSpec(address="tcp://10.0.0.5:8786")
    assert fanout.parse("local:3") == fanout.ClusterSpec(local_workers=3)
    for bad in ("local:0", "local:x", "local:", "10.0.0.5:8786", "http://scheduler:8787", "tcp://"):
        with pytest.raises(UsageError, match="--cluster"):
            fanout.parse(bad)


def _objects(*sizes: int | None) -> list[tuple[InputObject, int]]:
    return [(InputObject(f"s3://b/o{i}", size=size), 1) for i, size in enumerate(sizes)]


def test_small_neighbours_share_a_task_and_the_largest_go_first() -> None:
    mib = 1 << 20
    tasks = fanout.plan(_objects(mib, mib, 20 * mib, mib, mib, mib, None), slots=1, task_bytes=3 * mib)
    names = [[obj.uri.rsplit("/", 1)[1] for obj, _ in task] for task in tasks]
    # o2 exceeds the limit alone; o6 has no known size and is a task of its own; the rest pack by 3 MiB
    assert names == [["o2"], ["o3", "o4", "o5"], ["o6"], ["o0", "o1"]]
    assert sorted(n for task in names for n in task) == [f"o{i}" for i in range(7)]
    # a small input still gives every worker thread two tasks
    assert len(fanout.plan(_objects(*[1000] * 16), slots=4)) == 8
    assert [len(t) for t in fanout.plan(_objects(*[10] * 600), slots=1, task_bytes=1 << 30)] == [64] * 9 + [24]


def test_what_a_task_returns_holds_no_polars_frame_and_unpacks_to_the_same_outcome(src: Path) -> None:
    lake = Lake(str(src.parent / "wire-lake"))
    started = datetime.now(UTC)
    for name in ("truncated.log.gz", "E2EXAMPLE1.get-distribution.json"):
        obj = InputObject(str(src / name), size=(src / name).stat().st_size)
        outcome = process_object(obj, lake, IngestOptions(), ingested_at=started)
        shipped = fanout.pack(outcome)
        wire = pickle.dumps(shipped)
        assert b"polars" not in wire  # no class of Polars' is named in the pickle
        back = fanout.unpack(pickle.loads(wire))
        assert back.rejects.equals(outcome.rejects) and back.rejects.schema == outcome.rejects.schema
        assert len(back.configs) == len(outcome.configs)
        for mine, theirs in zip(outcome.configs, back.configs, strict=True):
            assert mine.key == theirs.key and mine.tables.keys() == theirs.tables.keys()
            assert all(theirs.tables[t].equals(f) for t, f in mine.tables.items())
            assert (mine.version is None) == (theirs.version is None)
            assert mine.version is None or (theirs.version is not None and mine.version.equals(theirs.version))
        assert (back.obj, back.lines, back.rows, back.problem) == (
            outcome.obj,
            outcome.lines,
            outcome.rows,
            outcome.problem,
        )
        assert [a.path for fs in back.files.values() for a in fs.actions] == [
            a.path for fs in outcome.files.values() for a in fs.actions
        ]
    assert outcome.configs and back.configs[0].version is not None  # the config object did carry frames


def test_without_cluster_dask_is_never_imported(src: Path, tmp_path: Path) -> None:
    two = [str(src / p.name) for p in INPUTS[3:5]]  # two objects: a pool worker besides this process
    script = (
        "import sys\n"
        "import pipeline.cli\n"
        "from pipeline.ingest import IngestOptions, ingest\n"
        f"s = ingest({two!r}, {str(tmp_path / 'lake')!r}, IngestOptions(workers=2))\n"
        "assert s.objects == 2 and s.failed == 0, s\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


# --- done when: nightly over an S3 prefix on local:2 and on the local pool, the same lake -------------
@pytest.mark.s3
def test_nightly_on_a_local_cluster_builds_the_same_lake_as_the_local_pool(s3_env: S3Server) -> None:
    fs = s3_env.filesystem()
    bucket, lakes = s3_env.make_bucket("logs"), s3_env.make_bucket("lakes")
    for path in INPUTS:
        compress = path.suffix not in (".gz", ".json") and "garbage" not in path.name
        data = path.read_bytes()
        fs.pipe(f"{bucket}/cdn/{path.name}{'.gz' if compress else ''}", gzip.compress(data) if compress else data)
    prefix, cluster_lake, pool_lake = f"s3://{bucket}/cdn/", f"s3://{lakes}/cluster", f"s3://{lakes}/pool"
    run = subprocess.run(
        [str(EDGELAKE), "nightly", prefix, "--lake", cluster_lake, "--cluster", "local:2", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 1, run.stderr  # the bad inputs quarantine lines: exit 1 by design
    on_cluster, err = json.loads(run.stdout), run.stderr
    on_pool = ingest([prefix], pool_lake, IngestOptions(workers=2)).as_json()  # what nightly runs without --cluster
    assert "Dask cluster local:2: 2 worker(s)" in err and "dashboard http://127.0.0.1:" in err
    assert "Traceback" not in err
    for summary in (on_cluster, on_pool):
        del summary["run_id"], summary["seconds"]
    assert on_cluster == on_pool
    assert on_cluster["files"] == len(INPUTS) and on_cluster["failed"] == 0 and on_cluster["rejects"] > 0
    same = snapshot(cluster_lake)
    assert same == snapshot(pool_lake)
    assert len(same["cloudfront"]) > 400 and same["waf"] and same["behaviors"] and same["rejects"]
    assert len(same["manifest"]) == len(INPUTS)


# --- failures ----------------------------------------------------------------------------------------
def test_a_worker_killed_mid_task_is_replaced_and_its_files_never_committed(
    src: Path, clean: dict[str, list[str]], dask_cluster: Cluster, tmp_path: Path
) -> None:
    lake = str(tmp_path / "lake")
    # Each current worker kills itself (SIGKILL) the first time it has written a task's data files; the
    # processes the nanny starts in their place run clean.
    dask_cluster.set_worker_env("EDGELAKE_CRASH_AT", "after-data-files:1")
    try:
        summary = ingest([str(src)], lake, IngestOptions(cluster=dask_cluster.address))
    finally:
        dask_cluster.set_worker_env("EDGELAKE_CRASH_AT", None)
    assert summary.failed == 0 and summary.objects == len(INPUTS), summary.problems
    assert snapshot(lake) == clean
    attempts = dask_cluster.attempts(lake)
    tasks = {tuple(objs) for objs in attempts}
    assert len(attempts) > len(tasks)  # some task ran twice: its first worker died
    committed, on_disk = committed_and_on_disk(lake, "cloudfront")
    orphans = on_disk - committed
    assert committed <= on_disk and orphans  # the dead attempts' files: written, referenced by no version
    # a full vacuum (what `edgelake compact` runs, here without its retention) deletes them, and only them
    dt = Lake(lake).open("cloudfront")
    deleted = dt.vacuum(retention_hours=0, dry_run=False, full=True, enforce_retention_duration=False)
    assert {str(tmp_path / "lake" / "cloudfront" / p) for p in deleted} == orphans
    assert committed_and_on_disk(lake, "cloudfront") == (committed, committed)
    assert snapshot(lake) == clean


def test_an_object_whose_task_keeps_failing_is_reported_failed_and_read_by_the_next_run(
    src: Path, clean: dict[str, list[str]], dask_cluster: Cluster, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    blocked = lake / "cloudfront" / "dt=2014-05-23"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the partition directory goes: every write of its rows fails\n")
    victim = str(src / INPUTS[1].name)
    summary = ingest([str(src)], str(lake), IngestOptions(cluster=dask_cluster.address))
    assert summary.failed == 1 and summary.objects == len(INPUTS)
    assert [p["object"] for p in summary.problems if "failed" in p["problem"]] == [victim]
    problem = next(p["problem"] for p in summary.problems if p["object"] == victim)
    assert "failed 2 times on the cluster" in problem and "retried by the next run" in problem
    assert victim not in {r[0] for r in Lake(str(lake)).scan("manifest").select("object_uri").collect().rows()}
    # its task: tried, retried once, then split from its batch and tried twice alone
    alone = [objs for objs in dask_cluster.attempts(str(lake)) if objs == [victim]]
    assert len(alone) == 1 + fanout.RETRIES
    blocked.unlink()
    again = ingest([str(src)], str(lake), IngestOptions(cluster=dask_cluster.address))
    assert (again.objects, again.skipped, again.failed) == (1, len(INPUTS) - 1, 0)
    assert snapshot(str(lake)) == clean  # the failed attempt's "unreadable" note is gone too


def test_the_coordinator_killed_between_commits_then_rerun_gives_the_same_lake(
    src: Path, clean: dict[str, list[str]], dask_cluster: Cluster, tmp_path: Path
) -> None:
    lake = str(tmp_path / "lake")

    def nightly(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EDGELAKE), "nightly", str(src), "--lake", lake, "--cluster", dask_cluster.address, "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, "EDGELAKE_GROUP_OBJECTS": "3", **env},
            timeout=120,
        )

    crashed = nightly(EDGELAKE_CRASH_AT="after-rejects:2")  # the second group's rejects are committed
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    partial = snapshot(lake)
    assert 0 < len(partial["manifest"]) < len(INPUTS)
    resumed = nightly()
    assert resumed.returncode == 1, resumed.stderr
    assert json.loads(resumed.stdout)["skipped"] == len(partial["manifest"])
    assert snapshot(lake) == clean


def test_the_cli_refuses_a_bad_cluster_and_workers_beside_a_cluster(src: Path, tmp_path: Path) -> None:
    for extra, said in (
        (["--cluster", "scheduler:8786"], "give a Dask scheduler address"),
        (["--cluster", "local:2", "--workers", "2"], "--workers sizes the local pool"),
    ):
        run = subprocess.run(
            [str(EDGELAKE), "ingest", str(src), "--lake", str(tmp_path / "lake"), *extra],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 2 and said in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "lake").exists()
