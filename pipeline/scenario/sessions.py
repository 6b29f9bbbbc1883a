"""Legitimate viewers: browsing, watching, uploading and commenting sessions, and the office NAT.

Owns the shape of ordinary traffic: a session is one viewer's burst of requests (a page, its assets
and API calls; an HLS player fetching a segment every ~6 s with heartbeats; a creator uploading a
video in 5 MiB parts; a user posting rich-text comments). Background sessions start along a daily
curve that peaks during the evening live event; the office NAT (one IPv4, many employees with their
own browsers) is busy 08:00-18:00 UTC. Viewers in geo-restricted countries get CloudFront's 403.
"""

from __future__ import annotations

import random

from pipeline.scenario import incidents
from pipeline.scenario.traffic import HOUR_MS, LIVE_EVENT, OLD_BUNDLE, RENDITIONS, Signal, Traffic
from pipeline.scenario.world import (
    ALIAS,
    API,
    DEFAULT,
    GEO_BLOCKED,
    STATIC,
    UPLOAD,
    VIDEO,
    Client,
    ClientFactory,
    cumulative,
    hls_player,
    pick,
)

# Relative session starts per UTC hour; the championship final is watched 20:00-22:30.
DIURNAL = (
    2.0,
    1.5,
    1.2,
    1.0,
    1.0,
    1.2,
    2.0,
    3.0,
    4.0,
    5.0,
    5.5,
    5.5,
    5.5,
    5.5,
    5.5,
    5.5,
    5.5,
    6.0,
    7.0,
    9.0,
    14.0,
    13.0,
    9.0,
    5.0,
)
SITE = f"https://{ALIAS}"
_SEGMENT_KB = {"360p": (250, 400), "540p": (500, 800), "720p": (900, 1_500), "1080p": (1_800, 3_000)}
# Rich-text comment bodies and what CrossSiteScripting_BODY reports matching in them.
_RICH_TEXT = (
    (("<a", "href="),),
    (("<img", "src="),),
    (("<iframe", "src="),),
    (("<a", "href="), ("<img", "src=")),
    (('"><img src=x onerror=alert(2)>',),),
    (("<script>alert(1)</script>",),),
)
_RICH_WEIGHTS = cumulative([40, 25, 10, 15, 5, 5])


