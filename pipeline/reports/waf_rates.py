"""The rate-based rule section of the WAF rollout report.

Owns sizing advice for rate-based rules: the site-wide per-IP recommendation per evaluation window
(``rate-limit-recommendation``), each key's peak against candidate limits (``rate-sizing``,
``rate-limit-table``), and, for every rate-based rule configured in the ingested web ACL whose
scope-down is a plain ``UriPath STARTS_WITH`` match, the same numbers inside that scope next to the
configured limit, so the report can say whether the rule as configured would have fired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.readers.webacl import uri_prefix
from pipeline.reports import plots
from pipeline.reports.common import analysis
from pipeline.reports.exclusions import AclRule
from pipeline.reports.html import Col, Html, command, el, join, table

_KEY_TYPES = {"IP": "ip", "FORWARDED_IP": "forwarded_ip"}
_REC_COLS = [
    Col("window_s", "Window (s)", numeric=True),
    Col("key_type", "Key"),
    Col("recommended_limit", "Recommended limit", numeric=True),
    Col("legit_max_peak", "Busiest legit key's peak", numeric=True),
    Col("suspect_keys_over_limit", "Suspect keys over it", numeric=True),
    Col("legit_keys_over_limit", "Legit keys over it", numeric=True),
    Col("headroom", "Headroom", lambda v: f"{float(v):.0%}", numeric=True),
]
_TABLE_COLS = [
    Col("window_s", "Window (s)", numeric=True),
    Col("limit", "Limit", numeric=True),
    Col("legit_keys_limited", "Legit keys limited", numeric=True),
    Col("suspect_keys_limited", "Suspect keys limited", numeric=True),
    Col("legit_requests_over", "Legit requests over", numeric=True),
    Col("suspect_requests_over", "Suspect requests over", numeric=True),
]
_KEY_COLS = [
    Col("key", "Key"),
    Col("classification", "Class"),
    Col("peak_requests", "Peak", numeric=True),
    Col("peak_window_start", "Peak window start (UTC)"),
    Col("requests", "Requests", numeric=True),
    Col("reasons", "Why", wide=True),
]


@dataclass(frozen=True)
class RateRule:
    name: str
    limit: int
    window_s: int
    key_type: str | None  # the rate-sizing key type, None when it has no equivalent here
    prefix: str | None
    scoped_otherwise: bool  # a scope-down this report cannot reproduce

    @classmethod
    def from_acl(cls, rule: AclRule) -> RateRule | None:
        stmt = rule.statement.get("RateBasedStatement")
        if not isinstance(stmt, dict) or not isinstance(stmt.get("Limit"), int):
            return None
        scope = stmt.get("ScopeDownStatement")
        prefix = uri_prefix(scope)
        return cls(
            rule.name,
            int(stmt["Limit"]),
            int(stmt.get("EvaluationWindowSec") or 300),
            _KEY_TYPES.get(str(stmt.get("AggregateKeyType"))),
            prefix,
            scope is not None and prefix is None,
        )


def _configured_block(i: int, rule: RateRule, lake: str, base: Mapping[str, Any], figs: dict[str, Any]) -> Html:
    scope = f" on paths starting with {rule.prefix!r}" if rule.prefix else ""
    head = el(
        "h3",
        f"Configured: {rule.name} — {rule.limit:,} requests per {rule.window_s} s per {rule.key_type or 'key'}{scope}",
    )
    if rule.key_type is None or rule.scoped_otherwise:
        return join(
            [
                head,
                el(
                    "p",
                    "Its aggregation key or scope-down is not one this report can replay; size it "
                    "with edgelake query rate-sizing and the matching parameters.",
                    class_="muted",
                ),
            ]
        )
    params = {**base, "key_type": rule.key_type, "windows": [rule.window_s], "path_prefix": rule.prefix}
    rec, rec_cmd = analysis("rate-limit-recommendation", lake, params)
    keys, keys_cmd = analysis("rate-sizing", lake, params)
    over = [k for k in keys if int(k["peak_requests"]) > rule.limit]
    suspect = [k for k in keys if k["classification"] == "suspect"]
    busiest = max((int(k["peak_requests"]) for k in suspect), default=0)
    legit_over = sum(1 for k in over if k["classification"] == "legit")
    verdict = (
        f"At its limit it would have limited {len(over) - legit_over} of {len(suspect)} suspect keys "
        f"(busiest suspect peak {busiest:,}) and {legit_over} legitimate keys."
    )
    if rec:
        verdict += f" Recommended for this scope: {int(rec[0]['recommended_limit']):,}."
    fig_id = f"rate-rule-{i}"
    figs[fig_id] = plots.rate_peaks(keys, rec, [], [(rule.name, rule.limit, rule.window_s)])
    return join(
        [
            head,
            el("p", verdict),
            el("div", class_="plot", id=fig_id, data_spec=f"{fig_id}-data"),
            command(rec_cmd),
            table(_REC_COLS, rec),
            command(keys_cmd),
            table(
                _KEY_COLS,
                sorted(keys, key=lambda k: -int(k["peak_requests"]))[:15],
                caption="Busiest keys in this scope",
            ),
        ]
    )


def rate_section(
    lake: str, base: Mapping[str, Any], acl: Sequence[AclRule]
) -> tuple[Html, dict[str, Any], list[tuple[str, str]]]:
    """(markup, plot specs, summary cards) of the rate-based rule section."""
    rec, rec_cmd = analysis("rate-limit-recommendation", lake, {**base, "key_type": "ip"})
    keys, keys_cmd = analysis("rate-sizing", lake, {**base, "key_type": "ip"})
    grid, grid_cmd = analysis("rate-limit-table", lake, {**base, "key_type": "ip"})
    configured = [r for r in (RateRule.from_acl(a) for a in acl if a.kind == "rate_based") if r is not None]
    candidates = sorted({int(g["limit"]) for g in grid})
    unscoped = [(r.name, r.limit, r.window_s) for r in configured if r.prefix is None and r.key_type == "ip"]
    figs: dict[str, Any] = {"rate-peaks": plots.rate_peaks(keys, rec, candidates, unscoped)}
    widest = max((int(k["window_s"]) for k in keys), default=300)
    shown_window = 300 if any(int(k["window_s"]) == 300 for k in keys) else widest
    top = [k for k in keys if int(k["window_s"]) == shown_window][:20]
    parts = [
        el("h2", "Rate-based rule", id="rates"),
        el(
            "p",
            "Per client IP, the most requests in any trailing window, evaluated every 10 s as WAF does. "
            "Each key is legit or suspect from its outcomes (4xx/401/403 answers, WAF terminations, bot "
            "labels, URI spread). The recommendation is the smallest limit that limits no legit key, "
            "plus headroom. Dotted lines: candidate limits.",
        ),
        el("div", class_="plot", id="rate-peaks", data_spec="rate-peaks-data"),
        command(rec_cmd),
        table(_REC_COLS, rec),
        el("h3", "Candidate limits"),
        command(grid_cmd),
        table(_TABLE_COLS, grid),
        el("h3", f"Busiest keys ({shown_window} s window)"),
        command(keys_cmd),
        table(_KEY_COLS, top),
    ]
    for i, rule in enumerate(configured, start=1):
        parts.append(_configured_block(i, rule, lake, base, figs))
    summary = []
    at = next((r for r in rec if int(r["window_s"]) == 300), rec[0] if rec else None)
    if at is not None:
        summary.append((f"{int(at['recommended_limit']):,}", f"per-IP limit per {int(at['window_s'])} s"))
    return join(parts), figs, summary
