"""The edge incident review (Streamhaul style): what failed, where, whether failover could help, and when.

Owns the incident report's story. Sections: the doctor's findings (:mod:`.findings`); a generated
timeline; status mix per origin per minute (stacked); failures per minute, failover-eligible vs the
gaps no origin group closes; hit ratio per behavior per hour with detected regressions marked; the top
URIs and client IPs of the window. The window totals come from the named queries (``status-mix``,
``failover``, ``failover-episodes``, ``hit-ratio``, ``hit-ratio-regressions``); the per-minute series
from SQL over the same table macros those queries use (``resolved_requests``, ``failures``), so both
add up to the same numbers. Every section shows the command that reproduces it; every value is
escaped by :mod:`pipeline.reports.html`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.errors import UsageError
from pipeline.reports import findings, plots
from pipeline.reports.common import Window, analysis, iso, sql_rows
from pipeline.reports.html import Col, Document, Html, command, el, join, masthead, pct, table

LOG = "cloudfront"
BASELINE_HOURS = 6  # hit-ratio-regressions' default baseline_hours
MEANING = {
    "eligible": "an origin group would retry these on its secondary",
    "gap_status": "no failover: the status is not in the group's failover criteria (429 unless configured)",
    "gap_method": "no failover: origin groups never retry writes (POST/PUT/PATCH/DELETE); only a config "
    "CloudFront would refuse puts writes on a group (see Findings)",
    "no_group": "no failover possible: the behavior targets a single origin",
    "no_config": "no distribution config ingested: origin is the Host header",
}


def _num(key: str, label: str, fmt: Any = None) -> Col:
    return Col(key, label, fmt, numeric=True)


_MIX_COLS = [
    Col("origin", "Origin"),
    _num("sc_status", "Status"),
    _num("requests", "Requests"),
    _num("share", "Share of origin", pct),
]
_FAILOVER_COLS = [
    Col("target", "Target"),
    Col("category", "Category"),
    _num("sc_status", "Status"),
    _num("requests", "Requests"),
    Col("first_seen", "First seen"),
    Col("last_seen", "Last seen"),
]
_EPISODE_COLS = [
    Col("target", "Target"),
    Col("started_at", "Started"),
    Col("ended_at", "Ended"),
    _num("failures", "Failures"),
    _num("peak_failures_per_minute", "Peak/min"),
    _num("peak_failure_rate", "Peak failure rate", pct),
    Col("dominant_category", "Mostly"),
    _num("dominant_status", "Status"),
]
_HIT_COLS = [
    Col("behavior", "Behavior"),
    Col("started_at", "Started"),
    Col("ended_at", "Ended"),
    _num("hours", "Hours"),
    _num("baseline_ratio", "Baseline", pct),
    _num("ratio_during", "During", pct),
    _num("drop", "Drop", pct),
]
_URI_COLS = [
    Col("uri", "URI", wide=True),
    _num("requests", "Requests"),
    _num("status_5xx", "5xx"),
    _num("status_429", "429"),
    _num("other_4xx", "Other 4xx"),
    _num("clients", "Clients"),
]
_IP_COLS = [
    Col("client_ip", "Client IP"),
    _num("requests", "Requests"),
    _num("distinct_uris", "URIs"),
    _num("status_5xx", "5xx"),
    _num("status_429", "429"),
    _num("other_4xx", "Other 4xx"),
    Col("user_agent", "Most frequent user agent", wide=True),
]
_TIMELINE_COLS = [
    Col("at", "When (UTC)"),
    Col("until", "Until"),
    Col("event", "What happened", wide=True),
    Col("meaning", "What it means"),
    Col("source", "From"),
]


def timeline(
    episodes: Sequence[Mapping[str, Any]],
    regressions: Sequence[Mapping[str, Any]],
    failover_rows: Sequence[Mapping[str, Any]],
    window: tuple[datetime, datetime],
) -> list[dict[str, Any]]:
    """Events in time order: failure episodes, hit-ratio regressions, first and last failure per gap."""
    events: list[dict[str, Any]] = []
    for e in episodes:
        rate = e["peak_failure_rate"]
        events.append(
            {
                "at": e["started_at"],
                "until": e["ended_at"],
                "source": "failover-episodes",
                "event": (
                    f"{e['target']}: {int(e['failures']):,} failures, peak {e['peak_failures_per_minute']}"
                    f"/min ({pct(rate)} of its requests), mostly {e['dominant_category']} "
                    f"{e['dominant_status']}"
                ),
                "meaning": MEANING.get(str(e["dominant_category"]), ""),
            }
        )
    for r in regressions:
        events.append(
            {
                "at": r["started_at"],
                "until": r["ended_at"],
                "source": "hit-ratio-regressions",
                "event": (
                    f"hit ratio of {r['behavior']} fell from {pct(r['baseline_ratio'])} to "
                    f"{pct(r['ratio_during'])} for {r['hours']} h"
                ),
                "meaning": "more requests reach the origin: a cache key change (header, cookie, query "
                "string) after a deploy is the usual cause",
            }
        )
    for f in failover_rows:
        if any(
            e["target"] == f["target"] and e["started_at"] <= f["first_seen"] and f["last_seen"] <= e["ended_at"]
            for e in episodes
        ):
            continue  # an episode of that target already tells it
        events.append(
            {
                "at": f["first_seen"],
                "until": f["last_seen"],
                "source": "failover",
                "event": f"{f['target']}: {int(f['requests']):,} × {f['sc_status']} ({f['category']})",
                "meaning": MEANING.get(str(f["category"]), ""),
            }
        )
    start, end = window
    events = [e for e in events if e["until"] is None or e["until"] >= start]
    events = [e for e in events if e["at"] is None or e["at"] < end]
    return sorted(events, key=lambda e: (e["at"], e["source"], e["event"]))


def plot(pid: str, tall: bool = False) -> Html:
    return el("div", class_="plot tall" if tall else "plot", id=pid, data_spec=f"{pid}-data")


def build(
    lake: str, *, start: datetime, end: datetime, distribution: str | None = None, context_hours: int = 8
) -> Document:
    """The incident report for [start, end) (render it with ``.render()``)."""
    from pipeline.query.views import connect

    if end <= start:
        raise UsageError(f"--end {iso(end)} is not after --start {iso(start)}")
    window = Window(start, end)
    base = {**window.params(), "distribution": distribution}
    sql_params = {"log": LOG, "start": start, "end": end, "distribution": distribution}
    con = connect(lake)
    try:
        fail_minutes, fail_cmd = sql_rows(con, lake, "incident-failures-per-minute", sql_params)
        uris, uris_cmd = sql_rows(con, lake, "incident-top-uris", sql_params)
        ips, ips_cmd = sql_rows(con, lake, "incident-top-clients", sql_params)
    finally:
        con.close()
    mix, mix_cmd = analysis("status-mix", lake, base)
    per_minute, minutes_cmd = analysis("status-mix", lake, {**base, "bucket": "minute"})
    minutes = [
        {"minute": r["bucket_start"], "origin": r["origin"], "status": r["sc_status"], "requests": r["requests"]}
        for r in per_minute
    ]
    failover, failover_cmd = analysis("failover", lake, base)
    episodes, episodes_cmd = analysis("failover-episodes", lake, {**base, "min_failures": 3, "gap_s": 300})
    ctx_start = (start - timedelta(hours=context_hours)).replace(minute=0, second=0, microsecond=0)
    ctx = {"start": iso(ctx_start), "end": iso(end), "distribution": distribution}
    hits, hits_cmd = analysis("hit-ratio", lake, {**ctx, "bucket": "hour"})
    # the detector compares each hour with the hours before it: give it its baseline before the plotted range
    baseline = ctx_start - timedelta(hours=BASELINE_HOURS)
    regs, regs_cmd = analysis("hit-ratio-regressions", lake, {**ctx, "start": iso(baseline)})
    regs = [r for r in regs if r["ended_at"] is None or r["ended_at"] >= ctx_start]
    events = timeline(episodes, regs, failover, (start, end))
    # the doctor over the same stretch the hit-ratio regressions look at (their baseline, then the window)
    doctor_window = Window(baseline, end)
    doctor = findings.diagnose(lake, doctor_window, distribution)

    origins = sorted({str(r["origin"]) for r in minutes})
    figs = {
        "status-minutes": plots.status_minutes(minutes, origins),
        "failure-minutes": plots.failure_minutes(fail_minutes),
        "hit-ratio": plots.hit_ratio_lines(hits, regs, (start, end)),
    }
    total = sum(int(r["requests"]) for r in minutes)
    by_cat: dict[str, int] = {}
    for r in fail_minutes:
        by_cat[str(r["category"])] = by_cat.get(str(r["category"]), 0) + int(r["requests"])
    failures = sum(by_cat.values())
    gaps = failures - by_cat.get("eligible", 0)
    throttled = sum(int(r["requests"]) for r in minutes if int(r["status"]) == 429)
    cards = [
        (f"{total:,}", "requests in the window"),
        (f"{failures:,}", "origin failures"),
        (f"{by_cat.get('eligible', 0):,}", "failover-eligible"),
        (f"{gaps:,}", "in a failover gap"),
        (f"{throttled:,}", "answered 429"),
        (f"{len(regs)}", "hit-ratio regressions nearby"),
        (findings.counts(doctor.findings), "doctor findings (warn or worse / all)"),
    ]
    title = f"Edge incident review: {iso(start)} to {iso(end)}"
    body = join(
        [
            *masthead(
                title,
                f"Distribution: {distribution or 'all'}. Log: {LOG}. Generated "
                f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')}Z by edgelake.",
                (
                    ("findings", "Findings"),
                    ("timeline", "Timeline"),
                    ("status", "Status mix"),
                    ("failover", "Failover"),
                    ("cache", "Hit ratio"),
                    ("top", "Top URIs and IPs"),
                ),
                cards,
            ),
            findings.section(
                doctor,
                f"{doctor_window.describe()} (the window, and the hours the hit-ratio baseline needs before it)",
                findings.doctor_command(lake, doctor_window, distribution),
            ),
            el("h2", "Timeline", id="timeline"),
            el(
                "p",
                "Generated from the failure episodes, the failover rows and the hit-ratio regressions that touch "
                "the window, in time order.",
            ),
            table(_TIMELINE_COLS, events, empty="Nothing failed and no regression touched this window."),
            command(episodes_cmd),
            el("h2", "Status mix per origin, per minute", id="status"),
            el(
                "p",
                "Requests per minute by status code for each origin or origin group a behavior targets. 429 in "
                "purple, 5xx in red.",
            ),
            plot("status-minutes", len(origins) > 2),
            command(minutes_cmd),
            el("h3", "Window totals"),
            command(mix_cmd),
            table(_MIX_COLS, mix, class_="compact"),
            el("h2", "Failover events vs gaps", id="failover"),
            el(
                "p",
                "Origin failures per minute (WAF blocks and errors the edge made itself are left out). "
                "eligible: the target is an origin group and the status is in its failover criteria, so "
                "CloudFront would retry on the secondary (inferred from the config: no log field says which "
                "origin answered). Everything else is a gap no origin group closes.",
            ),
            plot("failure-minutes"),
            command(fail_cmd),
            el("h3", "Failures by target, category and status"),
            command(failover_cmd),
            table(_FAILOVER_COLS, failover, empty="No origin failure in this window."),
            el("h3", "Episodes"),
            command(episodes_cmd),
            table(_EPISODE_COLS, episodes, empty="No episode."),
            el("h2", "Hit ratio per behavior", id="cache"),
            el(
                "p",
                f"Hourly, from {context_hours} h before the window (grey) to its end; regressions detected "
                "against each behavior's own recent baseline are shaded red.",
            ),
            plot("hit-ratio"),
            command(hits_cmd),
            command(regs_cmd),
            table(_HIT_COLS, regs, empty="No hit-ratio regression detected."),
            el("h2", "Top URIs and client IPs in the window", id="top"),
            el("h3", "URIs"),
            command(uris_cmd),
            table(_URI_COLS, uris, empty="No requests."),
            el("h3", "Client IPs"),
            command(ips_cmd),
            table(_IP_COLS, ips, empty="No requests."),
        ]
    )
    return Document(title, el("main", body), figs, generated="incident")
