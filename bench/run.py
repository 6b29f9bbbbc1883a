"""Ingest benchmark: edgelake against a naive Polars and a naive DuckDB "logs to Parquet".

Owns the orchestration: make (or reuse) the synthetic CloudFront legacy data set, run every contender in
its own process `--runs` times on a warm page cache (each round runs every contender once, in turn), check
what each wrote, and report median wall time, lines per second and peak RSS, plus ours-vs-naive ratios
(of the medians, and the median of the ratios within each round). `--scale` also runs ours on 10x the
input (10x the lines in 10x the files) and checks its peak RSS stays within 20% of the 1x run.

This file deliberately imports nothing heavy: the kernel charges a child with the harness's own memory
high-water mark (see `_measure.py`), so data generation and output inspection run in subprocesses too.

    .venv/bin/python bench/run.py                       # 2M lines, 8 files, 3 runs each
    .venv/bin/python bench/run.py --lines 200000 --only naive-polars,naive-duckdb
    .venv/bin/python bench/run.py --scale --json > bench/out/results.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from _measure import measure, own_peak_kib

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
OURS = "edgelake"
DEFAULT_OURS_CMD = ".venv/bin/edgelake ingest {input} --lake {lake} --source cloudfront --json"
NAIVE = {
    "naive-polars": "{python} {bench}/naive_polars.py {input} {lake}",
    "naive-duckdb": "{python} {bench}/naive_duckdb.py {input} {lake}",
}
SCALE_FACTOR = 10
SCALE_TOLERANCE = 0.20


@dataclass
class Result:
    name: str
    command: list[str]
    lines: int
    table: str | None = None  # the output table holding the rows; None: every Parquet file counts
    status: str = "ok"  # ok | failed | unavailable | mismatch
    note: str = ""
    runs: list[dict[str, object]] = field(default_factory=list)
    median_seconds: float | None = None
    median_cpu_seconds: float | None = None
    lines_per_second: float | None = None
    peak_rss_mib: float | None = None
    output: dict[str, object] | None = None
    reported: object = None  # the contender's own JSON on stdout, if it printed any


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _generator_version() -> int:
    match = re.search(r"^GENERATOR_VERSION = (\d+)", (BENCH / "generate.py").read_text(), re.MULTILINE)
    return int(match.group(1)) if match else 0


def ensure_data(lines: int, files: int, seed: int) -> Path:
    """The input directory (only `.gz` logs) of the cached data set, generated in a subprocess if missing."""
    directory = OUT / "data" / f"cf-legacy-{lines}l-{files}f-seed{seed}-g{_generator_version()}"
    manifest = directory / "manifest.json"
    if manifest.exists():
        meta = json.loads(manifest.read_text())
        if (meta.get("lines"), meta.get("files"), meta.get("seed")) == (lines, files, seed):
            _log(f"using cached data set {directory.relative_to(ROOT)}")
            return directory / "logs"
    _log(f"generating {lines:,} lines in {files} files ...")
    cmd = [
        _python(),
        str(BENCH / "generate.py"),
        "--lines",
        str(lines),
        "--files",
        str(files),
        "--seed",
        str(seed),
        "--out",
        str(directory),
    ]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return directory / "logs"


def warm_cache(directory: Path) -> None:
    """Read the inputs once so every contender (and every run) starts from the same warm page cache."""
    for path in directory.glob("*.gz"):
        with path.open("rb") as fh:
            while fh.read(1 << 20):
                pass


def build_command(template: str, *, input_dir: Path, lake: Path) -> list[str]:
    values = {"input": str(input_dir), "lake": str(lake), "python": _python(), "bench": str(BENCH)}
    return [part.format(**values) for part in shlex.split(template)]


def _available(command: list[str]) -> str:
    """Empty if the program can be started, else why not."""
    program = command[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else ROOT / program
        return "" if path.exists() else f"{program} does not exist (is the CLI installed in the venv?)"
    return "" if shutil.which(program) else f"{program} is not on PATH"


def inspect_output(directory: Path) -> dict[str, object] | None:
    proc = subprocess.run(
        [_python(), str(BENCH / "inspect_output.py"), str(directory)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-500:]}
    parsed: dict[str, object] = json.loads(proc.stdout)
    return parsed


def _parse_json(text: str) -> object:
    text = text.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:  # some tools print one JSON document per line; keep the last one
            return json.loads(text.splitlines()[-1])
        except json.JSONDecodeError:
            return None


def prepare_contender(name: str, template: str, lines: int, args: argparse.Namespace) -> Result:
    probe = build_command(template, input_dir=Path("INPUT"), lake=Path("LAKE"))
    table = (args.ours_table or None) if name == OURS else None
    result = Result(name=name, command=probe, lines=lines, table=table)
    why = _available(probe)
    if why:
        result.status, result.note = "unavailable", why
        _log(f"{name}: skipped: {why}")
    return result


def run_once(result: Result, template: str, data: Path, index: int, runs: int, args: argparse.Namespace) -> None:
    """One run of one contender into a fresh lake; the first run's output is checked."""
    runs_dir = OUT / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{result.name}-", dir=runs_dir))
    lake = scratch / "lake"  # does not exist yet: a fresh lake for every run
    command = build_command(template, input_dir=data, lake=lake)
    m = measure(command, cwd=ROOT, log_dir=scratch / "logs", timeout=args.timeout)
    run: dict[str, object] = {
        "round": index + 1,
        "seconds": round(m.seconds, 3),
        "cpu_seconds": round(m.cpu_seconds, 3),
        "peak_rss_mib": round(m.peak_kib / 1024, 1),
        "wait4_peak_rss_mib": round(m.wait4_peak_kib / 1024, 1),
        "tree_polled_peak_rss_mib": round(m.tree_peak_kib / 1024, 1),
        "exit_code": m.exit_code,
    }
    result.runs.append(run)
    _log(
        f"{result.name} run {index + 1}/{runs}: {m.seconds:.2f} s ({m.cpu_seconds:.1f} s CPU), "
        f"peak RSS {m.peak_kib / 1024:.0f} MiB, exit {m.exit_code}"
    )
    if m.exit_code != 0 or m.timed_out:
        result.status = "failed"
        result.note = ("timed out; " if m.timed_out else f"exit code {m.exit_code}; ") + _last_line(m.stderr)
        _log(f"{result.name} failed; last stderr:\n{m.stderr[-3000:]}")
    elif index == 0:
        result.output = inspect_output(lake)
        result.reported = _parse_json(m.stdout)
        _check_output(result)
    if not args.keep_output:
        shutil.rmtree(scratch, ignore_errors=True)


