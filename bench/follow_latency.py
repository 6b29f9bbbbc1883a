"""How long after a real-time record is appended can the lake answer for it? (``edgelake follow``)

Appends real-time log records to a local file at a fixed rate (default 20,000 records/s for 20 s)
while ``edgelake follow`` tails the directory into a fresh lake. A poller watches the ``realtime``
Delta table: each new table version makes the first N appended records queryable (the follower reads
the file in order), so every record's latency is the time from its append to the first poll that saw
a version holding it. Prints latency percentiles against the target (flush interval + 1 s), the
append rate actually achieved, the follower's flush times, and its peak RSS (VmHWM from /proc).

    .venv/bin/python bench/follow_latency.py                       # 20k records/s, 20 s, --flush-interval 5s
    .venv/bin/python bench/follow_latency.py --rate 5000 --seconds 10 --flush-interval 1
    .venv/bin/python bench/follow_latency.py --json                # one JSON object on stdout

Not a test: it takes ``seconds`` + a few more, and its figures depend on the machine. Exit status 1
when the latency target was missed or records went missing.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REALTIME = ROOT / "data" / "samples" / "realtime"
EDGELAKE = Path(sys.executable).parent / "edgelake"
WRITES_PER_SECOND = 20  # the writer appends in this many slices per second


def _templates() -> list[list[str]]:
    sample = next(REALTIME.rglob("*.gz"))
    return [line.split("\t") for line in gzip.decompress(sample.read_bytes()).decode().splitlines()]


def _writer(path: Path, rate: int, seconds: float, log: list[tuple[float, int]], stop: threading.Event) -> None:
    """Append ``rate`` records per second; log (time the slice was flushed, records appended so far)."""
    templates = _templates()
    per_slice = max(1, rate // WRITES_PER_SECOND)
    n = 0
    start = time.monotonic()
    with path.open("a", encoding="utf-8") as fh:
        while not stop.is_set():
            elapsed = time.monotonic() - start
            if elapsed >= seconds:
                break
            ts = time.time()
            parts = []
            for _ in range(per_slice):
                fields = templates[n % len(templates)].copy()
                fields[0] = f"{ts:.3f}"
                fields[11] = f"bench-{n:012d}"
                parts.append("\t".join(fields))
                n += 1
            fh.write("\n".join(parts) + "\n")
            fh.flush()
            log.append((time.monotonic(), n))
            target = start + len(log) / WRITES_PER_SECOND
            time.sleep(max(0.0, target - time.monotonic()))


def _visible_rows(table: Any) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    actions = pa.table(table.get_add_actions(flatten=True))
    return int(pc.sum(actions.column("num_records")).as_py() or 0) if actions.num_rows else 0


def _poller(table_uri: str, seen: list[tuple[float, int]], stop: threading.Event, interval: float) -> None:
    """Record (time, rows queryable) whenever the table's version changes."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    dt = None
    version = -1
    while not stop.is_set():
        try:
            if dt is None:
                dt = DeltaTable(table_uri)
            else:
                dt.update_incremental()
            if dt.version() != version:
                version = dt.version()
                seen.append((time.monotonic(), _visible_rows(dt)))
        except TableNotFoundError:
            pass
        time.sleep(interval)


def _vm_hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(rate: int, seconds: float, flush_interval: float, max_batch: int, workdir: Path) -> dict[str, Any]:
    src, lake = workdir / "src", workdir / "lake"
    src.mkdir(parents=True)
    path = src / "realtime.log"
    path.touch()
    cmd = [
        str(EDGELAKE),
        "follow",
        str(src),
        "--lake",
        str(lake),
        "--realtime-fields",
        str(REALTIME / "realtime-config.json"),
        "--distribution-id",
        "EBENCH",
        "--json",
        "--flush-interval",
        f"{flush_interval}s",
        "--max-batch",
        str(max_batch),
    ]
    flushes_path = workdir / "flushes.jsonl"
    with flushes_path.open("w") as out, (workdir / "follow.err").open("w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
    time.sleep(2.0)  # let the follower import and start polling before the clock starts
    log: list[tuple[float, int]] = []
    seen: list[tuple[float, int]] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poller, args=(str(lake / "realtime"), seen, stop, 0.05), daemon=True)
    poller.start()
    _writer(path, rate, seconds, log, stop)
    total = log[-1][1] if log else 0
    deadline = time.monotonic() + flush_interval + 30
    while time.monotonic() < deadline and (not seen or seen[-1][1] < total):
        time.sleep(0.1)
    peak = _vm_hwm_kib(proc.pid)
    stop.set()
    poller.join()
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)
    latencies: list[float] = []
    counts = [c for _, c in seen]
    for appended_at, upto in log:  # the last record of each slice waited least; the first of it the same
        i = bisect.bisect_left(counts, upto)
        if i < len(seen):
            latencies.append(seen[i][0] - appended_at)
    flushes = [json.loads(line) for line in flushes_path.read_text().splitlines() if line.startswith("{")]
    target = flush_interval + 1.0
    achieved = total / (log[-1][0] - log[0][0] + 1 / WRITES_PER_SECOND) if len(log) > 1 else 0.0
    return {
        "rate_requested": rate,
        "rate_achieved": round(achieved),
        "seconds": seconds,
        "records": total,
        "queryable": seen[-1][1] if seen else 0,
        "flush_interval": flush_interval,
        "target_seconds": target,
        "latency_p50": round(_percentile(latencies, 0.5), 3),
        "latency_p95": round(_percentile(latencies, 0.95), 3),
        "latency_max": round(max(latencies), 3) if latencies else None,
        "flushes": len(flushes),
        "flush_seconds_mean": round(sum(f["seconds"] for f in flushes) / len(flushes), 3) if flushes else None,
        "flush_seconds_max": max((f["seconds"] for f in flushes), default=None),
        "peak_rss_mib": round(peak / 1024, 1),
        "ok": bool(latencies) and max(latencies) <= target and (seen[-1][1] if seen else 0) == total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=20_000, help="records appended per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the writer appends")
    parser.add_argument("--flush-interval", type=float, default=5.0, help="the follower's --flush-interval (s)")
    parser.add_argument("--max-batch", type=int, default=200_000, help="the follower's --max-batch")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory (printed)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="edgelake-follow-bench-"))
    try:
        result = run(args.rate, args.seconds, args.flush_interval, args.max_batch, workdir)
    finally:
        if args.keep:
            print(f"scratch directory: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key.ljust(width)}  {value}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
