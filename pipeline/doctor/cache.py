"""Checks 6 and 7: a hit-ratio regression with the config change behind it, and cache keys that defeat the cache.

Both read a behavior's cache key: from its cache policy (managed policies are known by id, custom ones
need their get-cache-policy export) or, for legacy behaviors, from ``ForwardedValues``. Regressions
are the ``hit-ratio-regressions`` analysis's; the cause is the change nearest before the regression's
first low hour among every ingested version of the behavior's cache policy and of its distribution
config (a cookie, header or query string added to the key: playbook row 3). Measured hit ratios are
``hit-ratio``'s, so "cacheable" has one definition.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import Behavior, Context, Distribution, shell_quote
from pipeline.doctor.managed import CACHING_DISABLED
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix

ROW3 = "playbook row 3: CacheHitRate collapsed after a deploy (a header, cookie or query string entered the key)"
ROW3_PROXY = "playbook row 3: a ~0% hit-ratio reverse proxy (the cache key holds everything); Best practices"
DIMENSIONS = ("headers", "cookies", "query strings")
_ALL = ("all", "allExcept")

Key = dict[str, tuple[str, tuple[str, ...]]]


def _names(node: Any, key: str) -> tuple[str, ...]:
    items = ((node or {}).get(key) or {}).get("Items") or []
    return tuple(sorted(str(i) for i in items))


def policy_key(config: dict[str, Any]) -> Key:
    """What a CachePolicyConfig puts in the cache key, per dimension: (behavior, names)."""
    p = config.get("ParametersInCacheKeyAndForwardedToOrigin") or {}
    h, c, q = (p.get(k) or {} for k in ("HeadersConfig", "CookiesConfig", "QueryStringsConfig"))
    return {
        "headers": (h.get("HeaderBehavior", "none"), _names(h, "Headers")),
        "cookies": (c.get("CookieBehavior", "none"), _names(c, "Cookies")),
        "query strings": (q.get("QueryStringBehavior", "none"), _names(q, "QueryStrings")),
    }


def legacy_key(forwarded: dict[str, Any]) -> Key:
    """What a legacy behavior's ForwardedValues put in the key (every forwarded value is keyed)."""
    headers = _names(forwarded, "Headers")
    cookies = forwarded.get("Cookies") or {}
    cookie_mode = cookies.get("Forward", "none")
    qs_keys = _names(forwarded, "QueryStringCacheKeys")
    qs = "none" if not forwarded.get("QueryString") else ("whitelist" if qs_keys else "all")
    return {
        "headers": ("all" if "*" in headers else "whitelist" if headers else "none", headers),
        "cookies": (cookie_mode, _names(cookies, "WhitelistedNames")),
        "query strings": (qs, qs_keys),
    }


def describe_change(old: Key, new: Key) -> tuple[list[str], bool]:
    """What changed between two keys, in words, and whether the key grew (more values in it)."""
    words, grew = [], False
    for dim in DIMENSIONS:
        (ob, on), (nb, nn) = old[dim], new[dim]
        added = sorted(set(nn) - set(on))
        removed = sorted(set(on) - set(nn))
        if ob != nb:
            words.append(f"{dim}: {ob} -> {nb}")
            grew = grew or (nb in _ALL and ob not in _ALL) or (ob == "none" and nb == "whitelist")
        if added:
            words.append(f"{dim[:-1]} {', '.join(added)} added to the key")
            grew = grew or nb == "whitelist"
        if removed:
            words.append(f"{dim[:-1]} {', '.join(removed)} taken out of the key")
    return words, grew


@dataclass
class Change:
    at: datetime
    what: list[str]
    grew: bool
    kind: str  # cache-policy | distribution
    config_id: str
    name: str
    before: dict[str, Any]
    after: dict[str, Any]
    etags: tuple[str | None, str | None]


def _behavior_in(config: dict[str, Any], pattern: str) -> dict[str, Any] | None:
    if pattern == "*":
        return config.get("DefaultCacheBehavior")
    items = (config.get("CacheBehaviors") or {}).get("Items") or []
    return next((b for b in items if b.get("PathPattern") == pattern), None)


