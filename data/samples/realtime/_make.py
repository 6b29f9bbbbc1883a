"""Regenerate the real-time log sample in this directory (deterministic: same bytes every run).

Run from the repository root: ``.venv/bin/python data/samples/realtime/_make.py``. The records are
made up (documentation IP ranges, example.com hosts); their shape follows FORMATS.md section c.
"""

from __future__ import annotations

import gzip
import json
import random
import string
from pathlib import Path

HERE = Path(__file__).resolve().parent
STREAM = "edgelake-rt"
OBJECT = HERE / "2023/05/16/08" / f"{STREAM}-1-2023-05-16-08-47-03-6f1c2a7e-93d4-4b0a-8e5f-2c7d9b1a4e60.gz"
FIRST_MS = 1684226820937  # 2023-05-16T08:47:00.937Z, the first record

# The 43 fields of the 2023 console default, in CloudFront's canonical delivery order (FORMATS.md c.2).
FIELDS = [
    "timestamp", "c-ip", "time-to-first-byte", "sc-status", "sc-bytes", "cs-method", "cs-protocol",
    "cs-host", "cs-uri-stem", "cs-bytes", "x-edge-location", "x-edge-request-id", "x-host-header",
    "time-taken", "cs-protocol-version", "c-ip-version", "cs-user-agent", "cs-referer", "cs-cookie",
    "cs-uri-query", "x-edge-response-result-type", "x-forwarded-for", "ssl-protocol", "ssl-cipher",
    "x-edge-result-type", "fle-encrypted-fields", "fle-status", "sc-content-type", "sc-content-len",
    "sc-range-start", "sc-range-end", "c-port", "x-edge-detailed-result-type", "c-country",
    "cs-accept-encoding", "cs-accept", "cache-behavior-path-pattern", "cs-headers", "cs-header-names",
    "cs-headers-count", "origin-fbl", "origin-lbl", "asn",
]
_ESCAPED = set(b'<>"#%{}|\\^~[]`\' ')
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/113.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148",
    "curl/8.1.0",
    "Go-http-client/2.0",
]
PAGES = [
    ("/", None, "*", "text/html"),
    ("/index.html", None, "*", "text/html"),
    ("/api/items", "id=42&lang=de", "/api/*", "application/json"),
    ("/api/search", "q=caf%C3%A9%20cr%C3%A8me", "/api/*", "application/json"),  # client-encoded query
    ("/static/app.3f9a1c.js", None, "/static/*", "application/javascript"),
    ("/static/logo.png", None, "/static/*", "image/png"),
    ("/video/seg-00042.m4s", None, "/video/*", "video/iso.segment"),
]
POPS = [("FRA56-P1", "DE", 3320), ("AMS1-C1", "NL", 1136), ("LHR61-P2", "GB", 2856),
        ("IAD89-C3", "US", 7018), ("SOF50-P2", "BG", 8866)]


def enc(value: str) -> str:
    """Percent-encode as CloudFront does: bytes 0-32, >= 127 and a few specials."""
    return "".join(f"%{b:02X}" if b <= 32 or b >= 127 or b in _ESCAPED else chr(b) for b in value.encode())