class Sessions:
    """Session builders; each adds one viewer's requests from ``t`` (ms, arrival of the first request)."""

    def __init__(self, traffic: Traffic) -> None:
        self.tr = traffic
        self.rng: random.Random = traffic.rng

    def browse(self, client: Client, t: int, ua: str, kind: str, pages: int) -> int:
        tr, rng = self.tr, self.rng
        referer = rng.choice(("https://www.google.com/", "", "", SITE + "/"))
        for n in range(pages):
            path, query, obj = tr.page(rng, t)
            if n == 0 and rng.random() < 0.02:  # typed without https: the distribution redirects
                tr.add(
                    t,
                    client,
                    "GET",
                    path,
                    DEFAULT,
                    query=query,
                    ua=ua,
                    status=301,
                    obj=("text/html", 167),
                    cache="Redirect",
                    protocol="http",
                    kind=kind,
                )
                t += rng.randrange(40, 250)
            status = 200
            if path.startswith("/title/") and rng.random() < 0.012:
                path, status, obj = path + "-old", 404, ("text/html", 0)
            elif path != "/" and rng.random() < 0.08:
                status = 304
            tr.add(
                t,
                client,
                "HEAD" if rng.random() < 0.01 else "GET",
                path,
                DEFAULT,
                query=query,
                ua=ua,
                referer=referer,
                status=status,
                obj=obj,
                kind=kind,
            )
            here = SITE + path
            slug = path.split("/")[2] if path.startswith("/title/") else None
            ta = t + rng.randrange(60, 400)
            for _ in range(rng.randrange(3, 7) if n == 0 else rng.randrange(0, 3)):
                ta = self.asset(client, ta, ua, kind, here, slug)
            for _ in range(rng.randrange(1, 4)):
                ta = self.api_read(client, ta, ua, kind, here)
            referer = here
            t += rng.randrange(4_000, 90_000)
        return t

    def asset(self, client: Client, t: int, ua: str, kind: str, referer: str, slug: str | None) -> int:
        tr, rng = self.tr, self.rng
        path, obj = tr.asset(rng, t, slug)
        status = 304 if rng.random() < 0.12 else 200
        if t >= tr.deploy_ms and rng.random() < 0.004:  # a stale page asks for the bundle the deploy removed
            path, status, obj = f"/static/js/app.{OLD_BUNDLE}.js", 404, ("application/xml", 0)
        tr.add(t, client, "GET", path, STATIC, ua=ua, referer=referer, status=status, obj=obj, kind=kind)
        return t + rng.randrange(5, 150)

    def api_read(self, client: Client, t: int, ua: str, kind: str, referer: str) -> int:
        tr, rng = self.tr, self.rng
        r = rng.random()
        query, status = "", 200
        if r < 0.35:
            path = "/api/catalog"
            query = f"page={rng.randrange(1, 9)}&genre={rng.choice(tr.catalogue.genres)}"
            obj = ("application/json", rng.randrange(3_000, 12_000))
        elif r < 0.65:
            path = f"/api/titles/{tr.catalogue.title(rng)[1]}"
            obj = ("application/json", rng.randrange(2_000, 5_000))
            status = 404 if rng.random() < 0.01 else 200
        elif r < 0.8:
            path, obj = "/api/recommendations", ("application/json", rng.randrange(4_000, 9_000))
        else:
            path, obj = "/api/me", ("application/json", rng.randrange(300, 900))
            status = 401 if rng.random() < 0.15 else 200
        if rng.random() < 0.03:  # CORS preflight from the web player
            tr.add(t, client, "OPTIONS", path, API, query=query, ua=ua, referer=referer, status=204, kind=kind)
            t += rng.randrange(20, 80)
        tr.add(t, client, "GET", path, API, query=query, ua=ua, referer=referer, status=status, obj=obj, kind=kind)
        return t + rng.randrange(10, 200)

    def write(
        self,
        client: Client,
        t: int,
        ua: str,
        kind: str,
        method: str,
        path: str,
        body: int,
        status: int = 204,
        obj: tuple[str, int] = ("", 0),
        query: str = "",
        signals: tuple[Signal, ...] = (),
    ) -> int:
        self.tr.add(
            t,
            client,
            method,
            path,
            API,
            query=query,
            ua=ua,
            referer=SITE + "/",
            status=status,
            obj=obj,
            body=body,
            kind=kind,
            signals=signals,
            headers=(("content-type", "application/json"),),
        )
        return t + self.rng.randrange(20, 300)

    def watch(self, client: Client, t: int, ua: str, kind: str, minutes: int) -> None:
        tr, rng = self.tr, self.rng
        t = self.browse(client, t, ua, kind, 1)
        hour = (t - tr.day_start) // HOUR_MS
        live = 20 <= hour <= 22 and rng.random() < 0.7
        slug = tr.catalogue.title(rng)[0]
        base = f"/video/live/{LIVE_EVENT}" if live else f"/video/{slug}"
        if not live and rng.random() < 0.15:
            self._progressive(client, t, ua, kind, f"/video/{slug}/trailer.mp4")
            return
        player = hls_player(ua)  # Safari on an iPhone hands HLS to the system player
        tr.add(
            t,
            client,
            "GET",
            base + "/master.m3u8",
            VIDEO,
            ua=player,
            obj=("application/vnd.apple.mpegurl", rng.randrange(900, 1_400)),
            kind=kind,
        )
        rendition = rng.choice(RENDITIONS[1:])
        seg = (t - tr.day_start) // 6_000 if live else 0
        t += rng.randrange(50, 300)
        for i in range(minutes * 10):
            if i % 8 == 0:
                if rng.random() < 0.2:
                    rendition = rng.choice(RENDITIONS)
                tr.add(
                    t,
                    client,
                    "GET",
                    f"{base}/{rendition}/index.m3u8",
                    VIDEO,
                    ua=player,
                    obj=("application/vnd.apple.mpegurl", rng.randrange(3_000, 20_000)),
                    kind=kind,
                )
            low, high = _SEGMENT_KB[rendition]
            tr.add(
                t,
                client,
                "GET",
                f"{base}/{rendition}/seg_{seg + i:05d}.ts",
                VIDEO,
                ua=player,
                obj=("video/MP2T", rng.randrange(low, high) * 1_000),
                kind=kind,
            )
            if i % 10 == 9:
                self.write(client, t + 5, ua, kind, "POST", "/api/playback/heartbeat", rng.randrange(120, 200))
            t += rng.randrange(150, 400) if i < 3 else rng.randrange(5_000, 7_000)
            if t >= tr.day_end:
                return
        self.write(client, t, ua, kind, "POST", "/api/progress", rng.randrange(90, 150))

    def _progressive(self, client: Client, t: int, ua: str, kind: str, path: str) -> None:
        """A trailer played as one MP4 file: sequential 2 MiB range requests answered 206."""
        tr, rng = self.tr, self.rng
        size = 18_000_000 + rng.randrange(42_000_000)
        start = 0
        for _ in range(rng.randrange(2, 9)):
            end = min(start + 2_097_152, size) - 1
            tr.add(
                t,
                client,
                "GET",
                path,
                VIDEO,
                ua=ua,
                status=206,
                obj=("video/mp4", size),
                byte_range=(start, end),
                kind=kind,
            )
            start = end + 1
            t += rng.randrange(3_000, 9_000)

    def upload(self, client: Client, t: int, ua: str, kind: str) -> None:
        """A creator uploads a video: initiate, 5 MiB parts, complete, poll; large bodies trip SizeRestrictions."""
        tr, rng = self.tr, self.rng
        t = self.browse(client, t, ua, kind, 1)
        vid = f"{rng.getrandbits(64):016x}"
        ct = (("content-type", "application/json"),)
        json_obj = ("application/json", rng.randrange(200, 400))
        tr.add(
            t,
            client,
            "POST",
            f"/upload/video/{vid}",
            UPLOAD,
            ua=ua,
            status=201,
            obj=json_obj,
            body=rng.randrange(400, 1_500),
            kind=kind,
            headers=ct,
        )
        parts = rng.randrange(2, 13)
        for n in range(1, parts + 1):
            t += rng.randrange(300, 2_500)
            size = 5_242_880 if n < parts else rng.randrange(100_000, 5_242_880)
            req = tr.add(
                t,
                client,
                "PUT",
                f"/upload/video/{vid}/part/{n}",
                UPLOAD,
                ua=ua,
                obj=json_obj,
                body=size,
                kind=kind,
                headers=(("content-type", "application/octet-stream"),),
            )
            if req is not None:
                t = req.t_ms
        t += rng.randrange(200, 800)
        tr.add(
            t,
            client,
            "POST",
            f"/upload/video/{vid}/complete",
            UPLOAD,
            ua=ua,
            obj=json_obj,
            body=rng.randrange(200, 600),
            kind=kind,
            headers=ct,
        )
        if rng.random() < 0.5:
            tr.add(
                t + 900,
                client,
                "POST",
                f"/upload/thumbnail/{vid}",
                UPLOAD,
                ua=ua,
                status=201,
                obj=json_obj,
                body=rng.randrange(80_000, 400_000),
                kind=kind,
                headers=(("content-type", "image/jpeg"),),
            )
        for _ in range(rng.randrange(1, 5)):
            t += rng.randrange(2_000, 6_000)
            tr.add(t, client, "GET", f"/upload/status/{vid}", UPLOAD, ua=ua, obj=json_obj, kind=kind)

    def comment(self, client: Client, t: int, ua: str, kind: str) -> None:
        tr, rng = self.tr, self.rng
        t = self.browse(client, t, ua, kind, rng.randrange(1, 3))
        title = tr.catalogue.title(rng)[1]
        query = f"title={title}"
        tr.add(
            t,
            client,
            "GET",
            "/api/comments",
            API,
            query=query,
            ua=ua,
            referer=SITE + "/",
            obj=("application/json", rng.randrange(2_000, 30_000)),
            kind=kind,
        )
        for _ in range(rng.randrange(1, 4)):
            t += rng.randrange(20_000, 120_000)
            signals: tuple[Signal, ...] = ()
            if rng.random() < 0.6:  # the editor produces HTML: links, embedded images, pasted snippets
                signals = (Signal("xss_body", _RICH_TEXT[pick(rng, _RICH_WEIGHTS)][0]),)
            self.write(
                client,
                t,
                ua,
                kind,
                "POST",
                "/api/comments",
                rng.randrange(200, 4_000),
                201,
                ("application/json", rng.randrange(250, 600)),
                query,
                signals,
            )

    def login(self, client: Client, t: int, ua: str, kind: str) -> None:
        status = 401 if self.rng.random() < 0.08 else 200
        t = self.write(
            client,
            t,
            ua,
            kind,
            "POST",
            "/api/login",
            self.rng.randrange(70, 120),
            status,
            ("application/json", 180 if status == 200 else 64),
        )
        self.browse(client, t + 500, ua, kind, self.rng.randrange(1, 5))

    def geo_blocked(self, client: Client, t: int) -> None:
        """CloudFront's geo restriction answers 403 itself (ClientGeoBlocked); the origin never sees it."""
        for _ in range(self.rng.randrange(1, 4)):
            path, query, _ = self.tr.page(self.rng, t)
            req = self.tr.add(
                t, client, "GET", path, DEFAULT, query=query, status=403, cache="Miss", obj=("text/html", 0)
            )
            if req is not None:
                req.detailed = "ClientGeoBlocked"
                req.ttfb_ms = req.taken_ms = 1 + self.rng.randrange(3)
                req.t_ms = t + req.taken_ms
            t += self.rng.randrange(2_000, 20_000)


