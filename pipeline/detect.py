"""Which log an object holds, from its first bytes (never from its name).

Answers one of ``cloudfront-w3c``, ``cloudfront-json``, ``cloudfront-parquet``, ``realtime``, ``waf``,
``distribution-config``, ``web-acl``, ``cache-policy``, or None when the content fits none of them.
"""

from __future__ import annotations

import json
import re

from pipeline.inputs import PARQUET_MAGIC

_EPOCH_FIRST = re.compile(rb"^\d{9,11}\.\d{1,6}\t")
_CF_JSON_KEYS = {
    "x-edge-request-id",
    "cs-method",
    "sc-status",
    "x-edge-location",
    "timestamp(ms)",
    "cs-uri-stem",
    "x-edge-result-type",
}
SOURCES = ("cloudfront", "realtime", "waf", "distribution-config", "web-acl", "cache-policy")


def _first_json_keys(head: bytes) -> set[str] | None:
    stripped = head.lstrip()
    if not stripped.startswith(b"{"):
        return None
    first = stripped.split(b"\n", 1)[0]
    for candidate in (first, stripped):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return set(value)
    # A pretty-printed document cut by the head limit: look for top-level-looking keys.
    return {m.decode() for m in re.findall(rb'"([A-Za-z][A-Za-z0-9()\-]*)"\s*:', stripped[:4096])}


def detect(head: bytes) -> str | None:
    if head.startswith(PARQUET_MAGIC):
        return "cloudfront-parquet"
    text = head.lstrip(b"\r\n\t ")
    if text.startswith(b"#Version:") or text.startswith(b"#Fields:"):
        return "cloudfront-w3c"
    keys = _first_json_keys(head)
    if keys is not None:
        if "Distribution" in keys or "DistributionConfig" in keys or {"CallerReference", "Origins"} <= keys:
            return "distribution-config"
        if "WebACL" in keys:
            return "web-acl"
        if keys & {"CachePolicy", "CachePolicyList", "CachePolicyConfig"}:
            return "cache-policy"
        if "httpRequest" in keys or "webaclId" in keys or "terminatingRuleId" in keys:
            return "waf"
        if keys & _CF_JSON_KEYS:
            return "cloudfront-json"
        return None
    if _EPOCH_FIRST.match(text):
        return "realtime"
    return None


def family(kind: str) -> str:
    """The ``--source`` name a detected kind belongs to."""
    return "cloudfront" if kind.startswith("cloudfront") else kind
