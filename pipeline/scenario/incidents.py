"""The day's incidents, the edge's own errors, and the final response sizes of every request.

Owns the planted failures (each turns some ordinary cache misses into origin errors inside a time
window, judged on the request's ``t_ms``, which incidents never move): the 5xx storm on the API
group's primary and the failing writes during it, the 429 storms (default behavior, whose group does
not fail over on 429, and ``/video/*``, whose group does), the single-origin upload outage; a thin
background of ordinary origin errors through the day; and errors CloudFront generates itself
(CapacityExceeded, LimitExceeded, Lambda@Edge and CloudFront Functions failures, viewers hanging up).
:func:`finish` settles content type, content length and bytes sent once statuses are final.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pipeline.scenario.traffic import HOUR_MS, Request, Traffic
from pipeline.scenario.world import API, DEFAULT, STATIC, UPLOAD, VIDEO, Behavior

# (start, end) as (hour, minute) UTC; a request belongs to a window when start <= t < end.
STORM_5XX = ((10, 0), (10, 20))
STORM_429 = ((20, 3), (20, 25))
VIDEO_429 = ((20, 5), (20, 20))
SINGLE_ORIGIN = ((15, 0), (15, 30))
CAPACITY = ((20, 30), (20, 32))
_ORIGIN_DETAIL = {500: "OriginError", 503: "OriginError", 504: "OriginCommError", 429: "Error"}
_EDGE_PAGE = 915  # bytes of CloudFront's own error page


def window_ms(tr: Traffic, window: tuple[tuple[int, int], tuple[int, int]]) -> tuple[int, int]:
    (h0, m0), (h1, m1) = window
    return tr.day_start + h0 * HOUR_MS + m0 * 60_000, tr.day_start + h1 * HOUR_MS + m1 * 60_000


def _ordinary(req: Request) -> bool:
    """A legitimate request the origin answered normally: the only kind incidents may turn into errors."""
    return (
        req.kind in ("background", "office")
        and req.status < 400
        and not req.waf_blocked
        and req.result in ("Hit", "RefreshHit", "Miss")
        and req.detailed != "ClientGeoBlocked"
    )


def origin_failure(req: Request, status: int, rng: random.Random, day_start: int) -> None:
    """The origin (or the connection to it) failed: CloudFront returns ``status`` as an Error."""
    if status == 502:
        detailed = "OriginConnectError" if rng.random() < 0.7 else "OriginError"
    else:
        detailed = _ORIGIN_DETAIL[status]
    req.status, req.result, req.response_result, req.detailed = status, "Error", "Error", detailed
    req.byte_range = None
    if detailed == "OriginConnectError":
        ttfb = rng.randrange(2_000, 10_000)  # connection attempts time out
    elif detailed == "OriginCommError":
        ttfb = rng.randrange(30_000, 30_300)  # the origin read timeout
    else:
        ttfb = rng.randrange(20, 400)
    json_api = req.behavior.family in ("api", "upload")
    req.obj_type = "application/json" if json_api else "text/html"
    req.obj_len = rng.randrange(40, 160) if json_api else rng.randrange(500, 1_200)
    req.ttfb_ms = min(ttfb, req.t_ms - day_start)  # the request still arrived on this day
    req.taken_ms = req.ttfb_ms


def edge_error(req: Request, result: str, detailed: str, rng: random.Random) -> None:
    """CloudFront answered 503 itself (capacity, a quota, a failed edge function)."""
    req.status, req.result, req.response_result, req.detailed = 503, result, result, detailed
    req.byte_range = None
    req.obj_type, req.obj_len = "text/html", _EDGE_PAGE
    if result != "LambdaExecutionError":  # an origin-response trigger fails after the origin answered
        req.ttfb_ms = min(rng.randrange(1, 30), req.taken_ms)
        req.taken_ms = req.ttfb_ms


def _fail_some(
    tr: Traffic,
    cands: list[Request],
    share: float,
    minimum: int,
    statuses: tuple[int, ...],
    weights: tuple[int, ...],
    weight: Callable[[Request], float] | None = None,
) -> set[int]:
    """Fail ``max(minimum, share * n)`` of the candidates (all if fewer), drawn with ``weight`` (default even).

    Weighted drawing without replacement: each candidate gets the key u ** (1 / weight), largest keys win.
    Returns the ids of the failed requests.
    """
    rng = tr.rng
    k = min(len(cands), max(minimum, round(share * len(cands))))
    keyed = sorted(cands, key=lambda r: rng.random() ** (1.0 / (weight(r) if weight else 1.0)), reverse=True)
    for req in keyed[:k]:
        origin_failure(req, rng.choices(statuses, weights)[0], rng, tr.day_start)
    return {id(r) for r in keyed[:k]}


def plant(tr: Traffic) -> None:
    """Apply the planted incidents to ordinary cache misses inside their windows."""
    rng = tr.rng
    s5, w429, v429, so = (window_ms(tr, w) for w in (STORM_5XX, STORM_429, VIDEO_429, SINGLE_ORIGIN))
    misses = [r for r in tr.requests if _ordinary(r) and r.detailed == "Miss"]

    def inside(window: tuple[int, int], keep: Callable[[Request], bool]) -> list[Request]:
        return [r for r in misses if window[0] <= r.t_ms < window[1] and keep(r)]

    reads = inside(s5, lambda r: r.behavior.family == "api" and r.method in ("GET", "HEAD", "OPTIONS"))
    failed = _fail_some(tr, reads, 0.30, 5, (502, 503, 504), (45, 35, 20))
    for req in reads:  # the rest failed over to api-secondary: fine, but slow
        if id(req) not in failed and rng.random() < 0.4:
            extra = rng.randrange(1_000, 5_000)
            req.ttfb_ms += extra
            req.taken_ms += extra
    _fail_some(tr, inside(s5, lambda r: r.behavior.family == "api" and r.is_write), 0.55, 5, (502, 503), (60, 40))
    # 9% of the default behavior's misses at 20:03, climbing to 22% by 20:11
    ramp = inside(w429, lambda r: r.behavior is DEFAULT and r.method == "GET")
    _fail_some(tr, ramp, 0.18, 5, (429,), (1,), lambda r: 0.09 + 0.13 * min(1.0, (r.t_ms - w429[0]) / (8 * 60_000)))
    _fail_some(tr, inside(v429, lambda r: r.behavior is VIDEO and r.method == "GET"), 0.4, 3, (429,), (1,))
    _fail_some(tr, inside(so, lambda r: r.behavior is UPLOAD), 0.4, 5, (500, 503), (55, 45))


def _sample(rng: random.Random, reqs: list[Request], keep: Callable[[Request], bool], k: int) -> list[Request]:
    """``k`` distinct ordinary requests that ``keep`` accepts (fewer if there are not enough)."""
    pool = [r for r in reqs if keep(r) and _ordinary(r)]
    return rng.sample(pool, min(k, len(pool)))


def background_errors(tr: Traffic, scale: float) -> None:
    """Ordinary origin errors scattered through the day (every origin has a bad minute now and then)."""
    rng = tr.rng
    reqs = [r for r in tr.requests if r.result == "Miss" and r.detailed == "Miss" and _ordinary(r)]

    def n(base: int) -> int:
        return max(2, round(base * scale))

    def miss(b: Behavior, *methods: str) -> Callable[[Request], bool]:
        return lambda r: r.behavior.family == b.family and r.method in methods

    for req in _sample(rng, reqs, miss(DEFAULT, "GET"), n(20)):
        origin_failure(req, 502, rng, tr.day_start)
    for req in _sample(rng, reqs, miss(DEFAULT, "GET"), n(10)):
        origin_failure(req, 504, rng, tr.day_start)
    for req in _sample(rng, reqs, miss(API, "GET"), n(25)):
        origin_failure(req, 500, rng, tr.day_start)
    for req in _sample(rng, reqs, miss(API, "POST"), n(8)):
        origin_failure(req, 500, rng, tr.day_start)
    for req in _sample(rng, reqs, miss(STATIC, "GET"), n(10)):
        origin_failure(req, 503, rng, tr.day_start)  # S3 asking for a slow-down
    for req in _sample(rng, reqs, miss(VIDEO, "GET"), n(5)):
        origin_failure(req, 504, rng, tr.day_start)
    for req in _sample(rng, reqs, miss(UPLOAD, "PUT", "POST"), n(6)):
        origin_failure(req, 500, rng, tr.day_start)


def edge_errors(tr: Traffic, scale: float) -> None:
    """Errors CloudFront produces itself; the failover analysis must not count them as origin failures."""
    rng = tr.rng
    cap = window_ms(tr, CAPACITY)
    for req in tr.requests:
        if cap[0] <= req.t_ms < cap[1] and req.behavior in (DEFAULT, VIDEO) and _ordinary(req) and rng.random() < 0.08:
            edge_error(req, "CapacityExceeded", "CapacityExceeded", rng)
    reqs = [r for r in tr.requests if _ordinary(r)]
    for req in _sample(rng, reqs, lambda r: r.behavior.is_group, max(3, round(40 * scale))):
        edge_error(req, "LimitExceeded", "LimitExceeded", rng)
    api_misses = lambda r: r.behavior.family == "api" and r.result == "Miss"  # noqa: E731
    for req in _sample(rng, reqs, api_misses, max(3, round(60 * scale))):
        edge_error(req, "LambdaExecutionError", "LambdaExecutionError", rng)
    for req in _sample(rng, reqs, lambda r: r.behavior is DEFAULT, max(3, round(30 * scale))):
        edge_error(req, "Error", "FunctionExecutionError", rng)
    # viewers that hang up mid-download: 200 with result Error, the response result type unchanged
    video_ok = [r for r in reqs if r.behavior is VIDEO and r.status == 200 and _ordinary(r)]
    for req in rng.sample(video_ok, len(video_ok) // 300):
        req.result, req.detailed = "Error", "ClientCommError"


def finish(tr: Traffic) -> None:
    """Content type, content length and bytes sent from each request's final status."""
    for req in tr.requests:
        s = req.status
        if req.waf_blocked or req.detailed == "ClientGeoBlocked":
            req.obj_type, req.obj_len = "text/html", _EDGE_PAGE
        elif s >= 400 and req.obj_len == 0:
            req.obj_type, req.obj_len = req.obj_type or "text/html", 240 + req.port % 700
        if s in (204, 304):
            req.content_type, req.content_len, req.sc_bytes = "", -1, req.hdr_out
        elif s == 206 and req.byte_range is not None:
            length = req.byte_range[1] - req.byte_range[0] + 1
            req.content_type, req.content_len, req.sc_bytes = req.obj_type, length, req.hdr_out + length
        else:
            body = 0 if req.method == "HEAD" else req.obj_len
            if req.detailed == "ClientCommError":
                body = body * (5 + req.port % 90) // 100
            req.content_type, req.content_len, req.sc_bytes = req.obj_type, req.obj_len, req.hdr_out + body