def session(s: Sessions, client: Client, t: int, ua: str, kind: str, mix: list[float]) -> None:
    """One session of a kind drawn with ``mix`` (cumulative weights of browse/watch/comment/upload/login)."""
    rng = s.rng
    choice = pick(rng, mix)
    if choice == 0:
        s.browse(client, t, ua, kind, rng.randrange(1, 11))
    elif choice == 1:
        s.watch(client, t, ua, kind, rng.randrange(2, 13) if kind == "background" else rng.randrange(1, 5))
    elif choice == 2:
        s.comment(client, t, ua, kind)
    elif choice == 3:
        s.upload(client, t, ua, kind)
    else:
        s.login(client, t, ua, kind)


def _incident_floor(s: Sessions, pool: list[Client]) -> None:
    """A few ordinary requests certain to fall inside each incident window (cache misses that reach the
    origin), so that even a tiny scenario has every planted fact."""
    tr, rng = s.tr, s.rng
    viewers = [c for c in pool if c.country not in GEO_BLOCKED]

    def at(window: tuple[tuple[int, int], tuple[int, int]]) -> int:
        lo, hi = incidents.window_ms(tr, window)
        return lo + rng.randrange(hi - lo - 90_000)  # leaves room to finish inside the window

    for _ in range(8):
        c = rng.choice(viewers)
        tr.add(
            at(incidents.STORM_5XX),
            c,
            "GET",
            "/api/catalog",  # not /api/recommendations*: its origin-response function hides failures
            API,
            ua=c.ua,
            cache="Miss",
            obj=("application/json", rng.randrange(4_000, 9_000)),
        )
        s.write(c, at(incidents.STORM_5XX), c.ua, "background", "POST", "/api/playback/heartbeat", 150)
        tr.add(
            at(incidents.STORM_429),
            c,
            "GET",
            f"/live/{LIVE_EVENT}",
            DEFAULT,
            ua=c.ua,
            cache="Miss",
            obj=("text/html", rng.randrange(38_000, 52_000)),
        )
        t = at(incidents.VIDEO_429)
        tr.add(
            t,
            c,
            "GET",
            f"/video/live/{LIVE_EVENT}/720p/seg_{(t - tr.day_start) // 6_000:05d}.ts",
            VIDEO,
            ua=hls_player(c.ua),
            cache="Miss",
            obj=("video/MP2T", rng.randrange(900, 1_500) * 1_000),
        )
        tr.add(
            at(incidents.SINGLE_ORIGIN),
            c,
            "PUT",
            f"/upload/video/{rng.getrandbits(64):016x}/part/1",
            UPLOAD,
            ua=c.ua,
            body=5_242_880,
            obj=("application/json", 240),
            headers=(("content-type", "application/octet-stream"),),
        )


