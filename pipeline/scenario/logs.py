"""Write the scenario's requests as AWS delivers them: legacy standard logs, real-time logs, WAF logs.

Owns the byte-level formats and object layouts:

* CloudFront legacy standard logs (33 fields, ``#Version``/``#Fields`` header, tab-separated, ``-``
  for empty, values percent-encoded as CloudFront does), one or two gzip objects per hour named
  ``<dist>.YYYY-MM-DD-HH.<id>.gz``, lines shuffled, and about 1% of each hour's lines delivered late
  in the next hour's object;
* real-time records (the ``/video/*`` behavior only, sampling 100%) in CloudFront's canonical field
  order, in Firehose objects ``YYYY/MM/dd/HH/<stream>-1-YYYY-MM-dd-HH-mm-ss-<uuid>.gz``;
* one WAF JSON record per request, in 5-minute objects under
  ``AWSLogs/<account>/WAFLogs/cloudfront/<acl>/YYYY/MM/dd/HH/mm/``.

Everything random comes from the scenario's one ``random.Random`` and gzip headers carry no time, so
a seed always produces the same bytes.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import isal.igzip

from pipeline.scenario import waf
from pipeline.scenario.traffic import HOUR_MS, Request
from pipeline.scenario.world import ACCOUNT, ALIAS, MAIN, REALTIME_NAME, VIDEO, Site

CF_FIELDS = (
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
CF_HEADER = "#Version: 1.0\n#Fields: " + " ".join(CF_FIELDS) + "\n"
# The real-time fields this scenario's config selects, in CloudFront's canonical delivery order.
RT_FIELDS = (
    "timestamp",
    "c-ip",
    "time-to-first-byte",
    "sc-status",
    "sc-bytes",
    "cs-method",
    "cs-protocol",
    "cs-host",
    "cs-uri-stem",
    "cs-bytes",
    "x-edge-location",
    "x-edge-request-id",
    "x-host-header",
    "time-taken",
    "cs-protocol-version",
    "c-ip-version",
    "cs-user-agent",
    "cs-referer",
    "cs-cookie",
    "cs-uri-query",
    "x-edge-response-result-type",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-result-type",
    "fle-encrypted-fields",
    "fle-status",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
    "c-port",
    "x-edge-detailed-result-type",
    "c-country",
    "cs-accept-encoding",
    "cs-accept",
    "cache-behavior-path-pattern",
    "cs-headers",
    "cs-header-names",
    "cs-headers-count",
    "origin-fbl",
    "origin-lbl",
    "asn",
)
LATE_SHARE = 0.01
FIREHOSE_BUFFER_MS = 900_000
WAF_PUBLISH_MS = 300_000  # AWS WAF publishes log objects to S3 every 5 minutes
_ESCAPED = frozenset(b"<>\"#%{}|\\^~[]`' ")


@functools.lru_cache(maxsize=400_000)
def aws_encode(value: str) -> str:
    """A log field as CloudFront writes it: ``-`` when empty; bytes 0-32, >= 127 and a few specials as %XX."""
    if not value:
        return "-"
    raw = value.encode()
    if all(32 < b < 127 and b not in _ESCAPED for b in raw):
        return value
    return "".join(f"%{b:02X}" if b <= 32 or b >= 127 or b in _ESCAPED else chr(b) for b in raw)


def _secs(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


@functools.lru_cache(maxsize=86_400)
def _clock(second_of_day: int) -> str:
    h, rest = divmod(second_of_day, 3600)
    return f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _gz(text: str) -> bytes:
    return isal.igzip.compress(text.encode(), 1, mtime=0)


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def cf_line(req: Request, day: str, day_start_ms: int, site: Site = MAIN) -> str:
    c = req.client
    tls = req.protocol == "https"
    lo, hi = req.byte_range if req.byte_range else ("-", "-")
    taken, ttfb = req.taken_ms, req.ttfb_ms
    return (
        f"{day}\t{_clock((req.t_ms - day_start_ms) // 1000)}\t{c.pop}\t{req.sc_bytes}\t{c.ip}\t{req.method}\t"
        f"{site.domain}\t{aws_encode(req.path)}\t{req.status}\t{aws_encode(req.referer)}\t{aws_encode(req.ua)}\t"
        f"{aws_encode(req.query)}\t-\t{req.result}\t{req.request_id}\t{site.alias}\t{req.protocol}\t"
        f"{req.hdr_in + req.body}\t{taken // 1000}.{taken % 1000:03d}\t{c.xff or '-'}\t"
        f"{c.tls_protocol if tls else '-'}\t{c.tls_cipher if tls else '-'}\t{req.response_result}\t"
        f"{req.http_version}\t-\t-\t{req.port}\t{ttfb // 1000}.{ttfb % 1000:03d}\t{req.detailed}\t"
        f"{req.content_type or '-'}\t{req.content_len if req.content_len >= 0 else '-'}\t{lo}\t{hi}"
    )


def write_cloudfront(
    root: Path, requests: list[Request], rng: random.Random, day_start_ms: int, site: Site = MAIN
) -> tuple[dict[str, int], int]:
    """Hourly objects (one or two per hour; late lines in the next hour's).

    Returns the lines per object name and how many lines were delivered late.
    """
    day = _utc(day_start_ms).strftime("%Y-%m-%d")
    by_hour: dict[int, list[str]] = defaultdict(list)
    late = 0
    for req in requests:
        hour = (req.t_ms - day_start_ms) // HOUR_MS
        if rng.random() < LATE_SHARE:
            hour += 1
            late += 1
        by_hour[hour].append(cf_line(req, day, day_start_ms, site))
    out: dict[str, int] = {}
    root.mkdir(parents=True, exist_ok=True)
    for hour in sorted(by_hour):
        lines = by_hour[hour]
        rng.shuffle(lines)
        parts = 2 if len(lines) > 200 and rng.random() < 0.6 else 1
        cut = len(lines) * rng.randrange(30, 70) // 100 if parts == 2 else len(lines)
        stamp = _utc(day_start_ms + hour * HOUR_MS).strftime("%Y-%m-%d-%H")
        for chunk in (lines[:cut], lines[cut:]):
            if not chunk:
                continue
            ident = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(8))
            path = root / f"{site.distribution_id}.{stamp}.{ident}.gz"
            path.write_bytes(_gz(CF_HEADER + "\n".join(chunk) + "\n"))
            out[path.name] = len(chunk)
    return out, late


def _origin_latency(req: Request) -> tuple[str, str]:
    """origin-fbl / origin-lbl: only when this request went to the origin."""
    if (
        req.detailed == "Miss"
        or (req.result == "Error" and req.detailed.startswith("Origin"))
        or (req.status == 429 and req.result == "Error")
    ):
        return _secs(req.ttfb_ms * 85 // 100), _secs(req.taken_ms * 95 // 100)
    return "-", "-"


def rt_line(req: Request) -> str:
    c = req.client
    tls = req.protocol == "https"
    headers = [("Host", ALIAS), ("User-Agent", req.ua), ("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate, br")]
    if req.byte_range:
        headers.append(("Range", f"bytes={req.byte_range[0]}-{req.byte_range[1]}"))
    if req.referer:
        headers.append(("Referer", req.referer))
    shown, size = [], 0
    for name, value in headers:  # CloudFront drops whole headers past 800 bytes
        enc = aws_encode(f"{name}:{value}")
        if size + len(enc) + 3 > 800:
            break
        shown.append(enc)
        size += len(enc) + 3
    lo, hi = req.byte_range if req.byte_range else (None, None)
    fbl, lbl = _origin_latency(req)
    uri = aws_encode(req.path) + ("?" + aws_encode(req.query) if req.query else "")
    return "\t".join(
        (
            _secs(req.t_ms),
            c.ip,
            _secs(req.ttfb_ms),
            str(req.status),
            str(req.sc_bytes),
            req.method,
            req.protocol,
            ALIAS,
            uri,
            str(req.hdr_in + req.body),
            c.pop,
            req.request_id,
            ALIAS,
            _secs(req.taken_ms),
            req.http_version,
            c.ip_version,
            aws_encode(req.ua),
            aws_encode(req.referer),
            "-",
            aws_encode(req.query),
            req.response_result,
            c.xff or "-",
            c.tls_protocol if tls else "-",
            c.tls_cipher if tls else "-",
            req.result,
            "-",
            "-",
            req.content_type or "-",
            str(req.content_len) if req.content_len >= 0 else "-",
            "-" if lo is None else str(lo),
            "-" if hi is None else str(hi),
            str(req.port),
            req.detailed,
            c.country,
            "gzip,%20deflate,%20br",
            "*/*",
            req.behavior.pattern,
            "%0A".join(shown),
            "%0A".join(n for n, _ in headers),
            str(len(headers)),
            fbl,
            lbl,
            str(c.asn),
        )
    )


def write_realtime(root: Path, requests: list[Request], rng: random.Random, day_start_ms: int) -> dict[str, int]:
    """Firehose objects of the ``/video/*`` real-time records. Returns records per object.

    The delivery stream buffers for 900 s (Firehose's longest interval), so one object per 15 minutes.
    """
    buckets: dict[int, list[Request]] = defaultdict(list)
    for req in requests:
        if req.behavior is VIDEO:
            buckets[(req.t_ms - day_start_ms) // FIREHOSE_BUFFER_MS].append(req)
    out: dict[str, int] = {}
    for key in sorted(buckets):
        reqs = sorted(buckets[key], key=lambda r: (r.t_ms, r.request_id))
        arrived = _utc(reqs[0].t_ms + 2_000)  # Firehose names the object after its oldest record's arrival
        name = f"{REALTIME_NAME}-1-{arrived:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=rng.getrandbits(128), version=4)}.gz"
        path = root / f"{arrived:%Y/%m/%d/%H}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_gz("".join(rt_line(r) + "\n" for r in reqs)))
        out[str(path.relative_to(root))] = len(reqs)
    return out


def write_waf(
    root: Path,
    requests: list[Request],
    verdicts: list[waf.Verdict],
    rng: random.Random,
    day_start_ms: int,
    site: Site = MAIN,
) -> dict[str, int]:
    """WAF objects every 5 minutes by arrival time, records in arrival order. Returns records per object."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, req in enumerate(requests):
        buckets[(req.arrival_ms - day_start_ms) // WAF_PUBLISH_MS].append(i)
    out: dict[str, int] = {}
    base = root / "AWSLogs" / ACCOUNT / "WAFLogs" / "cloudfront" / site.web_acl_name
    for key in sorted(buckets):
        idxs = sorted(buckets[key], key=lambda i: (requests[i].arrival_ms, requests[i].request_id))
        start = _utc(day_start_ms + key * WAF_PUBLISH_MS)
        name = f"{ACCOUNT}_waflogs_cloudfront_{site.web_acl_name}_{start:%Y%m%dT%H%MZ}_{rng.getrandbits(32):08x}.log.gz"
        path = base / f"{start:%Y/%m/%d/%H/%M}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_gz("".join(waf.line(requests[i], verdicts[i], site) + "\n" for i in idxs)))
        out[str(path.relative_to(root))] = len(idxs)
    return out
