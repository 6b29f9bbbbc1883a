"""The request model of the scenario and the builder every traffic source adds requests through.

Owns :class:`Request` (one viewer request with everything the three logs say about it, decided by
the generator), :class:`Signal` (what a request carries that a WAF rule inspects), the cache and
timing model (hit probabilities per behavior, the 14:00 deploy that fragments the ``/static/*``
cache, origin latencies), request ids, and the content catalogue (titles, assets, renditions).

Times: ``t_ms`` is when the edge finished responding (CloudFront's ``date``/``time``, the real-time
``timestamp``); the viewer's request arrived ``taken_ms`` earlier, which is the WAF ``timestamp``.
Responses' sizes are settled later by :func:`pipeline.scenario.incidents.finish`, after incidents
have changed statuses.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass

from pipeline.scenario.world import API, STATIC, UPLOAD, VIDEO, Behavior, Client, api_behavior

HOUR_MS = 3_600_000
# the deploy whose cache policy change put the A/B-test cookie into /static/*'s key (hit ratio 94% -> 71%)
DEPLOY_HOUR = 14
STATIC_HIT = (0.94, 0.71)  # before, after the deploy
OLD_BUNDLE, NEW_BUNDLE = "3f9a1c2e", "8b7d40f1"
# time to first byte (ms) of a cache miss, per behavior family: the origin's own latency
_ORIGIN_TTFB = {
    "api": (30, 260),
    "static": (20, 140),
    "video": (30, 220),
    "upload": (80, 600),
    "pages": (40, 420),
}


@dataclass(frozen=True, slots=True)
class Signal:
    """Something in a request a WAF rule looks at: where it is and what a rule would match."""

    kind: str  # xss_body | xss_args | xss_uri | sqli_args | log4j | javadeser
    matched: tuple[str, ...] = ()
    field: str = ""


@dataclass(slots=True)
class Request:
    t_ms: int
    client: Client
    method: str
    path: str  # as the viewer sent it (possibly percent-encoded already), without the query
    query: str  # as sent, without "?"; "" when none
    behavior: Behavior  # the cache behavior that serves it, by construction
    ua: str
    referer: str
    status: int
    result: str  # x-edge-result-type
    response_result: str  # x-edge-response-result-type
    detailed: str  # x-edge-detailed-result-type
    obj_type: str  # content type of the object when served whole ("" none)
    obj_len: int  # its size
    body: int  # request body bytes
    hdr_in: int  # request header bytes
    hdr_out: int  # response header bytes
    ttfb_ms: int
    taken_ms: int
    protocol: str
    port: int
    request_id: str
    kind: str = "background"  # which traffic source made it (truth bookkeeping only)
    signals: tuple[Signal, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # extra request headers beyond the browser's usual ones
    byte_range: tuple[int, int] | None = None
    content_type: str = ""  # settled by incidents.finish()
    content_len: int = -1
    sc_bytes: int = 0
    waf_blocked: bool = False
    rewritten: bool = False  # an origin error the origin-response function turned into a 200 (plants.py)

    @property
    def arrival_ms(self) -> int:
        return self.t_ms - self.taken_ms

    @property
    def http_version(self) -> str:
        """The viewer's HTTP version; plain-HTTP requests are HTTP/1.1 (HTTP/2 and 3 need TLS at CloudFront)."""
        return self.client.http_version if self.protocol == "https" else "HTTP/1.1"

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH", "DELETE")


_WORDS_A = (
    "midnight",
    "silent",
    "golden",
    "broken",
    "northern",
    "hidden",
    "last",
    "crimson",
    "electric",
    "frozen",
    "wild",
    "distant",
    "iron",
    "paper",
    "velvet",
    "hollow",
    "bright",
    "stolen",
    "quiet",
    "lucky",
    "savage",
    "glass",
    "neon",
    "river",
    "summer",
)
_WORDS_B = (
    "harbor",
    "signal",
    "empire",
    "orchard",
    "kingdom",
    "station",
    "frontier",
    "garden",
    "archive",
    "tide",
    "circuit",
    "highway",
    "lantern",
    "summit",
    "voyage",
    "canyon",
    "outpost",
    "mirror",
    "protocol",
    "meadow",
    "horizon",
    "ledger",
    "compass",
    "citadel",
)
RENDITIONS = ("360p", "540p", "720p", "1080p")
LIVE_EVENT = "championship-final"


