"""Generate realistic CloudFront *legacy* standard logs for the ingest benchmark.

Owns the synthetic input: N lines split over K gzip files named like real deliveries
(`<DIST>.YYYY-MM-DD-HH.<id>.gz`), each opening with `#Version: 1.0` and the 33-field `#Fields:` line
(FORMATS.md §a.3). Values are sampled per line from the vocabularies in `_vocab.py` with vectorised Polars
expressions (no Python loop per line), so 2M lines take seconds. Output is deterministic for a given
`--seed`, `--lines`, `--files` and `--date`, independent of `--workers`.

Layout: `<out>/logs/*.gz` (the input to ingest, nothing else in it, like a real log prefix) and
`<out>/manifest.json` (parameters and counts). The directory is written as `<out>.partial` and renamed
when complete, so a crashed run never leaves something that looks like a finished data set.

    python bench/generate.py --lines 2000000 --files 8 --seed 1 --out bench/out/data/example
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import string
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import _lakeshape as shape
import _vocab as vocab
import isal.igzip
import polars as pl
from _draws import Draws, Weights, zipf_weights

GENERATOR_VERSION = 2  # bump when the output for a given seed changes; run.py keys its cache on it

FIELDS = (
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
)
HEADER = "#Version: 1.0\n#Fields: " + " ".join(FIELDS) + "\n"

# (distribution id, CloudFront domain, host headers the viewers send, share of lines logging cookies)
DISTRIBUTIONS = (
    ("E2QWRUHAPOMQZL", "d1k3x9q2w7e5r8.cloudfront.net", ("www.example.com", "example.com"), 0.0),
    ("E1KTQ8R9ZJ4MYB", "d3v8n2m6b4c1z0.cloudfront.net", ("media.example.net", "api.example.net"), 0.55),
)
IN_HOUR_SHARE = 0.93  # the rest of a file's lines are late arrivals from elsewhere in the day


@dataclass(frozen=True)
class FileSpec:
    name: str
    distribution: int
    hour: int
    lines: int
    seed: int
    date: str = ""  # the file's UTC day (the data set spans --days days from --date)
    day: int = 0  # days since --date


@dataclass(frozen=True)
class Vocab:
    uris: pl.DataFrame
    uri_weights: Weights
    user_agents: pl.Series
    user_agent_weights: Weights
    referers: pl.Series
    referer_weights: Weights
    queries: pl.Series
    query_weights: Weights
    cookies: pl.Series
    cookie_weights: Weights
    client_ips: pl.Series
    client_ip_weights: Weights
    scenarios: pl.DataFrame
    scenario_weights: Weights


def build_vocab(seed: int) -> Vocab:
    """All per-value tables, built once from `seed` with ordinary Python (they hold a few thousand rows)."""
    rng = Draws(seed).python()
    uris = vocab.build_uris(rng, 3000)
    queries = vocab.build_queries(rng, 240)
    rest = queries[1:]
    rng.shuffle(rest)
    user_agents = vocab.build_user_agents(rng, 500)
    referers = vocab.build_referers(rng, uris, 160)
    cookies = vocab.build_cookies(rng, 400)
    client_ips = vocab.build_client_ips(rng, 40_000)
    return Vocab(
        uris=pl.DataFrame(
            {
                "path": [u.path for u in uris],
                "content_type": [u.content_type for u in uris],
                "size": [u.size for u in uris],
                "kind": [u.kind for u in uris],
            },
            schema={"path": pl.String, "content_type": pl.String, "size": pl.Int64, "kind": pl.String},
        ),
        uri_weights=Weights.of(zipf_weights(len(uris), 0.9)),
        user_agents=pl.Series(user_agents),
        user_agent_weights=Weights.of(zipf_weights(len(user_agents), 0.9)),
        referers=pl.Series(referers),
        # `-` (no referer) carries about half of the weight
        referer_weights=Weights.of([900.0, *zipf_weights(len(referers) - 1, 0.8)]),
        queries=pl.Series([queries[0], *rest]),
        # `-` (no query) is by far the most common
        query_weights=Weights.of([300.0, *zipf_weights(len(queries) - 1, 0.5)]),
        cookies=pl.Series(cookies),
        cookie_weights=Weights.of(zipf_weights(len(cookies))),
        client_ips=pl.Series(client_ips),
        client_ip_weights=Weights.of(zipf_weights(len(client_ips), 0.7)),
        scenarios=pl.DataFrame([asdict(s) for s in vocab.SCENARIOS]),
        scenario_weights=Weights.of([s.weight for s in vocab.SCENARIOS]),
    )


def plan_files(lines: int, files: int, seed: int, date: str, days: int = 1) -> list[FileSpec]:
    """Names, distributions, days, hours and line counts of the files to write."""
    rng = Draws(seed ^ 0x5EED).python()
    first = datetime.date.fromisoformat(date)
    specs = []
    for index in range(files):
        dist = index % len(DISTRIBUTIONS)
        slot = (index * 24 * days) // files
        day, hour = divmod(slot, 24)
        when = (first + datetime.timedelta(days=day)).isoformat()
        uid = "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8))
        count = lines // files + (1 if index < lines % files else 0)
        name = f"{DISTRIBUTIONS[dist][0]}.{when}-{hour:02d}.{uid}.gz"
        specs.append(FileSpec(name, dist, hour, count, seed * 1_000_003 + index, when, day))
    return specs


def _pick(draws: Draws, n: int, values: pl.Series, weights: Weights | list[float]) -> pl.Series:
    return values.gather(draws.choice(n, weights))


def _fmt_seconds(ms: pl.Series) -> pl.Series:
    """Integer milliseconds -> `S.mmm`, the way CloudFront writes time-taken and time-to-first-byte."""
    return (ms // 1000).cast(pl.String) + "." + (ms % 1000).cast(pl.String).str.zfill(3)


def _const(value: str, n: int) -> pl.Series:
    return pl.repeat(value, n, eager=True, dtype=pl.String)


def _dash_unless(mask: pl.Series, values: pl.Series) -> pl.Series:
    return pl.select(pl.when(mask).then(values).otherwise(pl.lit("-"))).to_series()


def file_frame(spec: FileSpec, v: Vocab, date: str, paths: str = "vocab") -> pl.DataFrame:
    """The lines of one file as 33 string columns named after the `#Fields` header."""
    date = spec.date or date
    n = spec.lines
    d = Draws(spec.seed)
    dist_id, domain, host_headers, cookie_share = DISTRIBUTIONS[spec.distribution]
    del dist_id

    # When: mostly inside the file's hour, the rest anywhere in the day; never in order.
    in_hour = d.uniform(n) < IN_HOUR_SHARE
    seconds = pl.select(
        pl.when(in_hour).then(spec.hour * 3600 + d.integers(n, 0, 3600)).otherwise(d.integers(n, 0, 86_400))
    ).to_series()
    clock = (
        (seconds // 3600).cast(pl.String).str.zfill(2)
        + ":"
        + (seconds % 3600 // 60).cast(pl.String).str.zfill(2)
        + ":"
        + (seconds % 60).cast(pl.String).str.zfill(2)
    )

    uri = v.uris[d.choice(n, v.uri_weights)]
    kind = uri["kind"]
    scenario_idx = d.choice(n, v.scenario_weights)
    # Scanner junk is never found; a partial response only makes sense for media.
    scenario_idx = pl.select(
        pl.when(kind == "junk")
        .then(pl.lit(vocab.NOT_FOUND_SCENARIO, dtype=pl.UInt32))
        .when((v.scenarios["body"].gather(scenario_idx) == "range") & (kind != "media"))
        .then(pl.lit(0, dtype=pl.UInt32))
        .otherwise(scenario_idx)
    ).to_series()
    sc = v.scenarios[scenario_idx]
    body = sc["body"]

    size = uri["size"]
    range_len = pl.select(pl.min_horizontal(size, d.integers(n, 65_536, 2_097_152))).to_series()
    range_start = (d.uniform(n) * (size - range_len + 1).cast(pl.Float64)).cast(pl.Int64)
    range_end = range_start + range_len - 1
    content_len = pl.select(
        pl.when(body == "full")
        .then(size)
        .when(body == "range")
        .then(range_len)
        .when(body == "redirect")
        .then(pl.lit(167))
        .when(body == "small")
        .then(d.integers(n, 0, 400))
        .when(body == "error")
        .then(d.integers(n, 300, 2_200))
        .otherwise(pl.lit(None, dtype=pl.Int64))
    ).to_series()
    content_type = pl.select(
        pl.when(body.is_in(["full", "range"]))
        .then(uri["content_type"])
        .when(body.is_in(["redirect", "error"]))
        .then(pl.lit("text/html"))
        .when(body == "small")
        .then(pl.lit("text/html; charset=utf-8"))
        .otherwise(pl.lit("-"))
    ).to_series()
    status = sc["status"]
    header_bytes = d.integers(n, 260, 720)
    sc_bytes = pl.select(
        pl.when(status == "000").then(pl.lit(0)).otherwise(header_bytes + content_len.fill_null(0))
    ).to_series()

    api_method = _pick(d, n, pl.Series([m for m, _ in vocab.API_METHODS]), [w for _, w in vocab.API_METHODS])
    other_method = _pick(d, n, pl.Series([m for m, _ in vocab.OTHER_METHODS]), [w for _, w in vocab.OTHER_METHODS])
    method = pl.select(pl.when(kind == "api").then(api_method).otherwise(other_method)).to_series()
    body_bytes = pl.select(
        pl.when(method.is_in(["POST", "PUT", "PATCH"])).then(d.integers(n, 80, 24_000)).otherwise(0)
    ).to_series()
    cs_bytes = d.integers(n, 140, 1_100) + body_bytes

    # Redirects answer plain HTTP; a sliver of other traffic is plain HTTP too (no TLS fields then).
    plain_http = (body == "redirect") | (d.uniform(n) < 0.004)
    tls_idx = d.choice(n, [w for _, _, w in vocab.TLS])
    ssl_protocol = _dash_unless(~plain_http, pl.Series([p for p, _, _ in vocab.TLS]).gather(tls_idx))
    ssl_cipher = _dash_unless(~plain_http, pl.Series([c for _, c, _ in vocab.TLS]).gather(tls_idx))
    protocol = pl.select(pl.when(plain_http).then(pl.lit("http")).otherwise(pl.lit("https"))).to_series()

    # Latency: log-normal around the scenario's median, bigger objects take longer to send.
    size_ms = (content_len.fill_null(0) / 400_000.0).cast(pl.Float64)
    jitter = (d.normal(n) * 0.8).exp()
    taken_ms = (sc["median_ms"].cast(pl.Float64) * jitter + size_ms).round(0).cast(pl.Int64).clip(1, 180_000)
    ttfb_ms = (taken_ms.cast(pl.Float64) * (0.2 + 0.8 * d.uniform(n))).round(0).cast(pl.Int64)

    ip_weights = v.client_ip_weights
    xff_kind = d.choice(n, [96, 3, 1])
    xff_a = _pick(d, n, v.client_ips, ip_weights)
    xff_b = _pick(d, n, v.client_ips, ip_weights)
    xff = pl.select(
        pl.when(xff_kind == 0).then(pl.lit("-")).when(xff_kind == 1).then(xff_a).otherwise(xff_a + "," + xff_b)
    ).to_series()

    query = _pick(d, n, v.queries, v.query_weights)
    cache_buster = d.uniform(n) < 0.03
    busted = "t=" + (1_741_910_400_000 + seconds * 1000 + d.integers(n, 0, 1000)).cast(pl.String)
    query = pl.select(pl.when(cache_buster).then(busted).otherwise(query)).to_series()

    cookie = _dash_unless(d.uniform(n) < cookie_share, _pick(d, n, v.cookies, v.cookie_weights))
    referer = _pick(d, n, v.referers, v.referer_weights)
    ua_choice = _pick(d, n, v.user_agents, v.user_agent_weights)
    user_agent = _dash_unless(d.uniform(n) >= 0.004, ua_choice)
    host_header = _pick(d, n, pl.Series(host_headers), [85, 15])
    edge = _pick(d, n, pl.Series(vocab.EDGE_LOCATIONS), zipf_weights(len(vocab.EDGE_LOCATIONS), 0.6))
    proto_version = _pick(
        d, n, pl.Series([p for p, _ in vocab.PROTOCOL_VERSIONS]), [w for _, w in vocab.PROTOCOL_VERSIONS]
    )

    def dash(s: pl.Series) -> pl.Series:
        return s.cast(pl.String).fill_null("-")

    is_range = body == "range"
    columns = [
        _const(date, n),
        clock,
        edge,
        dash(sc_bytes),
        _pick(d, n, v.client_ips, ip_weights),
        method,
        _const(domain, n),
        uri["path"]
        if paths == "vocab"
        else shape.high_cardinality_paths(uri["path"], Draws(spec.seed ^ 0xBA7), spec.day, seconds),
        status,
        referer,
        user_agent,
        query,
        cookie,
        sc["result"],
        d.request_ids(n),
        host_header,
        protocol,
        dash(cs_bytes),
        _fmt_seconds(taken_ms),
        xff,
        ssl_protocol,
        ssl_cipher,
        sc["response_result"],
        proto_version,
        _const("-", n),
        _const("-", n),
        dash(d.integers(n, 1024, 65_536)),
        _fmt_seconds(ttfb_ms),
        sc["detailed"],
        content_type,
        dash(content_len),
        _dash_unless(is_range, dash(range_start)),
        _dash_unless(is_range, dash(range_end)),
    ]
    return pl.DataFrame({name: col.alias(name) for name, col in zip(FIELDS, columns, strict=True)})


@dataclass(frozen=True)
class Extras:
    """What the analyses benchmark asks for on top of the ingest benchmark's logs (see _lakeshape.py)."""

    paths: str = "vocab"  # vocab: the vocabulary's ~3,000 paths; high: ids, tokens, hashes in paths
    waf: bool = False  # also write one WAF record per line under <out>/waf/


