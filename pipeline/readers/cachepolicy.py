"""CloudFront cache policies -> the ``cache_policies`` table (and their versions).

Reads the JSON the AWS CLI prints for ``aws cloudfront get-cache-policy --id X`` (one policy with its
ETag and LastModifiedTime) and ``aws cloudfront list-cache-policies [--type managed|custom]`` (every
policy, with its type). ``get-cache-policy-config`` output does not carry the policy id, so it is
refused with a message saying what to export instead. The typed row says what enters the cache key:
the header, cookie and query string behaviors with their lists, and the TTLs.

Errors are :class:`~pipeline.errors.ConfigError` naming the file and JSON path. Never touches the lake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from pipeline.errors import ConfigError
from pipeline.readers._base import ConfigTables, ReadContext
from pipeline.readers._config_json import JsonNode, config_frame, parse_json_object
from pipeline.readers.versions import Version, cache_policy_version

TABLE = "cache_policies"
_EXPECTED = "the JSON printed by `aws cloudfront get-cache-policy --id <ID>` or `aws cloudfront list-cache-policies`"
_HEADER_BEHAVIORS = ("none", "whitelist")
_LIST_BEHAVIORS = ("none", "whitelist", "allExcept", "all")


@dataclass(frozen=True)
class CachePolicy:
    """One policy: its typed row (a one-row frame of ``cache_policies``) and its version."""

    cache_policy_id: str
    row: pl.DataFrame
    version: Version


def read_config(data: bytes, ctx: ReadContext) -> list[ConfigTables]:
    """The registry's entry point: one part per policy, keyed by its id, with its version."""
    return [
        ConfigTables(
            {TABLE: p.row},
            ("cache_policy_id", p.cache_policy_id),
            p.version.frame(uri=ctx.uri, ingested_at=ctx.ingested_at),
        )
        for p in read_cache_policies(data, uri=ctx.uri)
    ]


def read_cache_policies(data: bytes, *, uri: str) -> list[CachePolicy]:
    """Read one get-cache-policy or list-cache-policies file; one entry per policy, in file order.

    Raises
    ------
    ConfigError
        The bytes are not a usable cache policy export; the message names the file and JSON path.
    """
    doc = parse_json_object(data, uri=uri, expected=_EXPECTED)
    etag = doc.string("ETag")
    if doc.has("CachePolicy"):
        return [_policy(doc.required_child("CachePolicy"), None, etag, uri)]
    if doc.has("CachePolicyList"):
        listing = doc.required_child("CachePolicyList")
        out = []
        seen: set[str] = set()
        for item in listing.nodes("Items"):
            policy = _policy(item.required_child("CachePolicy"), item.string("Type"), None, uri)
            if policy.cache_policy_id in seen:
                item.reject("CachePolicy.Id", f"repeats cache policy id {policy.cache_policy_id!r}")
            seen.add(policy.cache_policy_id)
            out.append(policy)
        return out
    if doc.has("CachePolicyConfig"):
        raise ConfigError(
            f"{uri}: this is `aws cloudfront get-cache-policy-config` output, which does not say which policy "
            f"it is; save `aws cloudfront get-cache-policy --id <ID>` instead."
        )
    keys = ", ".join(sorted(doc.value)[:8]) or "none"
    raise ConfigError(f"{uri}: not a CloudFront cache policy export (top-level keys: {keys}); expected {_EXPECTED}.")


def _names(node: JsonNode | None, key: str) -> list[str]:
    if node is None:
        return []
    return node.wrapped_strings(key) or []


def _behavior(node: JsonNode, key: str, allowed: tuple[str, ...]) -> str:
    value = node.required_string(key)
    if value not in allowed:
        node.reject(key, f"is {value!r}; CloudFront takes {', '.join(allowed)}")
    return value


def _policy(policy: JsonNode, policy_type: str | None, etag: str | None, uri: str) -> CachePolicy:
    policy_id = policy.required_string("Id")
    config = policy.required_child("CachePolicyConfig")
    params = config.child("ParametersInCacheKeyAndForwardedToOrigin")
    headers = params.child("HeadersConfig") if params else None
    cookies = params.child("CookiesConfig") if params else None
    queries = params.child("QueryStringsConfig") if params else None
    row: dict[str, Any] = {
        "cache_policy_id": policy_id,
        "name": config.string("Name"),
        "comment": config.string("Comment"),
        "policy_type": policy_type,
        "last_modified_time": cache_policy_version(policy.value, etag).last_modified_time,
        "min_ttl": config.integer("MinTTL", bits=64),
        "default_ttl": config.integer("DefaultTTL", bits=64),
        "max_ttl": config.integer("MaxTTL", bits=64),
        "header_behavior": _behavior(headers, "HeaderBehavior", _HEADER_BEHAVIORS) if headers else None,
        "headers": _names(headers, "Headers"),
        "cookie_behavior": _behavior(cookies, "CookieBehavior", _LIST_BEHAVIORS) if cookies else None,
        "cookies": _names(cookies, "Cookies"),
        "query_string_behavior": _behavior(queries, "QueryStringBehavior", _LIST_BEHAVIORS) if queries else None,
        "query_strings": _names(queries, "QueryStrings"),
        "accept_encoding_gzip": params.boolean("EnableAcceptEncodingGzip") if params else None,
        "accept_encoding_brotli": params.boolean("EnableAcceptEncodingBrotli") if params else None,
        "config_etag": etag,
        "source_file": uri,
    }
    return CachePolicy(policy_id, config_frame(TABLE, [row]), cache_policy_version(policy.value, etag))
