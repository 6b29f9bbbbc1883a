"""Ingest on Dask distributed against the local pool, same input, same run: throughput, efficiency per worker,
peak memory per worker, and what the one coordinator's commits cost when objects are small.

Owns the orchestration of this comparison, nothing else. Contenders, each on a fresh lake:

* ``pool-N``: ``edgelake ingest DATA --workers N`` (the local pool; the coordinator is one of the N);
* ``dask-N``: ``edgelake ingest DATA --cluster tcp://...`` on a ``dask scheduler`` and ``dask worker
  --nworkers N`` started by this script from the venv's ``dask`` command, as a remote cluster would be run
  (same environment variables as the README gives). The workers are warmed by one small ingest first:
  a long-lived cluster pays its imports once, so the start-up is timed separately (``--cold``: one
  ``--cluster local:2`` run, start and stop included).

Per run: wall time and lines/s; the CPU seconds the workers spent (``/proc/<pid>/stat`` before and after;
the coordinator's from ``wait4``), hence lines per worker CPU-second, the per-core figure the scale model
in the README uses; the peak RSS of each worker process and of the coordinator (sampled every 0.1 s).
Efficiency per worker is the N-worker rate over N times the 1-worker rate of the same family; on a machine
shared with other work, wall time depends on what the others do, so the CPU efficiency (lines per worker
CPU-second against the 1-worker figure) is printed too.

Commit cost: ``--small`` objects of ``--small-lines`` lines in total are ingested by a coordinator whose
``commit_group`` and ``Lake.commit_parts`` are timed (``bench/_commit_probe.py``), once per ``--groups``
value (objects per coordinator commit, ``EDGELAKE_GROUP_OBJECTS``): seconds per commit, per table commit
and per object, hence the objects per second one coordinator can commit.

Like ``run.py`` this harness imports nothing heavy (the kernel charges children with its peak memory);
the data set is made by ``generate.py`` through ``run.ensure_data``.

    .venv/bin/python bench/cluster.py                         # 2M lines in 8 files, 2,000 small objects
    .venv/bin/python bench/cluster.py --lines 400000 --small 400 --only pool-1,dask-1
    .venv/bin/python bench/cluster.py --threads 2 --json > bench/out/cluster.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _measure import _parents, _rss_kib, measure
from run import ROOT, _python, ensure_data, warm_cache

BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(_python()).parent
_TICKS = os.sysconf("SC_CLK_TCK")
# What the README tells remote workers to set, and what --cluster local:N sets for its own workers.
WORKER_ENV = {"POLARS_MAX_THREADS": "2", "MALLOC_ARENA_MAX": "1", "_RJEM_MALLOC_CONF": "dirty_decay_ms:5000"}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, ()))
    return out


def _cpu_seconds(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


class Peaks(threading.Thread):
    """Peak RSS of every process in some trees (``roots``), per process, sampled until stopped."""

    def __init__(self, roots: list[int], interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.peak_kib: dict[int, int] = {}
        self.commands: dict[int, bytes] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for root in self.roots:
                for pid in _descendants(root):
                    self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), _rss_kib(pid))
                    if pid not in self.commands:
                        self.commands[pid] = _cmdline(pid)
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[int, int]:
        self._stop_event.set()
        self.join()
        return self.peak_kib


class DaskWorkers:
    """A ``dask scheduler`` and a ``dask worker --nworkers N`` on loopback, from the venv; stopped on exit."""

    def __init__(self, workers: int, threads: int, scratch: Path) -> None:
        self.workers, self.threads = workers, threads
        self.file = scratch / f"scheduler-{workers}.json"
        self.logs = scratch
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> DaskWorkers:
        env = {**os.environ, **WORKER_ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "3"}
        dask = str(VENV_BIN / "dask")
        common = {"env": env, "start_new_session": True, "cwd": ROOT}
        self.procs.append(
            subprocess.Popen(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--dashboard-address",
                    "127.0.0.1:0",
                    "--scheduler-file",
                    str(self.file),
                ],
                stdout=subprocess.DEVNULL,
                stderr=(self.logs / "scheduler.log").open("wb"),
                **common,
            )
        )
        deadline = time.monotonic() + 120
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        self.procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    self.address,
                    "--nworkers",
                    str(self.workers),
                    "--nthreads",
                    str(self.threads),
                    "--memory-limit",
                    "0",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(self.logs / f"workers-{self.workers}.log").open("wb"),
                **common,
            )
        )
        wait = f"from distributed import Client; Client({self.address!r}).wait_for_workers({self.workers}, timeout=180)"
        subprocess.run([_python(), "-c", wait], check=True, cwd=ROOT, capture_output=True)
        return self

    def worker_pids(self) -> list[int]:
        """The worker processes (spawned by the nannies of ``dask worker``)."""
        return [p for p in _descendants(self.procs[1].pid) if b"spawn_main" in _cmdline(p) and _cmdline(p)]

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, 9)


@dataclass
class Run:
    name: str
    workers: int
    command: list[str]
    seconds: float = 0.0
    lines: int = 0
    lines_per_second: float = 0.0
    worker_cpu_seconds: float = 0.0
    coordinator_cpu_seconds: float = 0.0
    lines_per_worker_cpu_second: float = 0.0
    peak_worker_mib: list[float] = field(default_factory=list)  # one per worker process
    peak_coordinator_mib: float = 0.0
    efficiency: float | None = None  # lines/s over N times the 1-worker lines/s (wall time: shares the machine)
    cpu_efficiency: float | None = None  # lines per worker CPU-second over the 1-worker figure (load-proof)
    reported: dict[str, object] = field(default_factory=dict)


def _ingest(data: Path, lake: Path, how: list[str]) -> list[str]:
    return [
        str(VENV_BIN / "edgelake"),
        "ingest",
        str(data),
        "--lake",
        str(lake),
        "--source",
        "cloudfront",
        *how,
        "--json",
    ]


def run_pool(name: str, workers: int, data: Path, scratch: Path) -> Run:
    lake = scratch / f"lake-{name}"
    run = Run(name, workers, _ingest(data, lake, ["--workers", str(workers)]))
    peaks = Peaks([os.getpid()])  # this harness's tree: the edgelake process and its pool
    peaks.start()
    m = measure(run.command, cwd=ROOT, log_dir=scratch / name, timeout=3600)
    per_pid = peaks.stop()
    _finish(run, m.exit_code, m.stdout, m.stderr, m.seconds)
    commands = peaks.commands
    ours = {pid: kib for pid, kib in per_pid.items() if pid != os.getpid() and b"resource_tracker" not in commands[pid]}
    root = next((pid for pid in ours if b" ingest " in commands[pid]), None)
    # The coordinator reads objects too: it is one of the workers, and all the CPU is worker CPU (wait4
    # counts the pool's processes, which it joins before exiting).
    run.worker_cpu_seconds = m.cpu_seconds
    run.peak_worker_mib = sorted((kib / 1024 for kib in ours.values()), reverse=True)
    run.peak_coordinator_mib = (ours.get(root, 0) if root else m.peak_kib) / 1024
    shutil.rmtree(lake, ignore_errors=True)
    return _rates(run)


def run_dask(name: str, cluster: DaskWorkers, data: Path, scratch: Path) -> Run:
    lake = scratch / f"lake-{name}"
    run = Run(name, cluster.workers, _ingest(data, lake, ["--cluster", cluster.address]))
    pids = cluster.worker_pids()
    cpu_before = {p: _cpu_seconds(p) for p in pids}
    peaks = Peaks(pids)
    peaks.start()
    m = measure(run.command, cwd=ROOT, log_dir=scratch / name, timeout=3600)
    per_pid = peaks.stop()
    _finish(run, m.exit_code, m.stdout, m.stderr, m.seconds)
    run.worker_cpu_seconds = sum(_cpu_seconds(p) - cpu_before[p] for p in pids)
    run.coordinator_cpu_seconds = m.cpu_seconds
    run.peak_worker_mib = sorted((per_pid.get(p, 0) / 1024 for p in pids), reverse=True)
    run.peak_coordinator_mib = m.peak_kib / 1024
    shutil.rmtree(lake, ignore_errors=True)
    return _rates(run)


def _finish(run: Run, code: int, stdout: str, stderr: str, seconds: float) -> None:
    if code not in (0, 1):
        raise SystemExit(f"{run.name} failed ({code}): {stderr[-2000:]}")
    run.reported = json.loads(stdout.strip().splitlines()[-1])
    run.lines = int(str(run.reported["lines"]))
    run.seconds = seconds


def _rates(run: Run) -> Run:
    run.lines_per_second = run.lines / run.seconds
    if run.worker_cpu_seconds:
        run.lines_per_worker_cpu_second = run.lines / run.worker_cpu_seconds
    return run


def commit_probe(data: Path, scratch: Path, groups: int, how: list[str]) -> dict[str, object]:
    lake = scratch / f"lake-commits-{groups}"
    env = {**os.environ, "EDGELAKE_GROUP_OBJECTS": str(groups)}
    proc = subprocess.run(
        [_python(), str(BENCH / "_commit_probe.py"), str(data), str(lake), *how],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"commit probe failed: {proc.stderr[-2000:]}")
    shutil.rmtree(lake, ignore_errors=True)
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def data_facts(data: Path) -> dict[str, float]:
    """Compressed and raw bytes per line of a generated data set (raw: each gzip file's ISIZE trailer)."""
    manifest = json.loads((data.parent / "manifest.json").read_text())
    raw = 0
    for path in data.glob("*.gz"):
        with path.open("rb") as fh:
            fh.seek(-4, os.SEEK_END)
            raw += int.from_bytes(fh.read(4), "little")
    lines, packed = int(manifest["lines"]), int(manifest["compressed_bytes"])
    return {
        "lines": lines,
        "compressed_bytes": packed,
        "raw_bytes": raw,
        "compressed_bytes_per_line": packed / lines,
        "raw_bytes_per_line": raw / lines,
        "compression_ratio": raw / packed,
    }


def _print(runs: list[Run], facts: dict[str, float], commits: list[dict[str, object]], cold: float | None) -> None:
    out = sys.stderr
    print(
        f"\ninput: {facts['lines']:,.0f} lines, {facts['compressed_bytes'] / 2**20:.1f} MiB gzip "
        f"({facts['compressed_bytes_per_line']:.1f} B/line), {facts['raw_bytes'] / 2**20:.1f} MiB raw "
        f"({facts['raw_bytes_per_line']:.1f} B/line, ratio {facts['compression_ratio']:.1f}x); load "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        file=out,
    )
    print(
        f"{'run':<8} {'wall s':>7} {'lines/s':>10} {'eff/worker':>10} {'worker cpu s':>12} "
        f"{'lines/cpu-s':>11} {'cpu eff':>7} {'coord cpu s':>11} {'peak/worker MiB':>18} {'coord MiB':>9}",
        file=out,
    )
    for r in runs:
        eff = "" if r.efficiency is None else f"{r.efficiency:.0%}"
        cpu_eff = "" if r.cpu_efficiency is None else f"{r.cpu_efficiency:.0%}"
        peaks = ", ".join(f"{p:.0f}" for p in r.peak_worker_mib)
        coordinator = f"{r.coordinator_cpu_seconds:.2f}" if r.name.startswith("dask") else "(a worker)"
        print(
            f"{r.name:<8} {r.seconds:>7.2f} {r.lines_per_second:>10,.0f} {eff:>10} {r.worker_cpu_seconds:>12.2f} "
            f"{r.lines_per_worker_cpu_second:>11,.0f} {cpu_eff:>7} {coordinator:>11} {peaks:>18} "
            f"{r.peak_coordinator_mib:>9.0f}",
            file=out,
        )
    if cold is not None:
        print(f"cold --cluster local:2 (start, run, stop): {cold:.1f} s wall", file=out)
    for c in commits:
        tables = ", ".join(f"{t} {v['ms_per_commit']:.0f} ms" for t, v in c["tables"].items())
        print(
            f"small objects via {c['via']}, {c['group_objects']}/commit: {c['objects']} objects in "
            f"{c['seconds']:.1f} s ({c['objects_per_second']:.0f}/s); {c['groups']} group commits, "
            f"{c['group_ms']:.0f} ms each ({c['tables_per_group']:.1f} tables: {tables}); "
            f"{c['commit_ms_per_object']:.1f} ms commit per object -> coordinator ceiling "
            f"{c['commit_ceiling_objects_per_second']:.0f} objects/s",
            file=out,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000, help="lines of the large input (default 2M)")
    parser.add_argument("--files", type=int, default=8, help="files of the large input (default 8)")
    parser.add_argument("--small", type=int, default=2000, help="small objects for the commit cost (default 2000)")
    parser.add_argument("--small-lines", type=int, default=200_000, help="lines over all small objects")
    parser.add_argument("--groups", default="64,256", help="objects per coordinator commit to try (default 64,256)")
    parser.add_argument("--threads", type=int, default=1, help="threads (tasks at once) per Dask worker")
    parser.add_argument(
        "--only", default="", help="comma list of pool-1,pool-2,dask-1,dask-2,commits (on dask-2),commits-pool,cold"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout")
    args = parser.parse_args(argv)
    only = set(filter(None, args.only.split(","))) or {"pool-1", "pool-2", "dask-1", "dask-2", "commits"}

    big = ensure_data(args.lines, args.files, args.seed)
    small = ensure_data(args.small_lines, args.small, args.seed)
    warm_cache(big)
    facts = data_facts(big)
    runs: list[Run] = []
    commits: list[dict[str, object]] = []
    cold = None
    with tempfile.TemporaryDirectory(prefix="cluster-bench-", dir=BENCH / "out") as tmp:
        scratch = Path(tmp)
        for n in (1, 2):
            if f"pool-{n}" in only:
                _log(f"pool-{n} ...")
                runs.append(run_pool(f"pool-{n}", n, big, scratch))
        warm_input = sorted(small.glob("*.gz"))[:4]
        for n in (1, 2):
            if f"dask-{n}" not in only and not (n == 2 and "commits" in only):
                continue
            with DaskWorkers(n, args.threads, scratch) as cluster:
                warm = scratch / f"warm-{n}"
                warm.mkdir()
                for path in warm_input:
                    shutil.copy(path, warm / path.name)
                subprocess.run(
                    _ingest(warm, scratch / f"lake-warm-{n}", ["--cluster", cluster.address]), capture_output=True
                )
                if f"dask-{n}" in only:
                    _log(f"dask-{n} ({args.threads} thread(s) per worker) ...")
                    runs.append(run_dask(f"dask-{n}", cluster, big, scratch))
                if n == 2 and "commits" in only:
                    for g in (int(x) for x in args.groups.split(",")):
                        _log(f"{args.small} small objects, {g} per commit, on dask-2 ...")
                        commits.append(commit_probe(small, scratch, g, ["--cluster", cluster.address]))
        if "commits-pool" in only:
            _log(f"{args.small} small objects on the local pool of 2 ...")
            commits.append(commit_probe(small, scratch, int(args.groups.split(",")[0]), ["--workers", "2"]))
        if "cold" in only:
            started = time.perf_counter()
            subprocess.run(
                _ingest(big, scratch / "lake-cold", ["--cluster", "local:2"]), capture_output=True, check=False
            )
            cold = time.perf_counter() - started
    for family in ("pool", "dask"):
        one = next((r for r in runs if r.name == f"{family}-1"), None)
        for r in runs:
            if one is not None and r.name.startswith(family):
                r.efficiency = r.lines_per_second / (r.workers * one.lines_per_second)
                r.cpu_efficiency = r.lines_per_worker_cpu_second / one.lines_per_worker_cpu_second
    _print(runs, facts, commits, cold)
    if args.json:
        print(json.dumps({"input": facts, "runs": [asdict(r) for r in runs], "commits": commits, "cold": cold}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
