"""Benchmark of the named analyses at lake scale, on both engines, against a bare scan of the same columns.

    python bench/analyses.py                                # 10M requests (+10M WAF records), every analysis
    python bench/analyses.py --only hit-ratio,failover      # some analyses
    python bench/analyses.py --lines 100000000 --days 30    # the 100M-request lake over 30 days
    python bench/analyses.py --root /work/benchdata --json  # where data sets live; JSON on stdout
    python bench/analyses.py --replicate 10                 # 100M: the 10M lake's day copied to 10 days

Owns: making (once, then reusing) a data set and its lake, and the measurements. A data set is
`bench/generate.py --paths high --waf --configs` (millions of distinct paths, one WAF record per
request, configs for both distributions) under `<root>/src-<lines>-<days>d`; its lake is the ingest of
configs, logs and WAF records under `<root>/lake-<lines>-<days>d`, compacted (`edgelake compact
--older-than 0`) when it spans several days. Both are kept: later runs reuse them.

Measured, each as a fresh process (`_measure.py`: wall time from start to exit, peak RSS):

* the bare scan: `_bare_scan.py` per engine and per column set (DuckDB's Parquet reader over the
  snapshot's files; Polars' `scan_delta`), timed inside the process, so without process start;
* every named analysis on both engines: `edgelake query NAME --engine E --format csv --out FILE` with
  default parameters (the whole lake);
* one-hour windows (`--param start=... --param end=...`) of a few analyses: on a lake of many days this
  shows pruning (its cost should be about that of the same hour on a one-day lake);
* `edgelake sql "SELECT 1"`.

The verdict per analysis and engine: PASS when its wall time <= 3 x its bare scan + 1 s and its peak
RSS < 1.5 GiB. Numbers from a shared 2-core machine vary by 10-30% from run to run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from _measure import Measurement, measure, own_peak_kib

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_BIN = Path(sys.executable).parent
EDGELAKE = str(VENV_BIN / "edgelake")
FIRST_DAY = date(2025, 3, 14)
MEMORY_LIMIT_KIB = int(1.5 * 2**20)

_REQ = "distribution_id,timestamp,cs_uri_stem,cache_behavior_path_pattern"
_CACHE = f"{_REQ},cs_method,cs_protocol,x_edge_response_result_type,x_edge_detailed_result_type"
_FAIL = f"{_REQ},x_host_header,sc_status,cs_method,x_edge_result_type,x_edge_detailed_result_type,x_edge_request_id"
_OUTCOME = "cloudfront:x_edge_request_id,sc_status"
_WAF_RATE = "waf:timestamp,http_source_id,client_ip,uri,http_method,action,labels,request_id,headers"
_WAF_FP = (
    "waf:timestamp,http_source_id,source_file,source_line,webacl_id,action,terminating_rule_id,"
    "terminating_rule_type,terminating_rule_match_details,rule_group_list,non_terminating_matching_rules,"
    "client_ip,uri,http_method,country,request_id,labels"
)
# analysis -> the tables and columns it reads (the bare scan reads exactly these)
COLUMNS: dict[str, list[str]] = {
    "hit-ratio": [f"cloudfront:{_CACHE},sc_bytes"],
    "hit-ratio-regressions": [f"cloudfront:{_CACHE}"],
    "status-mix": [f"cloudfront:{_REQ},x_host_header,sc_status"],
    "failover": [f"cloudfront:{_FAIL}", "waf:action,request_id"],
    "failover-episodes": [f"cloudfront:{_FAIL}", "waf:action,request_id"],
    "waf-fp-candidates": [_WAF_FP, _OUTCOME],
    "rate-sizing": [_WAF_RATE, _OUTCOME],
    "rate-limit-recommendation": [_WAF_RATE, _OUTCOME],
    "rate-limit-table": [_WAF_RATE, _OUTCOME],
}
WINDOWED = ("hit-ratio", "status-mix", "failover", "rate-sizing")  # also run over one hour


TIMEOUT = [900.0]  # seconds a run may take before it is killed (--timeout)


def run(cmd: list[str], log: Path) -> Measurement:
    m = measure(cmd, cwd=REPO, log_dir=log, timeout=TIMEOUT[0])
    if m.exit_code != 0:
        print(f"  FAILED ({m.exit_code}): {' '.join(cmd)}\n{m.stderr[-2000:]}", file=sys.stderr)
    return m


def ensure_lake(root: Path, lines: int, days: int, files: int) -> Path:
    """Generate the data set and ingest it, unless an earlier run did."""
    name = f"{lines}-{days}d"
    src, lake = root / f"src-{name}", root / f"lake-{name}"
    if (lake / "DONE").exists():
        return lake
    if not (src / "manifest.json").exists():
        print(f"generating {lines:,} requests over {days} day(s) into {src} ...", file=sys.stderr)
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), "--lines", str(lines), "--files", str(files),
             "--days", str(days), "--date", FIRST_DAY.isoformat(), "--paths", "high", "--waf", "--configs",
             "--out", str(src)],
            check=True,
        )  # fmt: skip
    print(f"ingesting into {lake} ...", file=sys.stderr)
    started = time.perf_counter()
    subprocess.run(
        [EDGELAKE, "ingest", str(src / "configs"), str(src / "logs"), str(src / "waf"), "--lake", str(lake), "--json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    if days > 1:
        subprocess.run([EDGELAKE, "compact", "--lake", str(lake), "--older-than", "0"], check=True)
    (lake / "DONE").write_text(f"{time.perf_counter() - started:.1f} s\n")
    return lake


def ensure_replica(root: Path, base: Path, copies: int) -> Path:
    """The base lake's traffic repeated on ``copies`` consecutive days (``_replicate.py``), made once."""
    lake = root / f"{base.name}-x{copies}"
    if (lake / "DONE").exists():
        return lake
    shutil.rmtree(lake, ignore_errors=True)
    print(f"replicating {base} {copies} times into {lake} ...", file=sys.stderr)
    replicate = [sys.executable, str(HERE / "_replicate.py"), str(base), str(lake), "--copies", str(copies)]
    subprocess.run(replicate, check=True)
    return lake