def _changes(ctx: Context, dist: Distribution, b: Behavior) -> list[Change]:
    out: list[Change] = []
    dist_versions = ctx.versions.get("distribution", {}).get(dist.id, [])
    policy_ids = {b.cache_policy_id} if b.cache_policy_id else set()
    for old, new in pairwise(dist_versions):
        ob, nb = _behavior_in(old.document, b.path_pattern), _behavior_in(new.document, b.path_pattern)
        if ob is None or nb is None:
            continue
        policy_ids |= {p for p in (ob.get("CachePolicyId"), nb.get("CachePolicyId")) if p}
        if ob.get("CachePolicyId") != nb.get("CachePolicyId") or ob.get("ForwardedValues") != nb.get("ForwardedValues"):
            ok, nk = (
                policy_key(ctx.cache_policies[x["CachePolicyId"]].config)
                if x.get("CachePolicyId") in ctx.cache_policies
                else legacy_key(x.get("ForwardedValues") or {})
                for x in (ob, nb)
            )
            words, grew = describe_change(ok, nk)
            if ob.get("CachePolicyId") != nb.get("CachePolicyId"):
                words.insert(0, f"behavior's cache policy {ob.get('CachePolicyId')} -> {nb.get('CachePolicyId')}")
            out.append(
                Change(new.order_time, words, grew, "distribution", dist.id, dist.id, ob, nb, (old.etag, new.etag))
            )
    for pid in sorted(policy_ids):
        versions = ctx.versions.get("cache-policy", {}).get(pid, [])
        for old, new in pairwise(versions):
            words, grew = describe_change(policy_key(old.document), policy_key(new.document))
            if words:
                name = new.name or pid
                out.append(
                    Change(
                        new.order_time,
                        words,
                        grew,
                        "cache-policy",
                        pid,
                        name,
                        old.document,
                        new.document,
                        (old.etag, new.etag),
                    )
                )
    return out


def regressions(ctx: Context, result: CheckResult) -> list[Finding]:
    rows, cmd = ctx.query("hit-ratio-regressions")
    if not ctx.traffic():
        result.status = "not_checked"
        result.needs.append("ingest CloudFront standard or real-time logs (hourly hit ratios per behavior)")
        return []
    if not ctx.versions.get("cache-policy") and len(ctx.versions.get("distribution", {})) == 0:
        result.notes.append(
            "no config versions in the lake: a regression's cause cannot be named; ingest each export of the "
            "distribution config and of its cache policies (get-distribution, get-cache-policy) as it changes"
        )
    findings = []
    for r in rows:
        dist = ctx.distributions.get(r["distribution_id"])
        b = next((x for x in dist.behaviors if x.path_pattern == r["behavior"]), None) if dist else None
        changes = _changes(ctx, dist, b) if dist is not None and b is not None else []
        onset = r["started_at"] + timedelta(hours=1)  # a change inside the first low hour counts
        before = [c for c in changes if c.at <= onset]
        cause = max(before, key=lambda c: (c.at, c.grew)) if before else None
        facts = [
            Fact("started_at", "first low hour", r["started_at"], "logs"),
            Fact("ended_at", "end of the low run", r["ended_at"], "logs"),
            Fact("baseline_ratio", "hit ratio before", r["baseline_ratio"], "logs"),
            Fact("ratio_during", "hit ratio during", r["ratio_during"], "logs"),
            Fact("cacheable_requests", "cacheable requests during", r["cacheable_requests_during"], "logs"),
        ]
        subject = {"distribution_id": r["distribution_id"], "behavior": r["behavior"]}
        if cause is not None:
            facts += [
                Fact("change_at", "config change nearest before", cause.at, "config"),
                Fact("change", "what changed", cause.what, "config"),
                Fact("changed", "which config", f"{cause.kind} {cause.name}", "config"),
                Fact("etags", "ETags before and after the change", list(cause.etags), "config"),
            ]
            if cause.kind == "cache-policy":
                subject["cache_policy"] = cause.name
        summary = (
            f"Hit ratio of {r['behavior']} fell from {r['baseline_ratio']:.0%} to {r['ratio_during']:.0%} from "
            f"{r['started_at']:%Y-%m-%d %H:%M}Z"
            + (
                f"; nearest config change before it: {cause.kind} {cause.name} at {cause.at:%Y-%m-%d %H:%M:%S}Z "
                f"({'; '.join(cause.what)})."
                if cause
                else "; no ingested config change explains it."
            )
        )
        f = Finding(
            id="cache.hit-ratio-regression",
            check="cache.hit-ratio-regression",
            severity="warn",
            playbook=ROW3,
            subject=subject,
            summary=summary,
            facts=facts,
            first_seen=r["started_at"],
            last_seen=r["ended_at"],
            queries=[cmd],
            requests=int(r["cacheable_requests_during"]),
            fix=_revert(ctx, dist, b, cause) if dist is not None and b is not None else None,
        )
        findings.append(f)
    return findings