def summarise(result: Result) -> None:
    ok = [r for r in result.runs if r["exit_code"] == 0]
    if ok and result.status != "failed":
        result.median_seconds = round(statistics.median(float(r["seconds"]) for r in ok), 3)  # type: ignore[arg-type]
        result.median_cpu_seconds = round(statistics.median(float(r["cpu_seconds"]) for r in ok), 3)  # type: ignore[arg-type]
        result.lines_per_second = round(result.lines / result.median_seconds) if result.median_seconds else None
        result.peak_rss_mib = max(float(r["peak_rss_mib"]) for r in ok)  # type: ignore[arg-type]


def run_contenders(
    selected: list[str], contenders: dict[str, str], data: Path, args: argparse.Namespace
) -> list[Result]:
    """Run every contender once per round, in turn, so that a slow spell of a shared machine hits all of
    them rather than whichever happened to be running."""
    results = {name: prepare_contender(name, contenders[name], args.lines, args) for name in selected}
    for index in range(args.runs):
        for name in selected:
            if results[name].status == "ok":
                run_once(results[name], contenders[name], data, index, args.runs, args)
    for result in results.values():
        summarise(result)
    return list(results.values())


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(no stderr)"


def _check_output(result: Result) -> None:
    """Every input line must be in the output, as a row or (for ours) as a reject."""
    out = result.output or {}
    if "error" in out:
        result.status, result.note = "mismatch", f"output unreadable: {out['error']}"
        return
    tables = out.get("tables")
    assert isinstance(tables, dict)
    counts = {str(name): int(n) for name, n in tables.items()}
    rejects = sum(n for name, n in counts.items() if "reject" in name.lower())
    if result.table is None:
        rows = sum(n for name, n in counts.items() if "reject" not in name.lower())
    elif result.table in counts:
        rows = counts[result.table]
    else:
        result.status = "mismatch"
        result.note = f"no table {result.table!r} in the output (found: {', '.join(counts) or 'nothing'})"
        return
    out["rows"], out["reject_rows"] = rows, rejects
    if rows + rejects != result.lines:
        result.status = "mismatch"
        result.note = f"output has {rows:,} rows + {rejects:,} rejects for {result.lines:,} input lines"