def bare_scans(
    lake: Path, analyses: list[str], engines: list[str], logs: Path
) -> dict[tuple[str, str], tuple[float, float]]:
    """(wall, CPU) seconds of the bare scan per analysis and engine."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for engine in engines:
        for name in analyses:
            m = run(
                [sys.executable, str(HERE / "_bare_scan.py"), engine, str(lake), *COLUMNS[name]],
                logs / f"scan-{engine}-{name}",
            )
            found = json.loads(m.stdout) if m.exit_code == 0 else {}
            out[(name, engine)] = (found.get("seconds", float("nan")), found.get("cpu_seconds", float("nan")))
    return out


def analysis(lake: Path, name: str, engine: str, logs: Path, params: list[str] = ()) -> Measurement:  # type: ignore[assignment]
    out = logs / f"{name}-{engine}.csv"
    cmd = [EDGELAKE, "query", name, "--lake", str(lake), "--engine", engine, "--format", "csv", "--out", str(out)]
    for p in params:
        cmd += ["--param", p]
    return run(cmd, logs / f"q-{engine}-{name}-{len(params)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--files", type=int, default=0, help="log files (default: 40 per day-ish, >= 40)")
    parser.add_argument("--root", type=Path, default=HERE / "out" / "analyses")
    parser.add_argument(
        "--replicate", type=int, default=1, help="repeat the lake's traffic on this many days (_replicate.py)"
    )
    parser.add_argument("--only", default="", help="comma-separated analyses (default: all)")
    parser.add_argument("--engines", default="duckdb,polars")
    parser.add_argument("--no-windows", action="store_true", help="skip the one-hour window runs")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is killed (default 900)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    TIMEOUT[0] = args.timeout
    files = args.files or max(40, 24 * args.days)
    lake = ensure_lake(args.root, args.lines, args.days, files)
    days = args.days
    if args.replicate > 1:
        lake, days = ensure_replica(args.root, lake, args.replicate), args.days * args.replicate
    logs = args.root / "runs" / datetime.now().strftime("%Y%m%dT%H%M%S")
    analyses = [a for a in args.only.split(",") if a] or list(COLUMNS)
    engines = [e for e in args.engines.split(",") if e]
    load = os.getloadavg()[0]

    scans = bare_scans(lake, analyses, engines, logs)
    rows = []
    for name in analyses:
        for engine in engines:
            m = analysis(lake, name, engine, logs)
            scan, scan_cpu = scans[(name, engine)]
            limit = 3 * scan + 1
            ok = m.exit_code == 0 and m.seconds <= limit and m.peak_kib < MEMORY_LIMIT_KIB
            rows.append(
                {"analysis": name, "engine": engine, "seconds": round(m.seconds, 2),
                 "cpu_seconds": round(m.cpu_seconds, 2), "peak_mib": m.peak_kib // 1024, "scan_seconds": scan,
                 "scan_cpu_seconds": scan_cpu, "cpu_ratio": round(m.cpu_seconds / scan_cpu, 1),
                 "ratio": round(m.seconds / scan, 1), "limit_seconds": round(limit, 2),
                 "verdict": "PASS" if ok else "FAIL", "exit": m.exit_code}
            )  # fmt: skip
            print(_fmt(rows[-1]), file=sys.stderr)
    windows = []
    if not args.no_windows:
        hour = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day, 14) + timedelta(days=days - 1)
        span = [f"start={hour.isoformat()}Z", f"end={(hour + timedelta(hours=1)).isoformat()}Z"]
        for name in [a for a in WINDOWED if a in analyses]:
            for engine in engines:
                m = analysis(lake, name, engine, logs, span)
                windows.append({"analysis": name, "engine": engine, "window": "1h", "seconds": round(m.seconds, 2),
                                "peak_mib": m.peak_kib // 1024, "exit": m.exit_code})  # fmt: skip
                print(
                    f"  1h window {name:26} {engine:7} {m.seconds:7.2f} s {m.peak_kib // 1024:6} MiB", file=sys.stderr
                )
    start = [run([EDGELAKE, "sql", "SELECT 1", "--lake", str(lake)], logs / f"select1-{i}") for i in range(3)]
    select1 = sorted(m.seconds for m in start)[1]
    print(f"  edgelake sql 'SELECT 1': {select1:.2f} s (median of 3)", file=sys.stderr)
    result = {"lake": str(lake), "lines": args.lines * args.replicate, "days": days, "load_at_start": load,
              "load_at_end": os.getloadavg()[0], "rows": rows, "windows": windows, "select1_seconds": select1,
              "harness_peak_kib": own_peak_kib()}  # fmt: skip
    print(f"load average {load:.1f} at start, {result['load_at_end']:.1f} at end (2 cores)", file=sys.stderr)
    if args.json:
        print(json.dumps(result, indent=1))
    failed = [r for r in rows if r["verdict"] != "PASS"]
    return 1 if failed else 0


def _fmt(r: dict[str, object]) -> str:
    return (
        f"  {r['analysis']:26} {r['engine']:7} {r['seconds']:7.2f} s  {r['peak_mib']:6} MiB  "
        f"scan {r['scan_seconds']:.2f} s  x{r['ratio']:<5} limit {r['limit_seconds']:.2f} s  {r['verdict']}  "
        f"CPU {r['cpu_seconds']:.1f} s / scan {r['scan_cpu_seconds']:.1f} s = x{r['cpu_ratio']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