def _revert(ctx: Context, dist: Distribution, b: Behavior, cause: Change | None) -> Fix:
    move = (
        "If the origin needs the value, forward it with an origin request policy instead: it reaches the origin "
        "without splitting the cache."
    )
    if cause is None:
        return Fix(
            "Diff the behavior's cache key against the last good version; take out what fragments it.",
            None,
            notes=(move,),
        )
    if cause.kind == "cache-policy":
        policy = ctx.cache_policies.get(cause.config_id)
        current = policy.config if policy is not None else cause.after
        params = "/ParametersInCacheKeyAndForwardedToOrigin"
        patch = [
            fixes.replace(f"{params}/{k}", current[params[1:]].get(k), cause.before[params[1:]].get(k))
            for k in ("HeadersConfig", "CookiesConfig", "QueryStringsConfig")
            if current.get(params[1:], {}).get(k) != cause.before.get(params[1:], {}).get(k)
        ]
        return fixes.cache_policy_fix(
            cause.config_id,
            _safe(cause.name),
            current,
            policy.etag if policy is not None else None,
            f"Put cache policy {cause.name}'s key back as it was before {cause.at:%Y-%m-%d %H:%M}Z.",
            patch,
        )
    old_id = cause.before.get("CachePolicyId")
    patch = []
    if old_id and b.doc is not None and b.doc.get("CachePolicyId") != old_id:
        patch = [fixes.replace(f"{b.pointer}/CachePolicyId", b.doc.get("CachePolicyId"), old_id)]
    return fixes.distribution_fix(dist, f"Give {b.path_pattern} back its previous cache key.", patch, [move])


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "policy"


def key_defeats_cache(ctx: Context, result: CheckResult) -> list[Finding]:
    if not ctx.distributions:
        result.status = "not_checked"
        result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output (cache policy per behavior)")
        return []
    ratios, ratio_cmd = ctx.query("hit-ratio")
    names, names_cmd = ctx.query("doctor-query-names")
    findings = []
    for dist in ctx.distributions.values():
        for b in dist.behaviors:
            if "GET" not in b.allowed_methods or b.cache_policy_id == CACHING_DISABLED:
                continue  # CachingDisabled is a deliberate choice
            key, source = _key_of(ctx, b)
            if key is None:
                result.notes.append(
                    f"{dist.id} {b.path_pattern}: cache policy {b.cache_policy_id} not ingested: ingest "
                    f"`aws cloudfront get-cache-policy --id {b.cache_policy_id}` output"
                )
                if b.cache_policy_id:
                    result.needs.append(f"ingest `aws cloudfront get-cache-policy --id {b.cache_policy_id}` output")
                continue
            policy = ctx.policy(b.cache_policy_id)
            if policy is not None and int(policy.config.get("MaxTTL", 1) or 0) == 0:
                continue  # nothing is cached anyway
            everything = [d for d in DIMENSIONS if key[d][0] in _ALL]
            if not everything:
                continue
            row = next((r for r in ratios if r["distribution_id"] == dist.id and r["behavior"] == b.path_pattern), None)
            seen = [n["name"] for n in names if n["distribution_id"] == dist.id and n["behavior"] == b.path_pattern]
            facts = [
                Fact("all_of", "the cache key holds all", everything, "config"),
                Fact("cache_policy", "cache policy", source, "config"),
            ]
            if row is not None:
                facts += [
                    Fact("hit_ratio", "measured hit ratio", row["hit_ratio"], "logs"),
                    Fact("cacheable_requests", "cacheable requests", row["cacheable_requests"], "logs"),
                ]
            facts.append(Fact("query_names", "query string names viewers send (most frequent first)", seen, "logs"))
            measured = f" (measured hit ratio {row['hit_ratio']:.0%})" if row and row["hit_ratio"] is not None else ""
            f = Finding(
                id="cache.key-defeats-cache",
                check="cache.key-defeats-cache",
                severity="warn",
                playbook=ROW3_PROXY,
                subject={"distribution_id": dist.id, "behavior": b.path_pattern}
                | ({"cache_policy": policy.name} if policy else {}),
                summary=(
                    f"The cache key of {b.path_pattern} holds all {' and all '.join(everything)} ({source}): every "
                    f"distinct value is a separate cache entry{measured}."
                ),
                facts=facts,
                queries=[ratio_cmd, names_cmd],
                requests=int(row["requests"]) if row else 0,
                fix=_narrow(ctx, dist, b, key, everything, seen),
            )
            findings.append(f)
    return findings


