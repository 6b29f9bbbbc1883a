"""Several writers on one lake at once: nothing lost, nothing twice, on local disk and on S3 (SeaweedFS).

In production the follower commits every few seconds, nightly jobs commit per group of objects and a
compaction rewrites old partitions, all into the same lake and the same ``rejects`` and ``manifest``
tables. Each object here has three requests with request ids of their own and one garbage line, so
"exactly once" is checked id by id: every request is a row once, every garbage line a reject once,
every object a manifest entry once.

The races that used to lose data are made to happen every time rather than by luck: a writer is held
between reading a table's snapshot and committing to it (``EDGELAKE_HOLD_AT``, see
:mod:`pipeline.crashpoints`), or its S3 ``PUT`` of a log entry is held in the fault proxy, while another
writer commits; then it is released and must lose the race and retry. The free-for-all tests
(three ingests, a follower and compactions, all at once) add the races nobody planned. ``make race``
runs this file ten times in a row.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl
import pytest
from deltalake.exceptions import CommitFailedError
from faultproxy import FaultProxy
from helpers import CF_FIELDS_33, EDGELAKE, REALTIME, cf_record, gz, w3c_text, write
from s3server import S3Server

from pipeline.errors import LakeError
from pipeline.lake import Lake
from pipeline.lake.concurrency import is_conflict, retry_conflicts
from pipeline.storage import fs as storage_fs

DAYS = ("2024-03-01", "2024-03-02")  # long past: compaction with --older-than 0 takes them
RECORDS = 3  # requests per object; each object also has one garbage line
GARBAGE = "this line is not a log record\n"


# --- inputs and expectations -----------------------------------------------------------------------
def cf_objects(src: Path, writer: str, n: int, *, fields: Sequence[str] = CF_FIELDS_33) -> list[str]:
    """``n`` gzip objects for ``writer``; request ids ``<writer>-<object>-<record>``."""
    paths = []
    for i in range(n):
        day = DAYS[i % len(DAYS)]
        recs = []
        for j in range(RECORDS):
            rec = cf_record(date=day, time=f"{i % 24:02d}:{j:02d}:00", x_edge_request_id=f"{writer}-{i}-{j}")
            rec.update({f: "extra" for f in fields if f not in rec})
            recs.append(rec)
        text = w3c_text(fields, recs) + GARBAGE
        paths.append(write(src / writer / f"E1EXAMPLE.{day}-{i % 24:02d}.{writer}{i}.gz", gz(text.encode())))
    return paths


def request_ids(writer: str, n: int) -> list[str]:
    return [f"{writer}-{i}-{j}" for i in range(n) for j in range(RECORDS)]


def realtime_lines(n: int) -> str:
    """``n`` real-time records (the sample's lines with request ids ``rt-<k>``) plus one garbage line."""
    import gzip

    sample = gzip.decompress(next(REALTIME.rglob("*.gz")).read_bytes()).decode().splitlines()
    out = []
    for k in range(n):
        fields = sample[k % len(sample)].split("\t")
        fields[11] = f"rt-{k:05d}"
        out.append("\t".join(fields) + "\n")
    return "".join(out) + GARBAGE


def assert_exactly_once(lake: str, ids: list[str], objects: list[str], *, realtime: int = 0) -> None:
    """Every request id a row once, every object's garbage line a reject once, every object in the manifest once."""
    L = Lake(lake)
    got = L.scan("cloudfront").select("x_edge_request_id").collect().get_column("x_edge_request_id").to_list()
    assert sorted(got) == sorted(ids), "cloudfront rows are not exactly the input requests"
    rejects = L.scan("rejects").select("source_file", "source_line", "reason_code").collect()
    per_object = rejects.filter(pl.col("source_file").is_in(objects)).group_by("source_file").len()
    assert per_object.height == len(objects) and per_object.get_column("len").to_list() == [1] * len(objects), (
        "each object's garbage line must be one reject"
    )
    manifest = L.scan("manifest").select("object_uri").collect().get_column("object_uri").to_list()
    assert sorted(manifest) == sorted(objects), "each object must be in the manifest once"
    if realtime:
        rt = L.scan("realtime").select("x_edge_request_id").collect().get_column("x_edge_request_id")
        assert rt.len() == realtime and rt.n_unique() == realtime
        roll = L.scan("rollup_minute").select(pl.col("requests").sum()).collect().item()
        assert roll == realtime, "the rollup counts every real-time record once"


# --- running edgelake ------------------------------------------------------------------------------
def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def start(args: Sequence[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([str(EDGELAKE), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 240) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def ingest_args(paths: Sequence[str], lake: str) -> list[str]:
    return ["ingest", *paths, "--lake", lake, "--workers", "1", "--json"]


def summary_of(out: str) -> dict[str, object]:
    data = json.loads(out.strip().splitlines()[-1])
    assert isinstance(data, dict)
    return data


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the writer ended before reaching {path.name}: {proc.communicate()}")
        assert time.monotonic() < deadline, f"the writer never reached {path.name}"
        time.sleep(0.05)


# --- retry policy, without a lake ------------------------------------------------------------------
def test_conflicts_are_retried_until_they_win() -> None:
    calls = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise CommitFailedError("Failed to commit transaction: Metadata changed since last commit.")
        return "done"

    slept: list[float] = []
    assert retry_conflicts("a commit", attempt, deadline=60, sleep=slept.append) == "done"
    assert len(calls) == 4 and len(slept) == 3 and all(0 <= s <= 5 for s in slept)


def test_other_errors_are_not_retried_and_a_deadline_ends_the_retries() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("schema mismatch: column x is int64, not string")

    with pytest.raises(ValueError):
        retry_conflicts("a commit", broken, deadline=60, sleep=lambda s: None)
    assert len(calls) == 1

    def always_losing() -> None:
        raise CommitFailedError("Failed to commit transaction: Concurrent transaction failed.")

    with pytest.raises(LakeError, match=r"lost the race to other writers .* nothing of it was committed"):
        retry_conflicts("commit to /lake/rejects", always_losing, deadline=0, sleep=lambda s: None)


def test_what_counts_as_a_lost_race() -> None:
    assert is_conflict(CommitFailedError("Failed to commit transaction: a concurrent transaction deleted data"))
    assert is_conflict(Exception("Generic error: SaveMode `append` is not allowed for create operation."))
    assert not is_conflict(Exception("Schema error: cannot cast string to int64"))
    assert not is_conflict(PermissionError("Access Denied"))


# --- deterministic races on local disk -------------------------------------------------------------
def test_a_commit_that_loses_to_a_schema_change_is_made_again(tmp_path: Path) -> None:
    """A holds its commit; B adds a column (a field AWS added) and commits; A's stale commit must retry."""
    lake, hold = str(tmp_path / "lake"), tmp_path / "hold"
    hold.mkdir()
    a_paths = cf_objects(tmp_path / "src", "a", 3)
    b_paths = cf_objects(tmp_path / "src", "b", 2, fields=(*CF_FIELDS_33, "x-new-field"))
    first = finish(start(ingest_args(cf_objects(tmp_path / "src", "seed", 1), lake), env_with()))
    assert first[0] == 1, first  # one garbage line: exit 1 says "rejects quarantined"
    a = start(ingest_args(a_paths, lake), env_with(EDGELAKE_HOLD_AT=f"commit-snapshot-cloudfront@{hold}"))
    wait_for(hold / "commit-snapshot-cloudfront.reached", a)
    code_b, _, err_b = finish(start(ingest_args(b_paths, lake), env_with()))
    assert code_b == 1, err_b
    (hold / "commit-snapshot-cloudfront.release").touch()
    code_a, out_a, err_a = finish(a)
    assert code_a == 1, err_a
    assert summary_of(out_a)["commit_retries"] >= 1  # the race really happened, and was lost, and retried
    assert_exactly_once(
        lake,
        request_ids("seed", 1) + request_ids("a", 3) + request_ids("b", 2),
        [*cf_objects(tmp_path / "src", "seed", 1), *a_paths, *b_paths],
    )
    extra = Lake(lake).scan("cloudfront").filter(pl.col("x_new_field").is_not_null()).collect()
    assert sorted(extra.get_column("x_edge_request_id").to_list()) == sorted(request_ids("b", 2))


def test_a_run_whose_commit_keeps_losing_fails_and_the_next_run_completes_it(tmp_path: Path) -> None:
    """With no time to retry, the held writer gives up: exit 2, a clear message, its objects not in the manifest."""
    lake, hold = str(tmp_path / "lake"), tmp_path / "hold"
    hold.mkdir()
    seed = cf_objects(tmp_path / "src", "seed", 1)
    assert finish(start(ingest_args(seed, lake), env_with()))[0] == 1
    a_paths = cf_objects(tmp_path / "src", "a", 2)
    b_paths = cf_objects(tmp_path / "src", "b", 1, fields=(*CF_FIELDS_33, "x-new-field"))
    a = start(
        ingest_args(a_paths, lake),
        env_with(EDGELAKE_HOLD_AT=f"commit-snapshot-cloudfront@{hold}", EDGELAKE_COMMIT_DEADLINE="0"),
    )
    wait_for(hold / "commit-snapshot-cloudfront.reached", a)
    assert finish(start(ingest_args(b_paths, lake), env_with()))[0] == 1
    (hold / "commit-snapshot-cloudfront.release").touch()
    code, _, err = finish(a)
    assert code == 2 and "lost the race to other writers" in err and "run again" in err, err
    manifest = Lake(lake).scan("manifest").collect().get_column("object_uri").to_list()
    assert not set(a_paths) & set(manifest)
    code, _, err = finish(start(ingest_args(a_paths, lake), env_with()))
    assert code == 1, err
    assert_exactly_once(
        lake, request_ids("seed", 1) + request_ids("a", 2) + request_ids("b", 1), [*seed, *a_paths, *b_paths]
    )


def test_compaction_that_loses_to_a_reingest_is_planned_again(tmp_path: Path) -> None:
    """A compaction holds its rewrite; a changed object is re-ingested (its old rows deleted); the rewrite retries."""
    lake, hold, src = str(tmp_path / "lake"), tmp_path / "hold", tmp_path / "src"
    hold.mkdir()
    paths = cf_objects(src, "a", 4)
    for p in paths:  # one run per object: several small files per partition, something to merge
        assert finish(start(ingest_args([p], lake), env_with()))[0] == 1
    compaction = start(
        ["compact", "--lake", lake, "--older-than", "0", "--table", "cloudfront", "--json"],
        env_with(EDGELAKE_HOLD_AT=f"commit-snapshot-cloudfront@{hold}"),
    )
    wait_for(hold / "commit-snapshot-cloudfront.reached", compaction)
    # Object 0 changes: its records get new ids. Re-ingesting deletes its old rows from the same files.
    changed = Path(paths[0])
    recs = [cf_record(date=DAYS[0], time=f"00:0{j}:00", x_edge_request_id=f"a-0-new{j}") for j in range(RECORDS)]
    changed.write_bytes(gz((w3c_text(CF_FIELDS_33, recs) + GARBAGE + GARBAGE).encode()))
    code, _, err = finish(start(ingest_args(paths, lake), env_with()))
    assert code == 1, err
    (hold / "commit-snapshot-cloudfront.release").touch()
    code, out, err = finish(compaction)
    assert code == 0, err
    report = json.loads(out)["tables"]["cloudfront"]
    assert report["retries"] >= 1 and report["files_removed"] >= 2
    assert report["rows_before"] == 4 * RECORDS
    ids = [f"a-0-new{j}" for j in range(RECORDS)] + [i for i in request_ids("a", 4) if not i.startswith("a-0-")]
    got = Lake(lake).scan("cloudfront").collect().get_column("x_edge_request_id").to_list()
    assert sorted(got) == sorted(ids)
    rejects = Lake(lake).scan("rejects").filter(pl.col("source_file") == str(changed)).collect()
    assert rejects.height == 2  # the new version's two garbage lines; the old version's reject is gone


def test_the_row_check_finds_the_compactions_own_commit_among_later_ones(tmp_path: Path) -> None:
    """Other writers commit between the compaction's commit and its row check: the check still finds its commit."""
    lake, hold, src = str(tmp_path / "lake"), tmp_path / "hold", tmp_path / "src"
    hold.mkdir()
    for p in cf_objects(src, "a", 4):
        assert finish(start(ingest_args([p], lake), env_with()))[0] == 1
    compaction = start(
        ["compact", "--lake", lake, "--older-than", "0", "--table", "cloudfront", "--json"],
        env_with(EDGELAKE_HOLD_AT=f"compaction-committed-cloudfront@{hold}"),
    )
    wait_for(hold / "compaction-committed-cloudfront.reached", compaction)
    late = cf_objects(src, "b", 3)
    code, _, err = finish(start(ingest_args(late, lake), env_with(EDGELAKE_GROUP_OBJECTS="1")))
    assert code == 1, err
    (hold / "compaction-committed-cloudfront.release").touch()
    code, out, err = finish(compaction)
    assert code == 0, err
    report = json.loads(out)["tables"]["cloudfront"]
    assert report["files_removed"] >= 2 and report["rows_after"] == 7 * RECORDS
    got = Lake(lake).scan("cloudfront").collect().get_column("x_edge_request_id").to_list()
    assert sorted(got) == sorted(request_ids("a", 4) + request_ids("b", 3))


def test_two_compactions_take_turns(tmp_path: Path) -> None:
    """B starts while A is rewriting: B leaves the table to A (delta-rs would let both rewrites land twice)."""
    lake, hold, src = str(tmp_path / "lake"), tmp_path / "hold", tmp_path / "src"
    hold.mkdir()
    for p in cf_objects(src, "a", 4):
        assert finish(start(ingest_args([p], lake), env_with()))[0] == 1
    args = ["compact", "--lake", lake, "--older-than", "0", "--table", "cloudfront", "--json"]
    a = start(args, env_with(EDGELAKE_HOLD_AT=f"commit-snapshot-cloudfront@{hold}"))
    wait_for(hold / "commit-snapshot-cloudfront.reached", a)
    code_b, out_b, err_b = finish(start(args, env_with()))
    assert code_b == 0, err_b
    b = json.loads(out_b)["tables"]["cloudfront"]
    assert b["files_removed"] == 0 and "another compaction has held this table since" in b["skipped"]
    assert "not merged: another compaction" in err_b
    (hold / "commit-snapshot-cloudfront.release").touch()
    code_a, out_a, err_a = finish(a)
    assert code_a == 0, err_a
    report = json.loads(out_a)["tables"]["cloudfront"]
    assert report["files_removed"] >= 2 and report["rows_after"] == report["rows_before"] == 4 * RECORDS
    assert sorted(Lake(lake).scan("cloudfront").collect().get_column("x_edge_request_id")) == sorted(
        request_ids("a", 4)
    )


def test_a_dead_compactions_claim_is_taken_over_after_its_lease(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from pipeline.compact.compaction import CLAIM_LEASE, COMPACTION_APP, _empty_commit, compact

    lake, src = str(tmp_path / "lake"), tmp_path / "src"
    for p in cf_objects(src, "a", 4):
        assert finish(start(ingest_args([p], lake), env_with()))[0] == 1
    now = datetime.now(UTC)

    def claim_at(when: datetime) -> None:
        dt = Lake(lake).open("cloudfront")
        assert dt is not None
        _empty_commit(dt, ((int(when.timestamp() * 1000) << 20) | 12345) * 2 + 1)

    claim_at(now - timedelta(minutes=5))  # a compaction that is (or looks) alive
    table = compact(lake, older_than=timedelta(0), tables=["cloudfront"]).tables[0]
    assert table.skipped and table.files_removed == 0
    claim_at(now - CLAIM_LEASE - timedelta(minutes=1))  # one that died long ago
    table = compact(lake, older_than=timedelta(0), tables=["cloudfront"]).tables[0]
    assert table.skipped is None and table.files_removed >= 2 and table.rows_after == 4 * RECORDS
    dt = Lake(lake).open("cloudfront")
    assert dt is not None and (dt.transaction_version(COMPACTION_APP) or 1) % 2 == 0  # released


# --- everybody at once -----------------------------------------------------------------------------
def everybody_at_once(tmp_path: Path, lake: str) -> None:
    """Three ingests, a follower and two compactions on one lake at the same time; then count everything."""
    src = tmp_path / "src"
    writers = {w: cf_objects(src, w, 4) for w in ("a", "b", "c")}
    rt_dir = tmp_path / "rt"
    write(rt_dir / "stream-1.log", realtime_lines(40))
    fields = str(REALTIME / "realtime-config.json")
    # One commit per object: more commits, more chances to collide.
    one_by_one = env_with(EDGELAKE_GROUP_OBJECTS="1")
    procs = [start(ingest_args(paths[:2], lake), one_by_one) for paths in writers.values()]
    procs.append(
        start(
            [
                "follow",
                str(rt_dir),
                "--lake",
                lake,
                "--realtime-fields",
                fields,
                "--distribution-id",
                "EDFDVBD6EXAMPLE",
                "--once",
                "--flush-interval",
                "0",
            ],
            env_with(),
        )
    )
    procs += [start(ingest_args(paths[2:], lake), one_by_one) for paths in writers.values()]
    compactions = [start(["compact", "--lake", lake, "--older-than", "0", "--json"], env_with()) for _ in range(2)]
    # Every process is waited for before anything is asserted, so a failure leaves none running.
    ended = [finish(proc) for proc in procs]
    compacted = [finish(proc) for proc in compactions]
    retries = 0
    for code, out, err in ended:
        assert code in (0, 1) and "Traceback" not in err, err  # 1: the garbage lines were quarantined
        if out.startswith("{"):
            retries += int(summary_of(out)["commit_retries"])  # type: ignore[call-overload]
    print(f"commit races lost and retried by the ingests: {retries}")
    for code, _, err in compacted:
        assert code == 0, err
    objects = [p for paths in writers.values() for p in paths]
    ids = [i for w in writers for i in request_ids(w, 4)]
    assert_exactly_once(lake, ids, objects, realtime=40)
    follower_rejects = Lake(lake).scan("rejects").filter(pl.col("source_file").str.ends_with("stream-1.log"))
    assert follower_rejects.collect().height == 1


@pytest.mark.slow
def test_everybody_at_once_on_local_disk(tmp_path: Path) -> None:
    everybody_at_once(tmp_path, str(tmp_path / "lake"))


# --- S3 ----------------------------------------------------------------------------------------------
@pytest.fixture
def proxy(s3_env: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(s3_env.endpoint_url, lifetime=300) as px:
        storage_fs._s3.cache_clear()
        try:
            yield px
        finally:
            storage_fs._s3.cache_clear()


@pytest.mark.s3
@pytest.mark.slow
def test_everybody_at_once_on_s3(tmp_path: Path, s3_env: S3Server) -> None:
    everybody_at_once(tmp_path, f"s3://{s3_env.make_bucket('lake')}/edge")


@pytest.mark.s3
def test_two_writers_creating_the_same_table_on_s3(tmp_path: Path, s3_env: S3Server, proxy: FaultProxy) -> None:
    """A's PUT of a table's first log entry is held until B has created the table: A must append to B's table."""
    lake = f"s3://{s3_env.make_bucket('lake')}/edge"
    held = proxy.hold(path="/cloudfront/_delta_log/00000000000000000000.json", methods=["PUT"])
    a_paths = cf_objects(tmp_path / "src", "a", 2)
    b_paths = cf_objects(tmp_path / "src", "b", 2)
    a = start(ingest_args(a_paths, lake), env_with(AWS_ENDPOINT_URL_S3=proxy.endpoint_url))
    assert held.wait_injected(1, timeout=90), "writer A never tried to create the table"
    code_b, _, err_b = finish(start(ingest_args(b_paths, lake), env_with()))
    assert code_b == 1, err_b
    held.release()
    code_a, _, err_a = finish(a)
    assert code_a == 1, err_a
    refused = [
        s
        for s in proxy.seen
        if s.path.endswith("/cloudfront/_delta_log/00000000000000000000.json") and s.method == "PUT"
    ]
    assert refused and refused[0].status == 412 and refused[0].conditional  # S3 refused A's late create
    assert_exactly_once(lake, request_ids("a", 2) + request_ids("b", 2), [*a_paths, *b_paths])


@pytest.mark.s3
def test_every_delta_commit_on_s3_is_a_conditional_put(tmp_path: Path, s3_env: S3Server, proxy: FaultProxy) -> None:
    lake = f"s3://{s3_env.make_bucket('lake')}/edge"
    paths = cf_objects(tmp_path / "src", "a", 2)
    code, _, err = finish(start(ingest_args(paths, lake), env_with(AWS_ENDPOINT_URL_S3=proxy.endpoint_url)))
    assert code == 1, err
    commits = [s for s in proxy.seen if s.method == "PUT" and "/_delta_log/" in s.path and s.path.endswith(".json")]
    assert len(commits) >= 3  # cloudfront, rejects, manifest at least
    assert all(s.conditional for s in commits), [s.path for s in commits if not s.conditional]
    probes = [s for s in proxy.seen if "/_edgelake_probe/" in s.path and s.method == "PUT"]
    assert [s.status for s in probes] == [200, 412]


@pytest.mark.s3
def test_a_store_without_conditional_writes_is_refused(tmp_path: Path, s3_env: S3Server, proxy: FaultProxy) -> None:
    """A store that takes a second If-None-Match put is refused before anything is committed."""
    lake = f"s3://{s3_env.make_bucket('lake')}/edge"
    proxy.accept(path="/_edgelake_probe/", methods=["PUT"])
    code, _, err = finish(
        start(ingest_args(cf_objects(tmp_path / "src", "a", 1), lake), env_with(AWS_ENDPOINT_URL_S3=proxy.endpoint_url))
    )
    assert code == 2, err
    assert "does not honour conditional writes" in err and "refuses to write there" in err
    assert Lake(lake).open("cloudfront") is None and Lake(lake).open("manifest") is None
