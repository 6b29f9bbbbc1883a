"""The AWS WAF JSON a rollout report tells people to apply: rule-action overrides and URI scope-downs.

Owns turning a verdict into configuration, and nothing about HTML. For a rule inside a managed (or
own) rule group the exclusion is a ``RuleActionOverrides`` entry ``{"Name": rule, "ActionToUse":
{"Count": {}}}`` in the group's ``ManagedRuleGroupStatement`` (the rule keeps counting while the rest
of the group blocks); :func:`group_rule` writes the whole web-ACL rule for the Enforce phase: the
group's statement as ingested (``web_acl_rules.statement_json``, so configs, version and an existing
scope-down are kept) with overrides only for the rules that must keep counting, and ``OverrideAction``
``None``. :func:`scope_down` is the alternative when false positives sit under one path: a
``NotStatement`` of a ``ByteMatchStatement`` on ``UriPath`` ``STARTS_WITH`` that path, so the group
does not inspect it at all. Every output is shaped as the ``wafv2`` API's ``Rule`` (tests validate
it with botocore's service model); ``SearchString`` is base64, as ``get-web-acl`` prints it and the
AWS CLI v2 reads it by default.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEEP_COUNTING = ("likely_false_positive", "review")  # verdicts whose rule must not be flipped to Block


@dataclass(frozen=True)
class AclRule:
    """One top-level web ACL rule, from the ``web_acl_rules`` table."""

    web_acl_name: str
    name: str
    priority: int
    kind: str
    action: str | None
    vendor_name: str | None
    rule_group_name: str | None
    rule_group_arn: str | None
    overrides: tuple[tuple[str, str], ...]
    statement: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AclRule:
        try:
            statement = json.loads(row.get("statement_json") or "{}")
        except ValueError:
            statement = {}
        return cls(
            web_acl_name=str(row.get("web_acl_name") or ""),
            name=str(row["rule_name"]),
            priority=int(row.get("priority") or 0),
            kind=str(row.get("rule_kind") or ""),
            action=row.get("action"),
            vendor_name=row.get("vendor_name"),
            rule_group_name=row.get("rule_group_name"),
            rule_group_arn=row.get("rule_group_arn"),
            overrides=tuple((str(o["name"]), str(o["action"])) for o in row.get("rule_action_overrides") or []),
            statement=statement if isinstance(statement, dict) else {},
        )


def split_group_id(rule_group: str) -> tuple[str | None, str]:
    """``AWS#AWSManagedRulesCommonRuleSet[#Version]`` -> (vendor, name); an ARN -> (None, arn)."""
    if rule_group.startswith("arn:"):
        return None, rule_group
    parts = rule_group.split("#")
    return (parts[0], parts[1]) if len(parts) >= 2 else (None, rule_group)


def find_acl_rule(rule_group: str, acl: Iterable[AclRule]) -> AclRule | None:
    """The web ACL rule that references ``rule_group`` (as WAF logs name it), or the rule itself for 'webacl'."""
    vendor, name = split_group_id(rule_group)
    for rule in acl:
        if vendor is not None and rule.vendor_name == vendor and rule.rule_group_name == name:
            return rule
        if vendor is None and name and rule.rule_group_arn == name:
            return rule
    return None


def override_entry(rule_id: str) -> dict[str, Any]:
    """The exclusion of one rule inside a group: it counts instead of acting."""
    return {"Name": rule_id, "ActionToUse": {"Count": {}}}


def _visibility(name: str) -> dict[str, Any]:
    metric = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:128] or "rule"
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": metric}


def _group_statement(rule_group: str, acl_rule: AclRule | None) -> tuple[str, dict[str, Any]]:
    """(statement key, inner statement) for the group: the ingested one when known, else a minimal one."""
    if acl_rule is not None:
        for key in ("ManagedRuleGroupStatement", "RuleGroupReferenceStatement"):
            inner = acl_rule.statement.get(key)
            if isinstance(inner, dict):
                return key, json.loads(json.dumps(inner))  # a deep copy
    vendor, name = split_group_id(rule_group)
    if vendor is None:
        return "RuleGroupReferenceStatement", {"ARN": name}
    return "ManagedRuleGroupStatement", {"VendorName": vendor, "Name": name}


