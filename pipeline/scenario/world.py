"""The fixed world of the scenario: the Streamhaul distribution, its web ACL, and the viewers.

Owns the names every other scenario module shares (distribution id, domains, account, ACL and rule
names), the cache behaviors with their targets and failover criteria (the generator's own copy of
what ``configs.py`` writes; nothing here is read back from a config file), and the pools viewers are
drawn from: countries with their CloudFront POPs and ASNs, IP ranges, user agents, TLS stacks. A
:class:`Client` is one viewer address with everything that stays fixed for it.

Must not import anything from the pipeline except :mod:`pipeline.errors` (the generator computes its
facts independently of the code it is used to test).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass

ACCOUNT = "123456789012"
DISTRIBUTION_ID = "E2SCENARIO01"
DOMAIN = "d1scenario.cloudfront.net"
ALIAS = "www.streamhaul.example"
WEB_ACL_NAME = "streamhaul-acl"
WEB_ACL_ID = "5f0c7a2e-3b1d-4c8e-9a6f-2d4b8e1c7a90"
WEB_ACL_ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/{WEB_ACL_NAME}/{WEB_ACL_ID}"
REALTIME_NAME = "streamhaul-rt"
OFFICE_NAT_IP = "203.0.113.10"


@dataclass(frozen=True)
class Site:
    """What tells one distribution's logs from another's: ids, names and the web ACL in front of it."""

    distribution_id: str
    domain: str
    alias: str
    web_acl_name: str
    web_acl_id: str

    @property
    def web_acl_arn(self) -> str:
        return f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/{self.web_acl_name}/{self.web_acl_id}"


MAIN = Site(DISTRIBUTION_ID, DOMAIN, ALIAS, WEB_ACL_NAME, WEB_ACL_ID)
# The clean twin: the same site, configured as it should be, with traffic where nothing goes wrong.
TWIN = Site(
    "E2CLEANTWIN01",
    "d2cleantwin.cloudfront.net",
    "clean.streamhaul.example",
    "streamhaul-clean-acl",
    "0b9d4e21-7c3a-4f5e-8d16-a2c4e6f80b13",
)
DRAFT_ID = "E2DRAFTCONFIG1"  # an infrastructure-as-code draft that CloudFront would refuse (never deployed)

GEO_BLOCKED = ("CU", "IR", "KP", "SY")  # CloudFront geo restriction (blacklist): 403 ClientGeoBlocked
WATCHED_COUNTRIES = ("BY", "RU")  # matched by the web ACL rule BlockedCountriesWatch (Count)


class ScenarioRandom(random.Random):
    """``random.Random`` with a cheaper ``randrange`` (the generator draws millions of small integers).

    Draws ``start + int(random() * span)``: uniform up to float rounding, which is all a scenario
    needs, and several times faster than the exact rejection sampling of the standard method.
    """

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            start, stop = 0, start
        if step != 1 or stop <= start:
            return super().randrange(start, stop, step)
        return start + int(self.random() * (stop - start))


@dataclass(frozen=True)
class Behavior:
    pattern: str
    target: str
    is_group: bool
    criteria: tuple[int, ...]  # failover status codes of the target group; () for a single origin
    family: str  # the part of the site it serves: api, upload, static, video, pages


# CloudFront refuses a behavior that allows POST/PUT/PATCH/DELETE and targets an origin group, so the
# API is split as real distributions split it: GET-only behaviors for the read paths on api-group
# (failover), and the catch-all /api/* for the writes on the group's primary alone. /api/me is the
# planted "failover silently off": read-only, yet aimed at api-primary instead of the group.
_API_CODES = (500, 502, 503, 504)
API_ME = Behavior("/api/me", "api-primary", False, (), "api")
API_CATALOG = Behavior("/api/catalog*", "api-group", True, _API_CODES, "api")
API_TITLES = Behavior("/api/titles/*", "api-group", True, _API_CODES, "api")
API_RECS = Behavior("/api/recommendations*", "api-group", True, _API_CODES, "api")
API = Behavior("/api/*", "api-primary", False, (), "api")
UPLOAD = Behavior("/upload/*", "upload-origin", False, (), "upload")
STATIC = Behavior("/static/*", "static-s3", False, (), "static")
VIDEO = Behavior("/video/*", "media-group", True, (429, 500, 502, 503, 504), "video")
DEFAULT = Behavior("*", "web-group", True, (500, 502, 503, 504), "pages")
# precedence order, default last
BEHAVIORS = (API_ME, API_CATALOG, API_TITLES, API_RECS, API, UPLOAD, STATIC, VIDEO, DEFAULT)
API_READS = (API_ME, API_CATALOG, API_TITLES, API_RECS)


def api_behavior(path: str) -> Behavior:
    """The behavior CloudFront picks for an ``/api/`` path (first match in precedence order).

    Written as prefix tests rather than with the pipeline's pattern matcher: the generator must not
    use the code it tests. ``/api/me`` has no wildcard, so it matches that path only.
    """
    if path == "/api/me":
        return API_ME
    for b in (API_CATALOG, API_TITLES, API_RECS):
        if path.startswith(b.pattern.rstrip("*")):
            return b
    return API


@dataclass(frozen=True, slots=True)
class Client:
    """One viewer address and what stays fixed for it (its browser may vary: see ``Request.ua``)."""

    ip: str
    country: str
    asn: int
    pop: str
    ua: str
    http_version: str
    tls_protocol: str
    tls_cipher: str
    ja3: str
    ja4: str
    hosting: bool = False  # in a hosting provider's range (AWS managed anonymous-ip list)
    xff: str = ""  # X-Forwarded-For the viewer's proxy adds; "" when none

    @property
    def ip_version(self) -> str:
        return "IPv6" if ":" in self.ip else "IPv4"


# country -> (weight among background viewers, POPs, ASNs, first octets of IPv4 ranges, IPv6 prefix)
_EU = (
    31,
    37,
    46,
    62,
    77,
    78,
    79,
    80,
    81,
    82,
    84,
    85,
    86,
    87,
    88,
    89,
    90,
    91,
    92,
    93,
    94,
    95,
    176,
    178,
    185,
    188,
    212,
    213,
    217,
)
COUNTRIES: dict[str, tuple[float, tuple[str, ...], tuple[int, ...], tuple[int, ...], str]] = {
    "US": (
        30.0,
        ("IAD89-C3", "IAD61-P1", "JFK51-C1", "ORD51-C3", "DFW56-P1", "LAX50-C1", "SEA19-C1", "ATL56-C2"),
        (7922, 7018, 701, 20115, 22773),
        (23, 24, 50, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 96, 97, 98, 99, 107, 108, 173, 174),
        "2600:1700",
    ),
    "GB": (9.0, ("LHR61-P2", "LHR50-C1", "MAN51-C1"), (2856, 5089, 5378), _EU, "2a00:23c6"),
    "DE": (8.0, ("FRA56-P5", "FRA60-P1", "MUC50-P1", "HAM50-C1"), (3320, 3209, 6805), _EU, "2003:e5"),
    "IN": (
        12.0,
        ("BOM78-P1", "DEL54-C1", "MAA51-C1", "BLR50-C3"),
        (55836, 24560, 45609),
        (49, 103, 106, 115, 117, 122, 157, 182),
        "2409:40c2",
    ),
    "BR": (7.0, ("GRU3-C1", "GIG51-C1"), (28573, 18881, 26599), (177, 179, 186, 187, 189, 191, 200, 201), "2804:14d"),
    "FR": (5.0, ("CDG52-P1", "MRS52-P1"), (3215, 12322, 5410), _EU, "2a01:cb08"),
    "JP": (
        4.0,
        ("NRT57-P2", "KIX56-P1"),
        (2516, 4713, 17676),
        (1, 14, 27, 36, 39, 42, 58, 60, 101, 110, 111, 112, 113, 114, 118, 119, 126),
        "240b:10",
    ),
    "CA": (4.0, ("YTO50-C1", "YUL62-C1"), (812, 577, 6327), (24, 64, 65, 69, 70, 72, 99, 142, 184), "2607:fea8"),
    "ES": (3.0, ("MAD53-P2", "BCN50-C1"), (3352, 12479), _EU, "2a0c:5a80"),
    "NL": (3.0, ("AMS1-C1", "AMS58-P2"), (1136, 33915), _EU, "2a02:a46e"),
    "MX": (3.0, ("QRO51-C1", "MEX50-C1"), (8151, 28548), (177, 187, 189, 200, 201), "2806:10b7"),
    "AU": (3.0, ("SYD62-P2", "MEL50-C2"), (1221, 4804), (1, 14, 27, 49, 58, 101, 110, 120, 121), "2001:8004"),
    "RU": (2.5, ("HEL51-P1", "ARN54-C1"), (12389, 8402), _EU, "2a00:1fa0"),
    "BY": (0.8, ("WAW51-P1",), (6697,), _EU, "2a00:1760"),
    "KP": (0.05, ("ICN54-C1",), (131279,), (175,), "2a00:ab00"),
    "IR": (0.2, ("FRA56-P5",), (58224, 44244), (2, 5, 37, 94), "2a01:5ec0"),
    "SY": (0.05, ("MRS52-P1",), (29256,), (5, 31, 46), "2a00:1a28"),
    "CU": (0.05, ("MIA3-C2",), (27725,), (152, 169, 181), "2a00:1a30"),
}
HOSTING = (
    (16509, "IAD89-C3", "US", (3, 18, 34, 44, 52, 54)),
    (14061, "FRA56-P5", "DE", (46, 64, 104, 138, 139, 157, 159, 161, 164, 165, 167, 178)),
    (
        24940,
        "FRA60-P1",
        "DE",
        (5, 46, 65, 78, 88, 95, 116, 135, 136, 138, 142, 144, 148, 157, 159, 162, 167, 168, 176, 178, 188, 195, 213),
    ),
    (63949, "AMS1-C1", "NL", (45, 50, 66, 96, 139, 172, 173)),
)

_CHROME = "Mozilla/5.0 ({os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 {tail}Safari/537.36"
_DESKTOP_OS = (
    "Windows NT 10.0; Win64; x64",
    "Macintosh; Intel Mac OS X 10_15_7",
    "X11; Linux x86_64",
    "X11; CrOS x86_64 14541.0.0",
)
_ANDROID = ("Pixel 8", "Pixel 7a", "SM-S918B", "SM-A546B", "moto g84 5G", "2201116SG", "CPH2451")


def user_agents() -> list[tuple[str, float]]:
    """Browser, app and player user agents with their weights (many versions: offices show variety)."""
    uas: list[tuple[str, float]] = []
    for v in range(118, 135):
        for os_ in _DESKTOP_OS:
            uas.append((_CHROME.format(os=os_, v=v, tail=""), 1.0))
        uas.append((_CHROME.format(os=_DESKTOP_OS[0], v=v, tail="") + f" Edg/{v}.0.0.0", 0.5))
        for device in _ANDROID:
            uas.append((_CHROME.format(os=f"Linux; Android {12 + v % 3}; {device}", v=v, tail="Mobile "), 0.6))
    for v in range(120, 135):
        uas.append((f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", 0.5))
        uas.append((f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", 0.2))
    for major, minor in ((16, 6), (17, 1), (17, 3), (17, 4), (17, 5), (18, 0), (18, 1), (18, 3)):
        uas.append(
            (
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) AppleWebKit/605.1.15 "
                f"(KHTML, like Gecko) Version/{major}.{minor} Mobile/15E148 Safari/604.1",
                2.0,
            )
        )
        uas.append(
            (
                f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                f"Version/{major}.{minor} Safari/605.1.15",
                0.8,
            )
        )
    for app in ("5.10.3", "5.11.2", "5.12.0"):
        uas.append((f"Streamhaul/{app} (iPhone; iOS 17.4; Scale/3.00)", 1.5))
        uas.append((f"Streamhaul/{app} (Linux;Android 14) ExoPlayerLib/2.19.1", 1.5))
    uas.append(
        (
            "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) "
            "94.0.4606.31/7.0 TV Safari/537.36",
            1.0,
        )
    )
    uas.append(
        (
            "Mozilla/5.0 (Linux; Android 11; AFTKA Build/RS8140) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.6099.230 Mobile Safari/537.36",
            0.8,
        )
    )
    return uas


_TLS = (
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "t13d1516h2_8daaf6152771"),
    ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "t13d1517h2_8daaf6152771"),
    ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", "t13d2014h2_a09f3c656075"),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "t12d1209h2_d34a8e72043a"),
)


class ClientFactory:
    """Makes distinct viewer addresses (never two clients with one IP, never the office NAT's)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken = {OFFICE_NAT_IP}
        self.uas = user_agents()
        self._ua_cum = cumulative([w for _, w in self.uas])
        names = list(COUNTRIES)
        self._countries = names
        self._country_cum = cumulative([COUNTRIES[c][0] for c in names])

    def user_agent(self) -> str:
        return self.uas[pick(self.rng, self._ua_cum)][0]

    def country(self) -> str:
        return self._countries[pick(self.rng, self._country_cum)]

    def _ipv4(self, octets: tuple[int, ...]) -> str:
        while True:
            r = self.rng
            ip = f"{r.choice(octets)}.{r.randrange(0, 256)}.{r.randrange(0, 256)}.{r.randrange(1, 255)}"
            if ip not in self.taken:
                self.taken.add(ip)
                return ip

    def _ipv6(self, prefix: str) -> str:
        while True:
            r = self.rng
            ip = f"{prefix}:{r.getrandbits(16):x}:{r.getrandbits(16):x}::{r.randrange(1, 0xFFFF):x}"
            if ip not in self.taken:
                self.taken.add(ip)
                return ip

    def _stack(self, ua: str) -> tuple[str, str, str, str, str]:
        """HTTP version, TLS protocol and cipher, JA3 and JA4 for one viewer."""
        r = self.rng
        proto, cipher, ja4_head = _TLS[r.randrange(len(_TLS))]
        version = r.choices(("HTTP/2.0", "HTTP/3.0", "HTTP/1.1"), (70, 18, 12))[0]
        if ua.startswith(("python-", "Go-http", "curl")):
            version, proto, cipher, ja4_head = (
                "HTTP/1.1",
                "TLSv1.2",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "t12d1312h1_c866b44c5a26",
            )
        return version, proto, cipher, f"{r.getrandbits(128):032x}", f"{ja4_head}_{r.getrandbits(48):012x}"

    def viewer(self, country: str | None = None, ua: str | None = None) -> Client:
        """An ordinary residential or mobile viewer (a fifth of them on IPv6)."""
        r = self.rng
        country = country or self.country()
        _, pops, asns, octets, v6 = COUNTRIES[country]
        ip = self._ipv6(v6) if r.random() < 0.2 else self._ipv4(octets)
        ua = ua or self.user_agent()
        version, proto, cipher, ja3, ja4 = self._stack(ua)
        xff = ""
        if r.random() < 0.015:  # a corporate or school proxy in front of the viewer
            xff = f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"
        return Client(ip, country, r.choice(asns), r.choice(pops), ua, version, proto, cipher, ja3, ja4, xff=xff)

    def hosted(self, ua: str) -> Client:
        """A machine in a hosting provider's range (probes, scanners, credential stuffing)."""
        r = self.rng
        asn, pop, country, octets = HOSTING[r.randrange(len(HOSTING))]
        version, proto, cipher, ja3, ja4 = self._stack(ua)
        return Client(self._ipv4(octets), country, asn, pop, ua, version, proto, cipher, ja3, ja4, hosting=True)

    def office(self) -> Client:
        """The office NAT: one IPv4 address in front of many employees (their browsers vary per request)."""
        ua = self.user_agent()
        version, proto, cipher, ja3, ja4 = self._stack(ua)
        return Client(OFFICE_NAT_IP, "US", 7018, "IAD89-C3", ua, version, proto, cipher, ja3, ja4)


def hls_player(ua: str) -> str:
    """The user agent iOS's native HLS player sends for segments when Safari on an iPhone plays video."""
    if ua.startswith("Mozilla/5.0 (iPhone; CPU iPhone OS "):
        version = ua.split("iPhone OS ", 1)[1].split(" ", 1)[0]
        return f"AppleCoreMedia/1.0.0.21E236 (iPhone; U; CPU OS {version} like Mac OS X; en_us)"
    return ua


def cumulative(weights: list[float]) -> list[float]:
    """Running totals of ``weights``, for :func:`pick`."""
    total, out = 0.0, []
    for w in weights:
        total += w
        out.append(total)
    return out


def pick(rng: random.Random, cum: list[float]) -> int:
    """Index drawn with the weights behind ``cum`` (what random.choices does, without building a list)."""
    return min(bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)
