"""AWS WAF web ACL configs -> the ``web_acl_rules`` table.

Reads the JSON printed by ``aws wafv2 get-web-acl`` (``{"WebACL": {...}, "LockToken": ...}``) or a
bare ``WebACL`` object, and yields one typed row per top-level rule in priority order: what kind of
rule it is, the action it takes (or the override a rule group gets), which rules inside a managed
group the ACL overrides or excludes, and a rate-based rule's limit and window. The full statement is
kept as compact JSON for anything the typed columns do not capture. The WAF false-positive analysis
joins these rows to WAF logs by rule name.

Firewall Manager pre/post-process rule groups are not rows here (they sit outside the ACL's own rule
priorities). Errors are :class:`~pipeline.errors.ConfigError` naming the file and JSON path.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import polars as pl

from pipeline.readers._base import ConfigTables, ReadContext
from pipeline.readers._config_json import JsonNode, config_frame, parse_json_object

TABLE = "web_acl_rules"

_EXPECTED = "the JSON printed by `aws wafv2 get-web-acl --name <NAME> --scope CLOUDFRONT --id <ID>`"
_RULE_GROUP_NAME = re.compile(r":(?:global|regional)/rulegroup/([^/]+)/")
_KINDS = {
    "ManagedRuleGroupStatement": "managed_rule_group",
    "RuleGroupReferenceStatement": "rule_group_reference",
    "RateBasedStatement": "rate_based",
}


def read_config(data: bytes, ctx: ReadContext) -> list[ConfigTables]:
    """The registry's entry point: a web ACL's rules, keyed by the ACL's ARN."""
    from pipeline.readers import versions

    rules = read_web_acl(data, uri=ctx.uri)
    arn = rules.get_column("web_acl_arn")[0] if rules.height else None
    acl = versions.web_acl_version(data)
    version = acl.frame(uri=ctx.uri, ingested_at=ctx.ingested_at) if acl is not None else None
    return [ConfigTables({"web_acl_rules": rules}, ("web_acl_arn", str(arn)) if arn else None, version)]


def read_web_acl(data: bytes, *, uri: str) -> pl.DataFrame:
    """Read one web ACL file into the ``web_acl_rules`` table.

    Parameters
    ----------
    data
        The whole file: ``aws wafv2 get-web-acl`` output or a bare WebACL object.
    uri
        Where the bytes came from; named in errors and stored in ``source_file``.

    Returns
    -------
    polars.DataFrame
        One row per rule, ordered by priority (file order among equal priorities), typed exactly as
        ``schemas/web_acl_rules.toml``. A web ACL without rules gives an empty frame.

    Raises
    ------
    ConfigError
        The bytes are not a usable web ACL; the message names the file and JSON path.
    """
    doc = parse_json_object(data, uri=uri, expected=_EXPECTED)
    if doc.has("WebACL"):
        acl = doc.required_child("WebACL")
    elif doc.has("DefaultAction") and doc.has("Rules"):
        acl = doc
    else:
        keys = ", ".join(sorted(doc.value)[:8]) or "none"
        hint = (
            " (this looks like a CloudFront distribution config)"
            if doc.has("Distribution") or doc.has("DistributionConfig")
            else ""
        )
        doc.fail(None, f"is not a WAF web ACL{hint}: top-level keys are {keys}")

    header = {
        "web_acl_name": acl.required_string("Name"),
        "web_acl_id": acl.string("Id"),
        "web_acl_arn": acl.string("ARN"),
        "default_action": _single_key(acl, "DefaultAction"),
    }
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for rule in acl.nodes("Rules"):
        row = _rule_row(rule)
        if row["rule_name"] in seen:
            rule.reject(
                "Name",
                f"repeats rule name {row['rule_name']!r}; WAF logs identify rules by name, so names must be unique",
            )
        seen.add(row["rule_name"])
        rows.append(header | row | {"source_file": uri})
    # Python's sort is stable: rules with equal (or missing) priority keep their file order.
    rows.sort(key=lambda r: (r["priority"] is None, r["priority"] or 0))
    return config_frame(TABLE, rows)


def _single_key(node: JsonNode, key: str) -> str | None:
    """An action object such as ``{"Count": {}}`` -> ``"COUNT"``; None when absent."""
    action = node.child(key)
    if action is None:
        return None
    if len(action.value) != 1:
        node.fail(key, f"should name exactly one action, not {len(action.value)} ({', '.join(action.value)})")
    return next(iter(action.value)).upper()


def _rule_row(rule: JsonNode) -> dict[str, Any]:
    name = rule.required_string("Name")
    statement = rule.required_child("Statement")
    top = next((k for k in _KINDS if statement.has(k)), None)
    kind = _KINDS[top] if top is not None else "regular"
    is_group = kind in ("managed_rule_group", "rule_group_reference")
    row: dict[str, Any] = {
        "rule_name": name,
        "priority": rule.integer("Priority"),
        "rule_kind": kind,
        "action": _single_key(rule, "OverrideAction" if is_group else "Action"),
        "vendor_name": None,
        "rule_group_name": None,
        "rule_group_arn": None,
        "rule_action_overrides": None,
        "excluded_rules": None,
        "rate_limit": None,
        "evaluation_window_sec": None,
        "aggregate_key_type": None,
        "statement_json": json.dumps(statement.value, separators=(",", ":"), ensure_ascii=False),
    }
    if row["action"] is None and rule.has("Action" if is_group else "OverrideAction"):
        # A rule group with Action (or a rule with OverrideAction) is rejected by WAF; say so plainly.
        wrong = "Action" if is_group else "OverrideAction"
        rule.reject(wrong, f"does not apply to a {kind.replace('_', ' ')} rule")
    if top is None:
        return row
    body = statement.required_child(top)
    if kind == "managed_rule_group":
        row["vendor_name"] = body.string("VendorName")
        row["rule_group_name"] = body.string("Name")
    elif kind == "rule_group_reference":
        arn = body.string("ARN")
        row["rule_group_arn"] = arn
        match = _RULE_GROUP_NAME.search(arn or "")
        row["rule_group_name"] = match.group(1) if match else None
    if is_group:
        row["rule_action_overrides"] = [
            {"name": o.required_string("Name"), "action": _single_key(o, "ActionToUse")}
            for o in body.nodes("RuleActionOverrides")
        ]
        row["excluded_rules"] = [e.required_string("Name") for e in body.nodes("ExcludedRules")]
    else:  # rate based
        row["rate_limit"] = body.integer("Limit", bits=64)
        row["evaluation_window_sec"] = body.integer("EvaluationWindowSec")
        row["aggregate_key_type"] = body.string("AggregateKeyType")
    return row


def uri_prefix(statement: object) -> str | None:
    """The path of a ``UriPath STARTS_WITH`` byte-match statement (SearchString base64); else None."""
    bm = statement.get("ByteMatchStatement") if isinstance(statement, dict) else None
    if not isinstance(bm, dict) or bm.get("PositionalConstraint") != "STARTS_WITH":
        return None
    if not isinstance(bm.get("FieldToMatch"), dict) or "UriPath" not in bm["FieldToMatch"]:
        return None
    transforms = bm.get("TextTransformations") or []
    if any(isinstance(t, dict) and t.get("Type") not in (None, "NONE") for t in transforms):
        return None
    try:
        return base64.b64decode(str(bm.get("SearchString", "")), validate=True).decode("utf-8")
    except ValueError:
        return None