def ratios(results: list[Result]) -> list[dict[str, object]]:
    """Ours against each naive contender; only between runs that completed and passed the output check."""
    ours = next((r for r in results if r.name == OURS and r.status == "ok"), None)
    if ours is None or ours.median_seconds is None or ours.peak_rss_mib is None:
        return []
    out = []
    for other in results:
        seconds, rss = other.median_seconds, other.peak_rss_mib
        if other is ours or other.status != "ok" or seconds is None or rss is None:
            continue
        theirs = {r["round"]: float(r["seconds"]) for r in other.runs if r["exit_code"] == 0}  # type: ignore[arg-type]
        paired = [
            theirs[r["round"]] / float(r["seconds"])
            for r in ours.runs  # type: ignore[arg-type]
            if r["exit_code"] == 0 and r["round"] in theirs
        ]
        out.append(
            {
                "versus": other.name,
                "speedup": round(seconds / ours.median_seconds, 2),  # >1: ours is faster
                # the same ratio taken within each round, then the median: steadier on a busy machine
                "paired_speedup": round(statistics.median(paired), 2) if paired else None,
                "rss_ratio": round(ours.peak_rss_mib / rss, 2),  # <1: ours uses less memory
            }
        )
    return out


def render_table(
    results: list[Result], ratio_rows: list[dict[str, object]], scale: dict[str, object] | None, runs: int
) -> str:
    header = (
        f"{'contender':<14} {'lines':>11} {'median s':>9} {'lines/s':>11} {'CPU s':>7} {'peak RSS MiB':>13}  status"
    )
    rows = [header, "-" * len(header)]
    for r in results:
        secs = f"{r.median_seconds:.2f}" if r.median_seconds is not None else "-"
        lps = f"{r.lines_per_second:,.0f}" if r.lines_per_second else "-"
        rss = f"{r.peak_rss_mib:,.0f}" if r.peak_rss_mib is not None else "-"
        status = r.status + (f": {r.note}" if r.note else "")
        cpu = f"{r.median_cpu_seconds:.1f}" if r.median_cpu_seconds is not None else "-"
        rows.append(f"{r.name:<14} {r.lines:>11,} {secs:>9} {lps:>11} {cpu:>7} {rss:>13}  {status}")
    rows.append(f"(median of {runs} runs; CPU = user + system; peak RSS is the largest over the runs)")
    for ratio in ratio_rows:
        rows.append(
            f"{OURS} vs {ratio['versus']}: {ratio['speedup']}x the speed (median of per-round ratios "
            f"{ratio['paired_speedup']}x), {ratio['rss_ratio']}x the peak memory"
        )
    if scale:
        rows.append(
            f"scale check: {scale['lines']:,} lines -> peak RSS {scale['peak_rss_mib']} MiB vs "
            f"{scale['baseline_peak_rss_mib']} MiB at 1x ({scale['ratio']}x): {scale['verdict']}"
        )
    return "\n".join(rows)


