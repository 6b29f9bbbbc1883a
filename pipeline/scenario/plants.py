"""What the scenario plants for ``edgelake doctor``: traffic that shows the misconfigurations, and a clean twin.

Owns three things. Traffic added to the Streamhaul day: a newsletter's share links whose tracking
query strings are over 2 KB, which the Common rule set's ``SizeRestrictions_QUERYSTRING`` blocks
(an enforcing managed rule blocking legitimate viewers), and a few recommendation requests that the
origin fails during the 5xx storm. After the incidents, the origin-response Lambda@Edge function on
``/api/recommendations*`` rewrites every origin error there into a 200 with one fixed 23-byte body,
as seed 002's example does: those failures leave the logs. And the clean twin: a day of ordinary
viewers on distribution ``E2CLEANTWIN01`` (configured as it should be) where nothing fails.

Everything here draws from random generators of its own, seeded from the scenario's seed, so the
main day's requests, and every fact counted from them before, stay what they were. Planted requests
have their own ``kind``: the incidents never pick them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pipeline.scenario import incidents, waf
from pipeline.scenario.sessions import DIURNAL, Sessions, session
from pipeline.scenario.traffic import HOUR_MS, Request, Signal, Traffic
from pipeline.scenario.world import (
    API_RECS,
    DEFAULT,
    GEO_BLOCKED,
    WATCHED_COUNTRIES,
    ClientFactory,
    ScenarioRandom,
    cumulative,
    pick,
)

LAMBDA_BODY = b"Body generation example"  # seed 002's origin-response function answers with this body
CAMPAIGN = ((9, 0), (11, 0))  # a newsletter goes out: share links with long tracking query strings
CAMPAIGN_SLUG = "midnight-harbor"
QUERY_SIZE_LIMIT = 2_048  # SizeRestrictions_QUERYSTRING blocks query strings longer than this


@contextlib.contextmanager
def _own_random(tr: Traffic, clients: ClientFactory, seed: int) -> Iterator[ScenarioRandom]:
    """Let ``tr`` and ``clients`` draw from a generator of their own while planting (restored after)."""
    rng = ScenarioRandom(seed)
    saved = tr.rng, clients.rng
    tr.rng = clients.rng = rng
    try:
        yield rng
    finally:
        tr.rng, clients.rng = saved


def _campaign_query(rng: ScenarioRandom) -> str:
    tracking = "".join(
        rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(2_300)
    )
    return (
        "utm_source=newsletter&utm_medium=email&utm_campaign=spring-premieres"
        f"&mc_eid={rng.getrandbits(40):010x}&trk={tracking}"
    )


def add_traffic(tr: Traffic, clients: ClientFactory, scale: float, seed: int) -> None:
    """Requests planted before the web ACL decides (it must see them): the campaign and the storm floor."""
    with _own_random(tr, clients, seed * 7_919 + 1) as rng:
        lo, hi = (tr.day_start + h * HOUR_MS + m * 60_000 for h, m in CAMPAIGN)
        for _ in range(max(12, round(60 * scale**0.5))):
            client = clients.viewer()
            while client.country in GEO_BLOCKED or client.country in WATCHED_COUNTRIES:
                client = clients.viewer()
            query = _campaign_query(rng)
            tr.add(
                lo + rng.randrange(hi - lo),
                client,
                "GET",
                f"/title/{CAMPAIGN_SLUG}",
                DEFAULT,
                query=query,
                referer="https://mail.example.net/",
                obj=("text/html", rng.randrange(30_000, 48_000)),
                cache="Miss",
                kind="campaign",
                signals=(Signal("size_query", (), "QUERY_STRING"),),
            )
        storm = incidents.window_ms(tr, incidents.STORM_5XX)
        for _ in range(4):
            client = clients.viewer("US")
            tr.add(
                storm[0] + rng.randrange(storm[1] - storm[0] - 90_000),
                client,
                "GET",
                "/api/recommendations",
                API_RECS,
                obj=("application/json", rng.randrange(4_000, 9_000)),
                cache="Miss",
                kind="storm-recs",
            )


def after_incidents(tr: Traffic, seed: int) -> int:
    """Fail the storm's planted recommendation requests, then let the origin-response function rewrite
    every origin error on ``/api/recommendations*``. Returns how many responses it rewrote."""
    rng = ScenarioRandom(seed * 7_919 + 3)
    for req in tr.requests:
        if req.kind == "storm-recs":
            incidents.origin_failure(req, rng.choice((502, 504)), rng, tr.day_start)
    rewritten = 0
    for req in tr.requests:
        if req.behavior is not API_RECS or req.status < 400 or req.waf_blocked:
            continue
        if not (req.detailed.startswith("Origin") or req.detailed == "Error"):
            continue  # the edge's own errors (a failing function) never reach the origin-response event
        req.status, req.result, req.response_result, req.detailed = 200, "Miss", "Miss", "Miss"
        req.obj_type, req.obj_len, req.byte_range = "application/json", len(LAMBDA_BODY), None
        req.rewritten = True
        rewritten += 1
    return rewritten


def twin_traffic(seed: int, scale: float, day_start: int) -> tuple[Traffic, list[waf.Verdict]]:
    """A day on the clean twin: ordinary sessions only, no deploy regression, no incident, no attack."""
    rng = ScenarioRandom(seed * 7_919 + 2)
    tr = Traffic(rng, day_start)
    tr.deploy_ms = tr.day_end  # its cache key never changed
    clients = ClientFactory(rng)
    pool = [clients.viewer() for _ in range(max(80, round(1_500 * scale)))]
    pool = [c for c in pool if c.country not in GEO_BLOCKED]
    hours = cumulative(list(DIURNAL))
    mix = cumulative([0.62, 0.14, 0.1, 0.06, 0.08])
    s = Sessions(tr)
    target = max(400, round(8_000 * scale))
    while len(tr.requests) < target:
        client = pool[rng.randrange(len(pool))]
        session(s, client, day_start + pick(rng, hours) * HOUR_MS + rng.randrange(HOUR_MS), client.ua, "twin", mix)
    verdicts = waf.decide(tr.requests)
    incidents.finish(tr)
    return tr, verdicts


def constant_bodies(reqs: list[Request]) -> int:
    """How many 200s on ``/api/recommendations*`` carry the function's fixed body (the doctor's evidence)."""
    return sum(1 for r in reqs if r.behavior is API_RECS and r.status == 200 and r.rewritten)