def write_file(spec: FileSpec, v: Vocab, date: str, directory: Path, extras: Extras = Extras()) -> int:
    """Write one gzip log file (and its WAF records when asked); returns the log's size in bytes."""
    frame = file_frame(spec, v, date, extras.paths)
    path = directory / spec.name
    with isal.igzip.open(path, "wb", compresslevel=2) as gz:  # type: ignore[no-untyped-call]
        gz.write(HEADER.encode())
        frame.write_csv(gz, include_header=False, separator="\t", quote_style="never")
    if extras.waf:
        day = datetime.date.fromisoformat(spec.date or date)
        day_ms = int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp()) * 1000
        lines = shape.waf_lines(frame, Draws(spec.seed ^ 0x3AF), day_ms)
        waf_path = (
            directory.parent / "waf" / f"{shape.ACCOUNT}_waflogs_cloudfront_{spec.name.removesuffix('.gz')}.log.gz"
        )
        with isal.igzip.open(waf_path, "wb", compresslevel=2) as gz:  # type: ignore[no-untyped-call]
            lines.to_frame().write_csv(gz, include_header=False, quote_style="never")
    return path.stat().st_size


_WORKER_STATE: dict[str, object] = {}


def _worker_init(seed: int, date: str, directory: str, extras: Extras) -> None:
    _WORKER_STATE.update(vocab=build_vocab(seed), date=date, directory=Path(directory), extras=extras)


