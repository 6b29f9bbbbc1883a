"""Vocabularies for the synthetic CloudFront legacy logs: URIs, user agents, referers, queries, clients.

Owns the small, value-level tables the generator samples from (a few thousand entries at most, so building
them with ordinary Python is fine) and the AWS percent-encoding rule for logged fields (FORMATS.md §a.4).
It does not produce log lines; `generate.py` draws per-line indices into these tables.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# FORMATS.md §a.4: bytes 0-32, bytes >= 127, and these characters are percent-encoded in logged fields.
_AWS_ENCODED = set(b"<>\"#%{}|\\^~[]`'")


def aws_encode(value: str) -> str:
    """Percent-encode `value` the way CloudFront writes header, query and path fields."""
    out: list[str] = []
    for byte in value.encode("utf-8"):
        if byte <= 32 or byte >= 127 or byte in _AWS_ENCODED:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


@dataclass(frozen=True)
class Uri:
    path: str  # already in logged (encoded) form
    content_type: str
    size: int
    kind: str  # static | page | api | media | junk


@dataclass(frozen=True)
class Scenario:
    """One correlated outcome: status and the three result-type columns, and what the body looks like."""

    status: str
    result: str
    response_result: str
    detailed: str
    body: str  # full | none | range | redirect | small | error
    median_ms: int
    weight: float


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("200", "Hit", "Hit", "Hit", "full", 2, 520),
    Scenario("200", "Miss", "Miss", "Miss", "full", 95, 150),
    Scenario("200", "Miss", "Miss", "OriginShieldHit", "full", 28, 25),
    Scenario("200", "RefreshHit", "RefreshHit", "RefreshHit", "full", 60, 30),
    Scenario("200", "Miss", "Miss", "MissGeneratedResponse", "small", 40, 3),
    # The viewer went away mid-download: logged as Error although the response itself was fine.
    Scenario("200", "Error", "Hit", "ClientCommError", "full", 900, 6),
    Scenario("200", "Error", "Miss", "ClientCommError", "full", 1500, 3),
    Scenario("304", "Hit", "Hit", "Hit", "none", 1, 110),
    Scenario("304", "RefreshHit", "RefreshHit", "RefreshHit", "none", 45, 20),
    Scenario("206", "Hit", "Hit", "Hit", "range", 4, 12),
    Scenario("206", "Miss", "Miss", "Miss", "range", 85, 6),
    Scenario("301", "Redirect", "Redirect", "Redirect", "redirect", 0, 10),
    Scenario("302", "Miss", "Miss", "Miss", "small", 50, 5),
    Scenario("404", "Error", "Error", "Error", "error", 30, 40),
    Scenario("403", "Error", "Error", "ClientGeoBlocked", "error", 1, 4),
    Scenario("403", "Error", "Error", "Error", "error", 20, 8),
    Scenario("400", "Error", "Error", "InvalidRequest", "error", 0, 2),
    Scenario("500", "Error", "Error", "OriginError", "error", 220, 3),
    Scenario("502", "Error", "Error", "OriginConnectError", "error", 1000, 3),
    Scenario("502", "Error", "Error", "OriginDnsError", "error", 30, 1),
    Scenario("502", "LambdaExecutionError", "LambdaExecutionError", "LambdaExecutionError", "error", 5, 0.5),
    Scenario("503", "Error", "Error", "Error", "error", 150, 2),
    Scenario("503", "CapacityExceeded", "CapacityExceeded", "CapacityExceeded", "error", 0, 0.5),
    Scenario("503", "LimitExceeded", "LimitExceeded", "LimitExceeded", "error", 0, 0.3),
    Scenario("504", "Error", "Error", "OriginCommError", "error", 30000, 2),
    Scenario("000", "Error", "Error", "ClientHungUpRequest", "none", 600, 2),
)
NOT_FOUND_SCENARIO = 13  # index of the plain 404 above; scanner junk always ends there
assert SCENARIOS[NOT_FOUND_SCENARIO].status == "404"

EDGE_LOCATIONS = (
    "IAD89-C1", "IAD89-C3", "IAD12-P2", "IAD55-P4", "JFK50-C1", "JFK52-P1", "EWR53-C2", "ORD58-P5",
    "ORD51-C3", "DFW56-P1", "DFW3", "ATL59-C1", "ATL56-C4", "SEA19-C1", "SEA900-P1", "SFO53-C1",
    "SFO5-P2", "LAX50-C1", "LAX3-C4", "MIA3-P5", "DEN52-C1", "YUL62-C1", "YTO50-C1", "GRU3-C1",
    "LHR61-C1", "LHR50-P3", "LHR3-C2", "FRA56-P5", "FRA60-P1", "FRA2-C1", "AMS58-P3", "AMS1-C1",
    "CDG52-P4", "CDG3-C1", "MAD53-C1", "MXP63-C1", "ARN54-C1", "WAW51-P3", "DUB56-P2", "ZRH55-P2",
    "VIE50-C1", "HKG54-C1", "HKG62-C2", "NRT57-P3", "NRT12-C4", "ICN54-C2", "SIN2-P3", "SIN52-C1",
    "BOM78-P4", "DEL54-C2", "SYD62-P1", "SYD1-C1", "JNB50-C1", "DXB52-P1", "TLV50-C1", "HIO52-P2",
)  # fmt: skip

TLS = (  # (protocol, cipher, weight)
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", 55),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", 12),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", 6),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", 20),
    ("TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", 4),
    ("TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305", 2),
    ("TLSv1", "ECDHE-RSA-AES128-SHA", 0.5),
)
PROTOCOL_VERSIONS = (("HTTP/2.0", 58), ("HTTP/1.1", 30), ("HTTP/3.0", 11), ("HTTP/1.0", 1))
API_METHODS = (("GET", 55), ("POST", 30), ("PUT", 5), ("DELETE", 3), ("PATCH", 2), ("OPTIONS", 5))
OTHER_METHODS = (("GET", 96.5), ("HEAD", 3), ("OPTIONS", 0.5))

_WORDS = (
    "alpine", "amber", "arctic", "atlas", "aurora", "basalt", "bay", "birch", "bloom", "breeze", "canyon",
    "cedar", "cobalt", "coral", "crest", "delta", "dune", "ember", "fern", "fjord", "forest", "glacier",
    "granite", "harbor", "heron", "indigo", "island", "jade", "juniper", "lagoon", "lark", "linen", "maple",
    "meadow", "mesa", "moss", "nova", "oak", "orchid", "pebble", "pine", "prairie", "quartz", "raven",
    "reef", "ridge", "river", "sage", "sierra", "slate", "spruce", "summit", "tide", "timber", "tundra",
    "valley", "willow", "zephyr", "jacket", "boots", "backpack", "tent", "lantern", "kettle", "mug",
    "scarf", "gloves", "beanie", "socks", "hoodie", "shorts", "sandals", "blanket", "stove", "pack",
)  # fmt: skip


def _slug(rng: random.Random, words: int) -> str:
    return "-".join(rng.choice(_WORDS) for _ in range(words))


def _hexid(rng: random.Random, chars: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(chars))


# URI families: (name, share of generated URIs, content type ("" = from extension), size range, kind)
_FAMILIES: tuple[tuple[str, float, str, int, int, str], ...] = (
    ("js", 0.08, "application/javascript", 20_000, 600_000, "static"),
    ("css", 0.04, "text/css", 5_000, 120_000, "static"),
    ("font", 0.01, "font/woff2", 15_000, 60_000, "static"),
    ("product-image", 0.42, "", 8_000, 900_000, "static"),
    ("blog-image", 0.05, "image/jpeg", 40_000, 700_000, "static"),
    ("product-page", 0.14, "text/html", 30_000, 90_000, "page"),
    ("blog-page", 0.08, "text/html", 20_000, 80_000, "page"),
    ("api", 0.09, "application/json", 200, 20_000, "api"),
    ("video", 0.02, "video/mp4", 5_000_000, 300_000_000, "media"),
    ("hls-segment", 0.06, "video/MP2T", 300_000, 2_000_000, "media"),
    ("hls-playlist", 0.01, "application/vnd.apple.mpegurl", 300, 3_000, "static"),
)


def _family_path(rng: random.Random, family: str) -> str:
    if family == "js":
        return f"/static/js/{_slug(rng, 1)}.{_hexid(rng, 8)}.js"
    if family == "css":
        return f"/static/css/{_slug(rng, 1)}.{_hexid(rng, 8)}.css"
    if family == "font":
        return f"/static/fonts/{_slug(rng, 1)}-{rng.choice(['400', '500', '700'])}.woff2"
    if family == "product-image":
        variant = rng.choice(["thumb", "small", "medium", "large", "zoom"])
        extension = rng.choice(["jpg", "jpg", "webp", "png"])
        return f"/images/products/{rng.randint(10_000, 99_999)}/{variant}.{extension}"
    if family == "blog-image":
        return f"/images/blog/{_slug(rng, 3)}.jpg"
    if family == "product-page":
        return f"/products/{_slug(rng, 2)}-{rng.randint(100, 9999)}"
    if family == "blog-page":
        return f"/blog/{rng.randint(2019, 2025)}/{rng.randint(1, 12):02d}/{_slug(rng, 4)}/"
    if family == "api":
        return rng.choice(
            [
                f"/api/v1/products/{rng.randint(100, 9999)}",
                f"/api/v1/products/{rng.randint(100, 9999)}/reviews",
                f"/api/v2/recommendations/{_hexid(rng, 12)}",
                f"/api/v1/stock/{rng.randint(10_000, 99_999)}",
                "/api/v1/cart",
                "/api/v1/session",
                "/graphql",
            ]
        )
    if family == "video":
        return f"/video/{_hexid(rng, 10)}/{rng.choice(['480p', '720p', '1080p'])}.mp4"
    if family == "hls-segment":
        return f"/hls/{_hexid(rng, 10)}/segment_{rng.randint(0, 400):05d}.ts"
    return f"/hls/{_hexid(rng, 10)}/index.m3u8"


def build_uris(rng: random.Random, count: int) -> list[Uri]:
    """About `count` distinct URIs with realistic shapes, content types and object sizes, popular first."""
    uris: dict[str, Uri] = {}

    def add(path: str, content_type: str, size: int, kind: str) -> None:
        encoded = aws_encode(path)
        uris.setdefault(encoded, Uri(encoded, content_type, size, kind))

    fixed = [
        ("/", "text/html", 48_213, "page"),
        ("/index.html", "text/html", 48_213, "page"),
        ("/favicon.ico", "image/x-icon", 15_086, "static"),
        ("/robots.txt", "text/plain", 312, "static"),
        ("/sitemap.xml", "application/xml", 88_410, "static"),
        ("/apple-touch-icon.png", "image/png", 9_322, "static"),
        ("/.well-known/security.txt", "text/plain", 402, "static"),
        ("/manifest.webmanifest", "application/manifest+json", 1_004, "static"),
        ("/files/Annual Report 2024.pdf", "application/pdf", 2_483_112, "static"),
        ("/files/Preisliste_Frühjahr.pdf", "application/pdf", 611_930, "static"),
        ("/products/café-crème", "text/html", 52_118, "page"),
        ("/search/日本", "text/html", 31_442, "page"),
        ("/docs/{version}/index.html", "text/html", 23_001, "page"),
    ]
    for path, ctype, size, kind in fixed:
        add(path, ctype, size, kind)
    for path in (
        "/wp-login.php",
        "/.env",
        "/.git/config",
        "/admin/config.php",
        "/phpmyadmin/index.php",
        "/wp-content/plugins/revslider/temp.php",
        "/cgi-bin/luci",
        "/actuator/health",
        "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
        "/xmlrpc.php",
        "/owa/auth/logon.aspx",
        "/server-status",
        "/.aws/credentials",
        "/config.json",
        "/backup.zip",
    ):
        add(path, "text/html", 0, "junk")
    target = max(count, len(uris) + 50)
    image_types = {"jpg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
    shares = [family[1] for family in _FAMILIES]
    while len(uris) < target:
        name, _, ctype, low, high, kind = rng.choices(_FAMILIES, weights=shares)[0]
        path = _family_path(rng, name)
        add(path, ctype or image_types[path.rsplit(".", 1)[1]], rng.randint(low, high), kind)
    ordered = list(uris.values())
    head, tail = ordered[:6], ordered[6:]
    rng.shuffle(tail)  # popularity rank: the home page and friends first, the rest at random
    return head + tail


def build_user_agents(rng: random.Random, count: int) -> list[str]:
    """`count` distinct user agents, most popular first, already AWS-encoded (space -> %20)."""
    win = ("Windows NT 10.0; Win64; x64", "Windows NT 10.0; WOW64", "Windows NT 6.1; Win64; x64")
    mac = (
        "Macintosh; Intel Mac OS X 10_15_7",
        "Macintosh; Intel Mac OS X 14_4_1",
        "Macintosh; Intel Mac OS X 13_6",
    )
    linux = ("X11; Linux x86_64", "X11; Ubuntu; Linux x86_64")
    android = (
        "Linux; Android 10; K",
        "Linux; Android 14; Pixel 8",
        "Linux; Android 13; SM-S911B",
        "Linux; Android 12; moto g(60)",
        "Linux; Android 14; SM-A546B",
    )
    ios = (
        "iPhone; CPU iPhone OS 17_4 like Mac OS X",
        "iPhone; CPU iPhone OS 16_6 like Mac OS X",
        "iPad; CPU OS 17_3 like Mac OS X",
        "iPhone; CPU iPhone OS 18_1 like Mac OS X",
    )
    agents: list[str] = []
    for major in range(100, 132):
        for platform in (*win, *mac, *linux):
            agents.append(
                f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
            )
        for platform in android:
            agents.append(
                f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) "
                f"Chrome/{major}.0.0.0 Mobile Safari/537.36"
            )
        agents.append(
            f"Mozilla/5.0 ({win[0]}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36 Edg/{major}.0.0.0"
        )
    for major in range(110, 134):
        for platform in (
            win[0],
            "Macintosh; Intel Mac OS X 10.15",
            "X11; Linux x86_64",
            "Android 14; Mobile",
        ):
            agents.append(f"Mozilla/5.0 ({platform}; rv:{major}.0) Gecko/20100101 Firefox/{major}.0")
    for version in ("16.6", "17.3", "17.4.1", "17.5", "18.0", "18.1"):
        for platform in ios:
            agents.append(
                f"Mozilla/5.0 ({platform}) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{version} Mobile/15E148 Safari/604.1"
            )
        agents.append(
            f"Mozilla/5.0 ({mac[0]}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{version} Safari/605.1.15"
        )
    bots = [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Twitterbot/1.0",
        "Amazon CloudFront",
        'Mozilla/5.0 (compatible; "Odd Bot"; {beta} [test] ^_^)',
    ]
    tools = [f"curl/{v}" for v in ("7.68.0", "7.81.0", "7.88.1", "8.4.0", "8.5.0", "8.7.1")]
    tools += [f"python-requests/2.{minor}.0" for minor in range(25, 33)]
    tools += [
        "Go-http-client/1.1",
        "Go-http-client/2.0",
        "okhttp/4.12.0",
        "okhttp/4.9.3",
        "Wget/1.21.4",
        "aiohttp/3.9.5",
        "axios/1.6.8",
        "PostmanRuntime/7.37.3",
        "Dalvik/2.1.0 (Linux; U; Android 13; SM-G991B Build/TP1A.220624.014)",
        "ExampleShop/5.12.0 (iPhone; iOS 17.4; Scale/3.00)",
        "ExampleShop/5.11.2 (Android 14; Pixel 7)",
    ]
    # Browsers dominate; keep every bot and tool, then fill with browsers.
    rng.shuffle(agents)
    chosen = bots + tools + agents[: max(0, count - len(bots) - len(tools))]
    rng.shuffle(chosen)
    return [aws_encode(agent) for agent in chosen[:count]]


def build_referers(rng: random.Random, uris: list[Uri], count: int) -> list[str]:
    """`count` referers (encoded); the first entry is `-` and carries about half the weight."""
    refs = [
        "https://www.google.com/",
        "https://www.bing.com/",
        "https://duckduckgo.com/",
        "https://www.google.co.uk/",
        "https://www.google.de/",
        "https://search.yahoo.com/",
        "android-app://com.google.android.gm/",
        "https://www.example.com/",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.example.com%2Fsale&h=AT0xZk",
        "https://www.google.com/url?q=https%3A%2F%2Fwww.example.com%2F%7Bcampaign%7D&sa=D",
        "https://news.ycombinator.com/item?id=39517234",
        "https://www.reddit.com/r/CampingGear/",
    ]
    refs += [f"https://t.co/{_hexid(rng, 10)}" for _ in range(8)]
    pages = [u.path for u in uris if u.kind == "page"]
    while len(refs) < count - 1 and pages:
        refs.append("https://www.example.com" + rng.choice(pages))
    # A referer the browser had already percent-encoded is logged double-encoded (%3A -> %253A).
    return ["-"] + [aws_encode(r) for r in refs[: count - 1]]


def build_queries(rng: random.Random, count: int) -> list[str]:
    """`count` query strings in logged form; the first entry is `-` (no query)."""
    queries = [
        "v=3",
        "v=1.4.2",
        "page=2",
        "page=3",
        "sort=price_asc",
        "sort=newest",
        "w=640&h=480&fit=crop",
        "w=1280&q=80",
        "format=webp",
        "utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale",
        "utm_source=google&utm_medium=cpc&utm_campaign=brand",
        "ref=homepage",
        "lang=de",
        "lang=fr",
        "callback=jQuery3600123_1710412345678&_=1710412345679",
    ]
    # Client-encoded values come out double-encoded in the log (%20 -> %2520, %3A -> %253A).
    encoded_by_client = [
        "q=red%20shoes",
        "q=caf%C3%A9",
        "q=tent%202%20person",
        "redirect=https%3A%2F%2Fwww.example.com%2Fcart",
        "next=%2Faccount%2Forders%3Fpage%3D2",
        "filter=%7B%22color%22%3A%22blue%22%7D",
    ]
    while len(queries) + len(encoded_by_client) < count - 1:
        choice = rng.random()
        if choice < 0.4:
            queries.append(f"fbclid=IwAR{_hexid(rng, 24)}")
        elif choice < 0.7:
            queries.append(f"gclid=Cj0KCQjw{_hexid(rng, 20)}")
        else:
            encoded_by_client.append(f"q={_slug(rng, 2).replace('-', '%20')}")
    logged = [aws_encode(q) for q in queries + encoded_by_client]
    return ["-", *logged[: count - 1]]


def build_cookies(rng: random.Random, count: int) -> list[str]:
    """`count` Cookie header values in logged form (`; ` becomes `;%20`)."""
    cookies = []
    for _ in range(count):
        parts = [f"session-id={_hexid(rng, 32)}"]
        if rng.random() < 0.6:
            parts.append(f"theme={rng.choice(['dark', 'light'])}")
        if rng.random() < 0.4:
            parts.append(f"_ga=GA1.2.{rng.randint(10**8, 10**9)}.{rng.randint(1_600_000_000, 1_710_000_000)}")
        cookies.append(aws_encode("; ".join(parts)))
    return cookies


def build_client_ips(rng: random.Random, count: int, ipv6_share: float = 0.13) -> list[str]:
    """`count` distinct public-looking client addresses, IPv4 and IPv6 text forms."""
    first_octets = [
        3,
        18,
        23,
        31,
        34,
        37,
        44,
        52,
        54,
        62,
        66,
        72,
        77,
        81,
        85,
        88,
        91,
        95,
        98,
        104,
        107,
        109,
        151,
        152,
        172,
        176,
        178,
        185,
        188,
        193,
        195,
        203,
        209,
        212,
        213,
        217,
    ]
    v6_prefixes = ["2a02:c7c", "2600:1700", "2001:4860", "2a01:e0a", "2406:da18", "2600:387", "2a00:23c8"]
    seen: set[str] = set()
    ips: list[str] = []
    while len(ips) < count:
        if rng.random() < ipv6_share:
            groups = [f"{rng.getrandbits(16):x}" for _ in range(6)]
            ip = rng.choice(v6_prefixes) + ":" + ":".join(groups)
            if rng.random() < 0.2:
                ip = rng.choice(v6_prefixes) + "::" + groups[-1]
        else:
            octets = (rng.choice(first_octets), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
            ip = ".".join(map(str, octets))
        if ip not in seen:
            seen.add(ip)
            ips.append(ip)
    return ips