def group_rule(rule_group: str, verdicts: Mapping[str, str], acl_rule: AclRule | None) -> dict[str, Any]:
    """The web-ACL rule for the Enforce phase: the group blocks, rules with these verdicts keep counting.

    ``verdicts`` maps rule ids of this group to their verdict. Rules the web ACL already overrides to
    Count but that matched nothing in the window keep their override: there is no evidence to flip them.
    """
    key, inner = _group_statement(rule_group, acl_rule)
    keep = {rid for rid, v in verdicts.items() if v in KEEP_COUNTING}
    existing = [n for n, a in (acl_rule.overrides if acl_rule else ()) if a == "COUNT" and n not in verdicts]
    names = sorted(keep | set(existing))
    inner.pop("ExcludedRules", None)  # the older way to count a rule; RuleActionOverrides replaces it
    inner.pop("RuleActionOverrides", None)
    if names:
        inner["RuleActionOverrides"] = [override_entry(n) for n in names]
    name = acl_rule.name if acl_rule else f"{split_group_id(rule_group)[1]}"
    return {
        "Name": name,
        "Priority": acl_rule.priority if acl_rule else 0,
        "Statement": {key: inner},
        "OverrideAction": {"None": {}},
        "VisibilityConfig": _visibility(name),
    }


def byte_match_prefix(prefix: str) -> dict[str, Any]:
    return {
        "ByteMatchStatement": {
            "SearchString": base64.b64encode(prefix.encode("utf-8")).decode("ascii"),
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            "PositionalConstraint": "STARTS_WITH",
        }
    }


def scope_down(rule: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """``rule`` (a group rule from :func:`group_rule`) no longer inspecting paths under ``prefix``."""
    out: dict[str, Any] = json.loads(json.dumps(rule))
    statement = out["Statement"]
    inner = statement.get("ManagedRuleGroupStatement")
    if inner is None:  # a rule group reference has no scope-down: wrap the whole rule instead
        return out
    skip = {"NotStatement": {"Statement": byte_match_prefix(prefix)}}
    current = inner.get("ScopeDownStatement")
    inner["ScopeDownStatement"] = {"AndStatement": {"Statements": [current, skip]}} if current else skip
    return out


def webacl_rule(acl_rule: AclRule | None, rule_id: str, verdict: str) -> dict[str, Any]:
    """A web-ACL-level rule: keep it counting (false positive, or still under review) or let it block.

    The whole ``Rule`` when the ingested web ACL has its statement; else only ``{"Action": ...}`` to set
    on the existing rule (a rule without its statement is not a valid ``Rule``).
    """
    action: dict[str, Any] = {"Count": {}} if verdict in KEEP_COUNTING else {"Block": {}}
    if acl_rule is None or not acl_rule.statement:
        return {"Action": action}
    return {
        "Name": rule_id,
        "Priority": acl_rule.priority,
        "Statement": acl_rule.statement,
        "Action": action,
        "VisibilityConfig": _visibility(rule_id),
    }


def common_prefix(uris: Sequence[str]) -> str | None:
    """The longest path prefix (whole segments, or the one path itself) shared by ``uris``; None if only '/'."""
    paths = [u for u in uris if u]
    if not paths:
        return None
    if len(set(paths)) == 1:
        return paths[0] if paths[0] not in ("", "/") else None
    split = [p.split("/") for p in paths]
    shared: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    joined = "/".join(shared)
    prefix = joined if joined in paths else joined + "/"  # "/api" and "/api/x" share "/api", not "/api/"
    return prefix if prefix.strip("/") else None


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)
