"""Regenerate the bad-input corpus in this directory (deterministic: same bytes every run).

Run from the repository root: ``.venv/bin/python data/samples/bad/_make.py``. Every file is a
legacy standard log (or v2 JSON) damaged in one documented way; README.md lists what each file
holds and what ingest must make of it, and ``tests/test_bad_input.py`` asserts exactly that.
"""

from __future__ import annotations

import gzip
import json
import random
import string
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = (
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem",
    "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)", "x-edge-result-type",
    "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes", "time-taken", "x-forwarded-for",
    "ssl-protocol", "ssl-cipher", "x-edge-response-result-type", "cs-protocol-version", "fle-status",
    "fle-encrypted-fields", "c-port", "time-to-first-byte", "x-edge-detailed-result-type",
    "sc-content-type", "sc-content-len", "sc-range-start", "sc-range-end",
)
HEADER = "#Version: 1.0\n#Fields: " + " ".join(FIELDS) + "\n"


def line(i: int, rng: random.Random) -> str:
    """One valid 33-field line; ``i`` makes it unique (seconds, port and request id differ)."""
    rid = "".join(rng.choice(string.ascii_letters + string.digits + "_-") for _ in range(54)) + "=="
    path = rng.choice(["/", "/index.html", "/img/hero.webp", "/api/v1/items"])
    values = [
        "2024-03-01", f"10:{i // 60 % 60:02d}:{i % 60:02d}", "FRA56-P1", str(rng.randrange(300, 90000)),
        f"198.51.100.{rng.randrange(1, 255)}", "GET", "d111111abcdef8.cloudfront.net", path, "200", "-",
        "Mozilla/5.0%20(X11;%20Linux%20x86_64;%20rv:123.0)%20Gecko/20100101%20Firefox/123.0",
        "-", "-", "Hit", rid, "www.example.com", "https", str(rng.randrange(200, 900)),
        f"0.{rng.randrange(1, 999):03d}", "-", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "Hit", "HTTP/2.0",
        "-", "-", str(1024 + i), "0.001", "Hit", "text/html", str(rng.randrange(100, 80000)), "-", "-",
    ]
    return "\t".join(values) + "\n"


def body(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(line(i, rng) for i in range(n))


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def main() -> None:
    files: dict[str, bytes] = {}
    # A gzip object cut off mid-stream: the break falls inside a line.
    whole = gz((HEADER + body(60, 1)).encode())
    files["truncated.log.gz"] = whole[: len(whole) * 3 // 5]
    # A gzip object whose deflate data is overwritten in the middle (a hard decode error, not a CRC one).
    data = (HEADER + body(200, 2)).encode()
    damaged = bytearray(gz(data))
    mid = len(damaged) // 3
    damaged[mid: mid + 8] = b"\x00" * 8
    probe = zlib.decompressobj(wbits=31)
    try:
        probe.decompress(bytes(damaged))
        raise SystemExit("corrupt-body.log.gz: the damage did not break the stream; pick another offset")
    except zlib.error as exc:
        if "incorrect data check" in str(exc):
            raise SystemExit("corrupt-body.log.gz: only the CRC saw the damage; move it") from exc
    files["corrupt-body.log.gz"] = bytes(damaged)
    # Invalid UTF-8 bytes in the middle of good lines (line 5 of 8).
    good = body(6, 3).splitlines(keepends=True)
    good[2] = good[2].replace("Firefox", "Fire\udcff\udcfefox")
    files["invalid-utf8.log"] = (HEADER + "".join(good)).encode("utf-8", errors="surrogateescape")
    # Too few fields (line 4), too many (line 6), AWS's trailing extra TAB (line 7, good).
    lines = body(5, 4).splitlines(keepends=True)
    few = "\t".join(lines[1].rstrip("\n").split("\t")[:20]) + "\n"
    many = lines[2].rstrip("\n") + "\tx-extra\t42\t-\n"
    trailing = lines[3].rstrip("\n") + "\t\n"
    files["field-count.log"] = (HEADER + lines[0] + few + lines[1] + many + trailing + lines[4]).encode()
    files["empty.log"] = b""
    files["empty.log.gz"] = gz(b"")
    files["not-gzip.log.gz"] = (HEADER + body(4, 5)).encode()
    rng = random.Random(6)
    files["garbage.bin"] = rng.randbytes(4096).replace(b"#", b"x").replace(b"\x1f\x8b", b"xx")
    v2 = [json.dumps({"date": "2024-11-14", "time": f"21:34:0{i}", "x-edge-location": "SOF50-P2",
                      "asn": "16509", "timestamp(ms)": str(1731620040000 + i * 1000), "sc-status": "200",
                      "cs-uri-stem": "/index.html"}, separators=(",", ":")) for i in range(4)]
    files["not-object.json"] = "\n".join(
        [v2[0], "[1,2]", "42", v2[1], '{"x-edge-location": ', "", v2[2], '"just a string"', v2[3]]
    ).encode() + b"\n"
    data_lines = body(4, 7).splitlines(keepends=True)
    fields_line = "#Fields: " + " ".join(FIELDS) + "\n"
    files["no-header.log"] = ("#Version: 1.0\n" + data_lines[0] + data_lines[1] + fields_line
                              + data_lines[2] + data_lines[3]).encode()
    crlf = body(5, 8).splitlines(keepends=True)
    crlf[2] = crlf[2].rstrip("\n") + "\t\n"  # AWS's trailing TAB on one line
    files["crlf.log"] = (HEADER + "".join(crlf)).replace("\n", "\r\n").encode()
    # CRLF again, plus one invalid UTF-8 line, which sends the block through the per-line slow path.
    slow = list(crlf)
    slow[4] = slow[4].replace("Firefox", "Fire\udcfffox")
    files["crlf-invalid-utf8.log"] = (HEADER + "".join(slow)).replace("\n", "\r\n").encode(
        "utf-8", errors="surrogateescape")
    for name, content in files.items():
        (HERE / name).write_bytes(content)


if __name__ == "__main__":
    main()