def scale_check(template: str, base: Result, args: argparse.Namespace) -> dict[str, object]:
    lines, files = args.lines * SCALE_FACTOR, args.files * SCALE_FACTOR
    data = ensure_data(lines, files, args.seed)
    warm_cache(data)
    big = prepare_contender(OURS, template, lines, args)
    if big.status == "ok":
        run_once(big, template, data, 0, 1, args)
    summarise(big)
    check: dict[str, object] = {
        "lines": lines,
        "files": files,
        "baseline_peak_rss_mib": base.peak_rss_mib,
        "peak_rss_mib": big.peak_rss_mib,
        "seconds": big.median_seconds,
        "status": big.status,
        "note": big.note,
    }
    if big.peak_rss_mib is None or not base.peak_rss_mib:
        check.update(ratio=None, verdict=f"not measured ({big.status})")
    else:
        ratio = big.peak_rss_mib / base.peak_rss_mib
        check.update(
            ratio=round(ratio, 2),
            verdict="PASS" if ratio <= 1 + SCALE_TOLERANCE else "FAIL (memory grows with input)",
        )
    return check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark edgelake ingest against naive Polars and DuckDB.")
    parser.add_argument("--lines", type=int, default=2_000_000, help="input lines (default 2,000,000)")
    parser.add_argument("--files", type=int, default=8, help="input .gz files (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="data generator seed (default 1)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender; the median is reported")
    parser.add_argument("--only", default="", help=f"comma list of contenders: {OURS},{','.join(NAIVE)}")
    parser.add_argument(
        "--scale",
        action="store_true",
        help=f"also run {OURS} on {SCALE_FACTOR}x the input; peak RSS must stay within 20%%",
    )
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout (table on stderr)")
    parser.add_argument(
        "--ours-cmd",
        default=DEFAULT_OURS_CMD,
        help="command for our contender; {input} {lake} {python} {bench} are substituted "
        f"(default: {DEFAULT_OURS_CMD!r})",
    )
    parser.add_argument(
        "--ours-table",
        default="cloudfront",
        help='lake table whose rows must equal the input lines ("" = count every Parquet file)',
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a run is killed")
    parser.add_argument("--keep-output", action="store_true", help="keep each run's output under bench/out/runs")
    args = parser.parse_args(argv)

    contenders = {OURS: args.ours_cmd, **NAIVE}
    aliases = {"ours": OURS, "polars": "naive-polars", "duckdb": "naive-duckdb"}
    wanted = [c.strip() for c in args.only.split(",") if c.strip()]
    selected = [aliases.get(c, c) for c in wanted] or list(contenders)
    unknown = [c for c in selected if c not in contenders]
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(contenders)}")
    if args.scale and OURS not in selected:
        parser.error(f"--scale measures {OURS}; do not leave it out with --only")

    data = ensure_data(args.lines, args.files, args.seed)
    warm_cache(data)
    load_before = os.getloadavg()[0]
    results = run_contenders(selected, contenders, data, args)
    ratio_rows = ratios(results)
    scale = None
    ours = next((r for r in results if r.name == OURS), None)
    if args.scale and ours is not None and ours.status == "ok":
        scale = scale_check(args.ours_cmd, ours, args)
    elif args.scale:
        scale = {
            "lines": args.lines * SCALE_FACTOR,
            "peak_rss_mib": None,
            "baseline_peak_rss_mib": None,
            "ratio": None,
            "verdict": f"skipped ({OURS} did not complete the 1x run)",
        }

    harness_mib = round(own_peak_kib() / 1024, 1)
    cores = os.cpu_count() or 1
    load_after = os.getloadavg()[0]
    load = {"before": round(load_before, 2), "after": round(load_after, 2), "cores": cores}
    table = render_table(results, ratio_rows, scale, args.runs)
    table += f"\nharness peak RSS {harness_mib} MiB (a floor under every child's wait4 figure)"
    table += f"\n1-minute load average {load_before:.2f} before, {load_after:.2f} after, on {cores} cores"
    # The benchmark itself keeps about one core busy; more than that means something else is running.
    if max(load_before, load_after) > 0.5 * cores + 1:
        table += " (a busy machine: wall times are noisy, CPU seconds less so)"
    if args.json:
        print(table, file=sys.stderr)
        payload = {
            "lines": args.lines,
            "files": args.files,
            "seed": args.seed,
            "runs": args.runs,
            "data": str(data.relative_to(ROOT)),
            "results": [asdict(r) for r in results],
            "ratios": ratio_rows,
            "load_average": load,
            "scale": scale,
            "harness_peak_rss_mib": harness_mib,
        }
        print(json.dumps(payload, indent=2))
    else:
        print(table)
    failed = any(r.status in ("failed", "mismatch") for r in results)
    scale_failed = bool(scale and str(scale.get("verdict", "")).startswith("FAIL"))
    return 1 if failed or scale_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
