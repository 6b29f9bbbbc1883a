"""The doctor's checks, in the order the issue and the seed's playbook list them.

Each entry names a check (its id is stable: findings and ``checks`` refer to it), says which playbook
row or seed section it runs, and points at the function that runs it. A check function takes the
:class:`~pipeline.doctor.context.Context` and its :class:`~pipeline.doctor.model.CheckResult` (to
mark itself not checked, with what it needs, or to add notes) and returns its findings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.doctor import cache, deploy, edge, failover, origins, transport, waf
from pipeline.doctor.context import Context
from pipeline.doctor.model import CheckResult, Finding

CheckFn = Callable[[Context, CheckResult], list[Finding]]


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    playbook: str
    run: CheckFn


CHECKS: tuple[Check, ...] = (
    Check("config.undeployable", "Config that CloudFront would refuse", deploy.PLAYBOOK, deploy.check),
    Check(
        "failover.silently-off",
        "Failover silently off (behavior aimed at a group member)",
        failover.ROW1,
        failover.silently_off,
    ),
    Check(
        "failover.status-gap",
        "The 429/4xx gap: failures outside a group's failover criteria",
        failover.ROW2,
        failover.status_gap,
    ),
    Check(
        "failover.writes-unprotected",
        "Writes failing with no edge failover",
        failover.WRITES,
        failover.writes_unprotected,
    ),
    Check(
        "edge-code.hides-failures", "Edge code that can hide origin failures", edge.PLAYBOOK_HIDE, edge.hides_failures
    ),
    Check("cache.hit-ratio-regression", "Hit-ratio regression and the change behind it", cache.ROW3, cache.regressions),
    Check("cache.key-defeats-cache", "A cache key that defeats the cache", cache.ROW3_PROXY, cache.key_defeats_cache),
    Check(
        "origin.errors-by-kind", "Origin errors by kind, with onset", origins.PLAYBOOK_ERRORS, origins.errors_by_kind
    ),
    Check("transport.security", "Transport security, viewer to edge to origin", transport.ROW11, transport.check),
    Check("origin-shield.placement", "Origin Shield placement", origins.PLAYBOOK_SHIELD, origins.shield_placement),
    Check(
        "waf.configuration",
        "The web ACL: scope, presence, false-positive blocks, rate limits, capacity",
        waf.ROW6,
        waf.check,
    ),
    Check("edge.own-errors", "Errors CloudFront made itself", edge.PLAYBOOK_EDGE, edge.own_errors),
)