class Catalogue:
    """Titles and the objects the site serves for them."""

    def __init__(self, rng: random.Random) -> None:
        names = sorted({f"{a}-{b}" for a in _WORDS_A for b in _WORDS_B})
        rng.shuffle(names)
        self.titles = [
            (n + (f"-s0{rng.randrange(1, 6)}" if rng.random() < 0.3 else ""), 10_000 + i * 37)
            for i, n in enumerate(names[:420])
        ]
        self.genres = ("drama", "comedy", "sci-fi", "documentary", "sports", "kids", "thriller", "anime")

    def title(self, rng: random.Random) -> tuple[str, int]:
        # popularity is skewed: a few titles get most views
        return self.titles[min(int(rng.paretovariate(1.2)) - 1, len(self.titles) - 1)]


class Traffic:
    """Collects requests; draws their cache outcome, timing, port and id."""

    def __init__(self, rng: random.Random, day_start_ms: int) -> None:
        self.rng = rng
        self.day_start = day_start_ms
        self.day_end = day_start_ms + 24 * HOUR_MS
        self.deploy_ms = day_start_ms + DEPLOY_HOUR * HOUR_MS
        self.requests: list[Request] = []
        self.catalogue = Catalogue(rng)
        self._ids: set[str] = set()

    def request_id(self) -> str:
        """56 characters of base64url ending in ``==`` (40 random bytes), unique in the scenario."""
        while True:
            rid = base64.urlsafe_b64encode(self.rng.randbytes(40)).decode()
            if rid not in self._ids:
                self._ids.add(rid)
                return rid

    def cache(self, behavior: Behavior, path: str, method: str, at_ms: int) -> str:
        """Cache outcome before any failure: Hit, RefreshHit, Miss or OriginShieldHit."""
        r = self.rng.random()
        if method in ("POST", "PUT", "PATCH", "DELETE") or behavior is UPLOAD:
            return "Miss"
        if behavior is STATIC:
            p = STATIC_HIT[at_ms >= self.deploy_ms]
        elif behavior is VIDEO:
            p = 0.93 if "/live/" in path else 0.9  # live segments are new every 6 s: more misses
            if r >= p:
                return "OriginShieldHit" if self.rng.random() < 0.45 else "Miss"
        elif behavior.family == "api":
            p = 0.65 if path.startswith(("/api/catalog", "/api/titles/")) else 0.0
        elif path in ("/favicon.ico", "/robots.txt"):
            p = 0.97
        else:
            p = 0.2 if path.startswith("/live/") else 0.5
        if r < p:
            return "RefreshHit" if self.rng.random() < 0.06 else "Hit"
        return "Miss"

    def add(
        self,
        arrival_ms: int,
        client: Client,
        method: str,
        path: str,
        behavior: Behavior,
        *,
        query: str = "",
        ua: str | None = None,
        referer: str = "",
        status: int = 200,
        obj: tuple[str, int] = ("", 0),
        body: int = 0,
        cache: str | None = None,
        kind: str = "background",
        signals: tuple[Signal, ...] = (),
        headers: tuple[tuple[str, str], ...] = (),
        byte_range: tuple[int, int] | None = None,
        protocol: str = "https",
    ) -> Request | None:
        """Add one request that arrived at ``arrival_ms``; None if it would finish after the day ends."""
        rng = self.rng
        if behavior is API:  # callers name the API; the path decides which of its behaviors serves it
            behavior = api_behavior(path)
        outcome = cache or self.cache(behavior, path, method, arrival_ms)
        ttfb, taken = self._timing(behavior, outcome, obj[1] if method != "HEAD" else 0, body)
        t_ms = arrival_ms + taken
        if t_ms >= self.day_end:
            return None
        result = "Miss" if outcome == "OriginShieldHit" else outcome
        detailed = outcome
        if status >= 400:
            result = detailed = "Error"
        elif status in (301, 302) and outcome == "Redirect":
            result = detailed = "Redirect"
        hdr_in = rng.randrange(180, 520) + len(path) + len(query) + len(ua or client.ua)
        req = Request(
            t_ms,
            client,
            method,
            path,
            query,
            behavior,
            ua or client.ua,
            referer,
            status,
            result,
            result,
            detailed,
            obj[0],
            obj[1],
            body,
            hdr_in,
            rng.randrange(280, 620),
            ttfb,
            taken,
            protocol,
            rng.randrange(1024, 65536),
            self.request_id(),
            kind,
            signals,
            headers,
            byte_range,
        )
        self.requests.append(req)
        return req

    def _timing(self, behavior: Behavior, outcome: str, size: int, body: int) -> tuple[int, int]:
        """Time to first byte and total time (ms) for the outcome, object size and uploaded body."""
        rng = self.rng
        if outcome == "Hit":
            ttfb = rng.randrange(1, 25)
        elif outcome in ("RefreshHit", "OriginShieldHit"):
            ttfb = rng.randrange(15, 120)
        elif outcome == "Redirect":
            ttfb = rng.randrange(0, 3)
        else:
            low, high = _ORIGIN_TTFB[behavior.family]
            ttfb = rng.randrange(low, high)
        if body:
            ttfb += body // rng.randrange(1_000, 10_000)  # bytes per ms upstream: 1-10 MB/s
        transfer = size // rng.randrange(2_000, 40_000) if size else 0
        return ttfb, ttfb + transfer + rng.randrange(0, 4)

    # --- what the site serves ----------------------------------------------------------------------
    def page(self, rng: random.Random, at_ms: int) -> tuple[str, str, tuple[str, int]]:
        """A page under the default behavior: path, query, (content type, size)."""
        hour = (at_ms - self.day_start) // HOUR_MS
        r = rng.random()
        if hour >= 19 and r < 0.35:
            return f"/live/{LIVE_EVENT}", "", ("text/html", rng.randrange(38_000, 52_000))
        if r < 0.18:
            return "/", "", ("text/html", rng.randrange(60_000, 75_000))
        if r < 0.32:
            genre = rng.choice(self.catalogue.genres)
            return "/browse", f"genre={genre}", ("text/html", rng.randrange(45_000, 70_000))
        if r < 0.75:
            slug, _ = self.catalogue.title(rng)
            return f"/title/{slug}", "", ("text/html", rng.randrange(30_000, 48_000))
        if r < 0.85:
            words = rng.sample(_WORDS_A + _WORDS_B + ("café", "crème", "東京", "naïve"), rng.randrange(1, 3))
            # browsers percent-encode the query; CloudFront logs it encoded once more
            return (
                "/search",
                "q=" + "%20".join(url_quote(w) for w in words),
                ("text/html", rng.randrange(20_000, 40_000)),
            )
        if r < 0.92:
            return "/account", "", ("text/html", rng.randrange(18_000, 26_000))
        if r < 0.97:
            return "/favicon.ico", "", ("image/x-icon", 15_086)
        return "/robots.txt", "", ("text/plain", 211)

    def asset(self, rng: random.Random, at_ms: int, slug: str | None) -> tuple[str, tuple[str, int]]:
        bundle = NEW_BUNDLE if at_ms >= self.deploy_ms else OLD_BUNDLE
        r = rng.random()
        if r < 0.22:
            return f"/static/js/app.{bundle}.js", (
                "application/javascript",
                412_733 if bundle == OLD_BUNDLE else 419_052,
            )
        if r < 0.34:
            return "/static/js/vendor.c41d9e07.js", ("application/javascript", 803_114)
        if r < 0.46:
            return f"/static/css/main.{bundle}.css", ("text/css", 96_420)
        if r < 0.52:
            return "/static/fonts/inter-var.woff2", ("font/woff2", 310_880)
        if r < 0.58:
            return "/static/img/logo.svg", ("image/svg+xml", 4_212)
        slug = slug or self.catalogue.title(rng)[0]
        if r < 0.9:
            return f"/static/img/poster/{slug}.webp", ("image/webp", 40_000 + hash_size(slug, 160_000))
        return f"/static/img/hero/{slug}-1920.jpg", ("image/jpeg", 180_000 + hash_size(slug, 420_000))


def hash_size(text: str, spread: int) -> int:
    """A size that is stable for one object name (the same poster always has the same length)."""
    h = 0
    for ch in text:
        h = (h * 131 + ord(ch)) % 1_000_003
    return h % spread


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def url_quote(text: str) -> str:
    """Percent-encode as a browser does for a query value (UTF-8, everything but unreserved characters)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode())