def _key_of(ctx: Context, b: Behavior) -> tuple[Key | None, str]:
    if b.cache_policy_id:
        policy = ctx.policy(b.cache_policy_id)
        if policy is None:
            return None, b.cache_policy_id
        kind = "managed" if policy.managed else "custom"
        return policy_key(policy.config), f"{kind} cache policy {policy.name} ({policy.id})"
    if b.doc is not None and isinstance(b.doc.get("ForwardedValues"), dict):
        return legacy_key(b.doc["ForwardedValues"]), "legacy ForwardedValues"
    return None, "legacy settings not in the lake"


def _narrowed(config: dict[str, Any], everything: list[str], seen: list[str]) -> dict[str, Any]:
    params = dict(config.get("ParametersInCacheKeyAndForwardedToOrigin") or {})
    if "cookies" in everything:
        params["CookiesConfig"] = {"CookieBehavior": "none"}
    if "query strings" in everything:
        params["QueryStringsConfig"] = (
            {"QueryStringBehavior": "whitelist", "QueryStrings": {"Quantity": len(seen), "Items": sorted(seen)}}
            if seen
            else {"QueryStringBehavior": "none"}
        )
    return params


def _narrow(ctx: Context, dist: Distribution, b: Behavior, key: Key, everything: list[str], seen: list[str]) -> Fix:
    why = (
        "Cookies leave the key (forward the ones the origin needs with an origin request policy); query strings "
        "are limited to the names viewers send on this behavior (from the logs: check each changes the page)."
    )
    policy = ctx.policy(b.cache_policy_id)
    if policy is not None and not policy.managed:
        current = policy.config
        params = _narrowed(current, everything, seen)
        patch = [
            fixes.replace(
                f"/ParametersInCacheKeyAndForwardedToOrigin/{k}",
                (current.get("ParametersInCacheKeyAndForwardedToOrigin") or {}).get(k),
                params[k],
            )
            for k in ("CookiesConfig", "QueryStringsConfig")
            if params.get(k) != (current.get("ParametersInCacheKeyAndForwardedToOrigin") or {}).get(k)
        ]
        fix = fixes.cache_policy_fix(
            policy.id, _safe(policy.name), current, policy.etag, f"Narrow cache policy {policy.name}'s key.", patch
        )
        return Fix(fix.summary, fix.document, fix.patch, fix.diff, fix.commands, (*fix.notes, why))
    if policy is not None:  # managed: cannot be edited; create a narrower policy and point the behavior at it
        name = _safe(f"{dist.id}-{b.path_pattern}-key")[:128]
        config = {
            "Name": name,
            "Comment": f"{policy.name} without all cookies/query strings (edgelake doctor)",
            "MinTTL": policy.config.get("MinTTL", 0),
            "DefaultTTL": policy.config.get("DefaultTTL", 86400),
            "MaxTTL": policy.config.get("MaxTTL", 31536000),
            "ParametersInCacheKeyAndForwardedToOrigin": _narrowed(policy.config, everything, seen),
        }
        return Fix(
            f"{policy.name} is a managed policy: create a narrower one and point {b.path_pattern} at it.",
            "cache-policy",
            (),
            json.dumps(config, indent=2),
            (
                f"aws cloudfront create-cache-policy --cache-policy-config "
                f"{shell_quote(json.dumps(config, separators=(',', ':')))}",
                f"then set CachePolicyId of {b.path_pattern} ({b.pointer}) to the new policy's Id with "
                f"get-distribution-config / update-distribution --id {dist.id} --if-match <ETag>",
            ),
            (why,),
            new_document=config,
        )
    if b.doc is None:
        return Fix("Narrow the behavior's forwarded values.", None, notes=(why,))
    fv = b.doc["ForwardedValues"]
    patch = []
    if "headers" in everything:
        patch.append(fixes.replace(f"{b.pointer}/ForwardedValues/Headers", fv.get("Headers"), {"Quantity": 0}))
    if "cookies" in everything:
        patch.append(fixes.replace(f"{b.pointer}/ForwardedValues/Cookies", fv.get("Cookies"), {"Forward": "none"}))
    if "query strings" in everything:
        value = {"Quantity": len(seen), "Items": sorted(seen)} if seen else {"Quantity": 0}
        if seen:
            patch.append(
                fixes.replace(
                    f"{b.pointer}/ForwardedValues/QueryStringCacheKeys", fv.get("QueryStringCacheKeys"), value
                )
                if "QueryStringCacheKeys" in fv
                else fixes.add(f"{b.pointer}/ForwardedValues/QueryStringCacheKeys", value)
            )
        else:
            patch.append(fixes.replace(f"{b.pointer}/ForwardedValues/QueryString", True, False))
    return fixes.distribution_fix(dist, f"Narrow {b.path_pattern}'s forwarded values.", patch, [why])