def record(i: int, rng: random.Random) -> list[str]:
    ms = FIRST_MS + (0 if i == 0 else i * 1733 + rng.randrange(0, 900))
    pop, country, asn = rng.choice(POPS)
    path, query, pattern, ctype = rng.choice(PAGES)
    ipv6 = rng.random() < 0.25
    ip = f"2001:db8:{rng.randrange(1, 0xffff):x}::{rng.randrange(1, 0xffff):x}" if ipv6 \
        else f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"
    status = rng.choices(["200", "304", "404", "502", "000", "206"], [60, 10, 8, 4, 3, 5])[0]
    if path.startswith("/video/"):
        status = "206"
    elif status == "206":
        status = "200"
    status = {6: "000", 11: "502", 23: "404"}.get(i, status)  # make sure the rarer outcomes appear
    https = rng.random() < 0.9
    ua = rng.choice(USER_AGENTS)
    result = {"200": "Hit" if rng.random() < 0.7 else "Miss", "206": "Hit", "304": "RefreshHit",
              "404": "Error", "502": "Error", "000": "Error"}[status]
    detailed = {"502": "OriginConnectError", "000": "ClientCommError"}.get(status, result)
    ttfb = rng.randrange(1, 40) / 1000 if result != "Miss" else rng.randrange(40, 400) / 1000
    taken = ttfb + rng.randrange(0, 60) / 1000
    body = status not in ("304", "000")
    length = rng.randrange(200, 90000) if body else None
    headers = [("Host", "www.example.com"), ("User-Agent", ua), ("Accept", "*/*")]
    if rng.random() < 0.5:
        headers.append(("Accept-Encoding", "gzip, deflate, br"))
    rid = "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(54)) + "=="
    origin = result == "Miss" or status == "502"
    values = {
        "timestamp": f"{ms // 1000}.{ms % 1000:03d}",
        "c-ip": ip,
        "time-to-first-byte": f"{ttfb:.3f}",
        "sc-status": status,
        "sc-bytes": str((length or 0) + rng.randrange(300, 700)),
        "cs-method": rng.choices(["GET", "HEAD", "POST"], [90, 5, 5])[0],
        "cs-protocol": "https" if https else "http",
        "cs-host": "www.example.com",
        "cs-uri-stem": enc(path) + ("?" + enc(query) if query else ""),
        "cs-bytes": str(rng.randrange(60, 900)),
        "x-edge-location": pop,
        "x-edge-request-id": rid,
        "x-host-header": "www.example.com",
        "time-taken": f"{taken:.3f}",
        "cs-protocol-version": rng.choice(["HTTP/1.1", "HTTP/2.0", "HTTP/2.0", "HTTP/3.0"]),
        "c-ip-version": "IPv6" if ipv6 else "IPv4",
        "cs-user-agent": enc(ua),
        "cs-referer": enc("https://www.example.com/") if rng.random() < 0.5 else "-",
        "cs-cookie": "session=3b9f0c2d" if rng.random() < 0.3 else "-",
        "cs-uri-query": enc(query) if query else "-",
        "x-edge-response-result-type": result,
        "x-forwarded-for": "-",
        "ssl-protocol": "TLSv1.3" if https else "-",
        "ssl-cipher": "TLS_AES_128_GCM_SHA256" if https else "-",
        "x-edge-result-type": result,
        "fle-encrypted-fields": "-",
        "fle-status": "-",
        "sc-content-type": ctype if body else "-",
        "sc-content-len": str(length) if length is not None else "-",
        "sc-range-start": "0" if status == "206" else "-",
        "sc-range-end": str(length - 1) if status == "206" and length else "-",
        "c-port": str(rng.randrange(1024, 65535)),
        "x-edge-detailed-result-type": detailed,
        "c-country": country,
        "cs-accept-encoding": enc("gzip, deflate, br"),
        "cs-accept": enc("*/*"),
        "cache-behavior-path-pattern": pattern,
        "cs-headers": enc("\n".join(f"{k}:{v}" for k, v in headers)),
        "cs-header-names": enc("\n".join(k for k, _ in headers)),
        "cs-headers-count": str(len(headers)),
        "origin-fbl": f"{ttfb * 0.8:.3f}" if origin else "-",
        "origin-lbl": f"{taken * 0.9:.3f}" if origin else "-",
        "asn": str(asn),
    }
    return [values[f] for f in FIELDS]


def main() -> None:
    rng = random.Random(20230516)
    lines = ["\t".join(record(i, rng)) + "\n" for i in range(36)]
    OBJECT.parent.mkdir(parents=True, exist_ok=True)
    OBJECT.write_bytes(gzip.compress("".join(lines).encode(), mtime=0))
    config = {
        "RealtimeLogConfig": {
            "ARN": f"arn:aws:cloudfront::111122223333:realtime-log-config/{STREAM}",
            "Name": STREAM,
            "SamplingRate": 100,
            "EndPoints": [{
                "StreamType": "Kinesis",
                "KinesisStreamConfig": {
                    "RoleARN": "arn:aws:iam::111122223333:role/CloudFrontRealtimeLogConfigRole",
                    "StreamARN": f"arn:aws:kinesis:us-east-1:111122223333:stream/{STREAM}",
                },
            }],
            # Deliberately NOT delivery order (alphabetical): the reader must sort into canonical order.
            "Fields": sorted(FIELDS),
        },
    }
    (HERE / "realtime-config.json").write_text(json.dumps(config, indent=4) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