def background(tr: Traffic, clients: ClientFactory, target: int, scale: float) -> None:
    """Ordinary viewers until about ``target`` requests exist; returning viewers are likelier."""
    rng, start = tr.rng, len(tr.requests)
    pool = [clients.viewer() for _ in range(max(300, round(7_000 * scale)))]
    pool_cum = cumulative([1.0 / (i + 20) for i in range(len(pool))])
    hours = cumulative(list(DIURNAL))
    mix = cumulative([0.66, 0.1, 0.09, 0.07, 0.08])
    s = Sessions(tr)
    _incident_floor(s, pool)
    while len(tr.requests) - start < target:
        client = pool[pick(rng, pool_cum)]
        t = tr.day_start + pick(rng, hours) * HOUR_MS + rng.randrange(HOUR_MS)
        if client.country in GEO_BLOCKED:
            s.geo_blocked(client, t)
        else:
            session(s, client, t, client.ua, "background", mix)


def office(tr: Traffic, clients: ClientFactory, target: int) -> None:
    """The office NAT 203.0.113.10: employees' sessions 08:00-18:00, each with its own browser."""
    rng, start = tr.rng, len(tr.requests)
    nat = clients.office()
    mix = cumulative([0.82, 0.1, 0.04, 0.0, 0.04])
    s = Sessions(tr)
    first, span = tr.day_start + 8 * HOUR_MS, 10 * HOUR_MS - 15 * 60_000
    while len(tr.requests) - start < target:
        session(s, nat, first + rng.randrange(span), clients.user_agent(), "office", mix)