def _worker_write(spec: FileSpec) -> int:
    v, extras = _WORKER_STATE["vocab"], _WORKER_STATE["extras"]
    assert isinstance(v, Vocab) and isinstance(extras, Extras)
    return write_file(spec, v, str(_WORKER_STATE["date"]), Path(str(_WORKER_STATE["directory"])), extras)


def generate(
    out: Path,
    *,
    lines: int,
    files: int,
    seed: int,
    date: str,
    workers: int,
    days: int = 1,
    extras: Extras = Extras(),
    configs: bool = False,
) -> dict[str, object]:
    """Write the data set to `out` (atomically, via `<out>.partial`) and return its manifest."""
    if lines < files or files < 1:
        raise SystemExit(f"need at least one line per file (got --lines {lines} --files {files})")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    logs = partial / "logs"
    logs.mkdir(parents=True)
    if extras.waf:
        (partial / "waf").mkdir()
    if configs:
        shape.write_configs(partial / "configs", {d[0]: (d[1], d[2]) for d in DISTRIBUTIONS})
    specs = plan_files(lines, files, seed, date, days)
    started = time.perf_counter()
    if workers > 1 and files > 1:
        init = (seed, date, str(logs), extras)
        with ProcessPoolExecutor(workers, initializer=_worker_init, initargs=init) as pool:
            sizes = list(pool.map(_worker_write, specs))
    else:
        v = build_vocab(seed)
        sizes = [write_file(spec, v, date, logs, extras) for spec in specs]
    manifest: dict[str, object] = {
        "generator_version": GENERATOR_VERSION,
        "format": "cloudfront-legacy-standard",
        "lines": lines,
        "files": files,
        "seed": seed,
        "date": date,
        "days": days,
        "paths": extras.paths,
        "waf": extras.waf,
        "configs": configs,
        "compressed_bytes": sum(sizes),
        "seconds": round(time.perf_counter() - started, 2),
        "file_list": [{"name": s.name, "lines": s.lines, "bytes": b} for s, b in zip(specs, sizes, strict=True)],
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2_000_000, help="total log lines (default 2,000,000)")
    parser.add_argument("--files", type=int, default=8, help="number of .gz files (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--date", default="2025-03-14", help="UTC day of the logs, YYYY-MM-DD")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes writing files (default 1: Polars already uses all cores)",
    )
    parser.add_argument("--days", type=int, default=1, help="days the files spread over from --date (default 1)")
    parser.add_argument(
        "--paths",
        choices=("vocab", "high"),
        default="vocab",
        help="vocab: ~3,000 distinct paths (default); high: ids, tokens and hashes in paths, millions distinct",
    )
    parser.add_argument("--waf", action="store_true", help="also write one WAF record per line under <out>/waf/")
    parser.add_argument(
        "--configs", action="store_true", help="also write the distributions' and web ACL's configs to <out>/configs/"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (replaced if present)")
    args = parser.parse_args(argv)
    manifest = generate(
        args.out,
        lines=args.lines,
        files=args.files,
        seed=args.seed,
        date=args.date,
        workers=args.workers,
        days=args.days,
        extras=Extras(args.paths, args.waf),
        configs=args.configs,
    )
    print(
        f"wrote {manifest['lines']:,} lines in {manifest['files']} files "
        f"({int(str(manifest['compressed_bytes'])) / 2**20:.1f} MiB gzip) to {args.out} "
        f"in {manifest['seconds']} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
