"""CloudFront distribution configs -> ``distributions``, ``behaviors``, ``origins``, ``origin_groups``.

Reads the JSON the AWS CLI prints for ``aws cloudfront get-distribution --id X`` (the id, domain and
ARN included), ``aws cloudfront get-distribution-config --id X`` (config only: the caller passes the
id) or a bare ``DistributionConfig`` object. The config is validated the way CloudFront would route
with it: every group member must be a known origin. A behavior whose target names neither an origin
nor a group is kept (``target_is_group`` false): such a config may come from infrastructure code
before it is applied, and ``edgelake doctor`` says CloudFront would refuse it. Anything else --
invalid UTF-8, invalid JSON, a JSON document of another kind, a value of the wrong JSON type -- is a
:class:`~pipeline.errors.ConfigError` naming the file, the JSON path and what was expected.

The JSON walking it shares with the other config readers lives in :mod:`pipeline.readers._config_json`.
It does not match request
paths to behaviors (``sql/views/resolved_requests.sql`` and :mod:`pipeline.analyses.requests` do, with
the expressions :mod:`pipeline.readers.patterns` makes) and never touches the lake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pipeline.errors import ConfigError
from pipeline.readers._base import ConfigTables, ReadContext
from pipeline.readers._config_json import JsonNode, config_frame, describe_value, parse_json_object
from pipeline.readers.patterns import pattern_regex

TABLES = ("distributions", "behaviors", "origins", "origin_groups")

_EXPECTED = (
    "the JSON printed by `aws cloudfront get-distribution --id <ID>` or "
    "`aws cloudfront get-distribution-config --id <ID>`"
)
_ID = re.compile(r"[A-Za-z0-9]{1,128}")
# CloudFront runs edge code in request order; listing events that way makes the column readable.
_EVENT_ORDER = {"viewer-request": 0, "origin-request": 1, "origin-response": 2, "viewer-response": 3}


# --- the distribution reader -------------------------------------------------------------------------
@dataclass(frozen=True)
class DistributionConfig:
    """One distribution config, as the four config tables (keys of :data:`TABLES`)."""

    distribution_id: str
    tables: dict[str, pl.DataFrame]


def read_config(data: bytes, ctx: ReadContext) -> list[ConfigTables]:
    """The registry's entry point: a distribution config as its four tables, keyed by its distribution id."""
    from pipeline.readers import versions

    conf = read_distribution_config(data, uri=ctx.uri, distribution_id=ctx.distribution_id)
    version = versions.distribution_version(data, conf.distribution_id)
    key = ("distribution_id", conf.distribution_id)
    return [ConfigTables(dict(conf.tables), key, version.frame(uri=ctx.uri, ingested_at=ctx.ingested_at))]


def read_distribution_config(data: bytes, *, uri: str, distribution_id: str | None = None) -> DistributionConfig:
    """Read one CloudFront distribution config file into the four config tables.

    Parameters
    ----------
    data
        The whole file: get-distribution or get-distribution-config CLI output, or a bare DistributionConfig.
    uri
        Where the bytes came from; named in errors and stored in ``source_file``.
    distribution_id
        Required when the file does not carry the id (get-distribution-config, bare config); when it
        does, a different value is an error.

    Returns
    -------
    DistributionConfig
        ``tables`` maps each of ``distributions``, ``behaviors``, ``origins``, ``origin_groups`` to a
        frame typed exactly as its schema.

    Raises
    ------
    ConfigError
        The bytes are not a usable distribution config; the message names the file and JSON path.
    """
    doc = parse_json_object(data, uri=uri, expected=_EXPECTED)
    etag = doc.string("ETag")
    dist: JsonNode | None = None
    if doc.has("Distribution"):
        dist = doc.required_child("Distribution")
        cfg = dist.required_child("DistributionConfig")
    elif doc.has("DistributionConfig"):
        cfg = doc.required_child("DistributionConfig")
    elif doc.has("DefaultCacheBehavior") or doc.has("Origins"):
        cfg = doc
    elif doc.has("DistributionList"):
        raise ConfigError(
            f"{uri}: this is `aws cloudfront list-distributions` output (summaries only); "
            f"save `aws cloudfront get-distribution --id <ID>` for each distribution instead."
        )
    else:
        keys = ", ".join(sorted(doc.value)[:8]) or "none"
        raise ConfigError(
            f"{uri}: not a CloudFront distribution config (top-level keys: {keys}); expected {_EXPECTED}."
        )
    dist_id = _resolve_id(uri, dist, distribution_id)

    common = {"distribution_id": dist_id}
    trailer = {"config_etag": etag, "source_file": uri}
    origins = [common | row | trailer for row in _origin_rows(cfg)]
    origin_ids = [r["origin_id"] for r in origins]
    groups = [common | row | trailer for row in _group_rows(cfg, set(origin_ids))]
    group_ids = {r["origin_group_id"] for r in groups}
    if clash := sorted(group_ids & set(origin_ids)):
        cfg.reject("OriginGroups", f"reuses origin id(s) {', '.join(clash)} as group ids")
    behaviors = [common | row | trailer for row in _behavior_rows(cfg, set(origin_ids), group_ids)]
    distribution = common | _distribution_row(dist, cfg) | trailer

    tables = {
        "distributions": config_frame("distributions", [distribution]),
        "behaviors": config_frame("behaviors", behaviors),
        "origins": config_frame("origins", origins),
        "origin_groups": config_frame("origin_groups", groups),
    }
    return DistributionConfig(distribution_id=dist_id, tables=tables)


def _resolve_id(uri: str, dist: JsonNode | None, given: str | None) -> str:
    found = dist.required_string("Id") if dist is not None else None
    if found is None and given is None:
        raise ConfigError(
            f"{uri}: this distribution config does not carry the distribution id "
            f"(get-distribution-config output); pass --distribution-id <ID>."
        )
    if found is not None and given is not None and found != given:
        raise ConfigError(
            f"{uri}: the file is distribution {found}, but --distribution-id says {given}; "
            f"drop the option or pass the matching file."
        )
    dist_id = found if found is not None else given
    assert dist_id is not None
    if not _ID.fullmatch(dist_id):
        raise ConfigError(
            f"{uri}: distribution id {dist_id!r} is not a CloudFront id (letters and digits, e.g. E2EXAMPLE1)."
        )
    return dist_id


def _distribution_row(dist: JsonNode | None, cfg: JsonNode) -> dict[str, Any]:
    modified = _timestamp(dist, "LastModifiedTime") if dist is not None else None
    return {
        "domain_name": dist.string("DomainName") if dist is not None else None,
        "arn": dist.string("ARN") if dist is not None else None,
        "aliases": cfg.wrapped_strings("Aliases"),
        "comment": cfg.string("Comment"),
        "enabled": cfg.boolean("Enabled"),
        "web_acl_id": cfg.string("WebACLId", blank_is_null=True),
        "price_class": cfg.string("PriceClass"),
        "http_version": cfg.string("HttpVersion"),
        "last_modified_time": modified,
        "default_root_object": cfg.string("DefaultRootObject", blank_is_null=True),
    }


def _timestamp(node: JsonNode, key: str) -> datetime | None:
    value = node.value.get(key)
    if value is None:
        return None
    try:
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)  # --cli-timestamp-format none/wire prints epoch seconds
    except (ValueError, OverflowError, OSError):
        pass
    node.fail(key, f"should be an ISO 8601 time such as 2024-05-01T12:00:00Z, not {describe_value(value)}")


def _origin_rows(cfg: JsonNode) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for origin in cfg.wrapped_nodes("Origins"):
        origin_id = origin.required_string("Id")
        if origin_id in seen:
            origin.reject("Id", f"repeats origin id {origin_id!r}")
        seen.add(origin_id)
        custom = origin.child("CustomOriginConfig")
        kind, settings = _origin_kind(origin, custom)
        shield = origin.child("OriginShield")
        rows.append(
            {
                "origin_id": origin_id,
                "domain_name": origin.string("DomainName"),
                "origin_path": origin.string("OriginPath", blank_is_null=True),
                "origin_type": kind,
                "protocol_policy": custom.string("OriginProtocolPolicy") if custom else None,
                "connection_attempts": origin.integer("ConnectionAttempts"),
                "connection_timeout": origin.integer("ConnectionTimeout"),
                "read_timeout": settings.integer("OriginReadTimeout") if settings else None,
                # S3 origins have no keep-alive setting; a stray key there is not CloudFront's.
                "keepalive_timeout": None
                if settings is None or kind == "s3"
                else settings.integer("OriginKeepaliveTimeout"),
                "response_completion_timeout": origin.integer("ResponseCompletionTimeout"),
                "origin_shield_enabled": shield.boolean("Enabled") if shield else None,
                "origin_shield_region": shield.string("OriginShieldRegion") if shield else None,
            }
        )
    return rows


def _origin_kind(origin: JsonNode, custom: JsonNode | None) -> tuple[str | None, JsonNode | None]:
    """Which kind of origin this is and the block holding its timeouts; the API sets exactly one block."""
    s3 = origin.child("S3OriginConfig")
    if s3 is not None:
        return "s3", s3
    vpc = origin.child("VpcOriginConfig")
    if vpc is not None:
        return "vpc", vpc
    return ("custom", custom) if custom is not None else (None, None)


def _group_rows(cfg: JsonNode, origin_ids: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for group in cfg.wrapped_nodes("OriginGroups"):
        group_id = group.required_string("Id")
        if group_id in seen:
            group.reject("Id", f"repeats origin group id {group_id!r}")
        seen.add(group_id)
        members = [m.required_string("OriginId") for m in group.wrapped_nodes("Members")]
        if len(members) != 2:
            group.reject(
                "Members",
                f"of origin group {group_id!r} lists {len(members)} origins; "
                f"an origin group has exactly two (primary, secondary)",
            )
        for member in members:
            if member not in origin_ids:
                group.reject(
                    "Members", f"of origin group {group_id!r} names origin {member!r}, which is not among Origins.Items"
                )
        criteria = group.child("FailoverCriteria")
        codes = (criteria.wrapped_ints("StatusCodes", bits=16) if criteria else None) or []
        for code in codes:
            if not 100 <= code <= 599:
                group.reject(
                    "FailoverCriteria.StatusCodes", f"of origin group {group_id!r} has {code}, not an HTTP status code"
                )
        rows.append(
            {
                "origin_group_id": group_id,
                "primary_origin_id": members[0],
                "secondary_origin_id": members[1],
                "failover_status_codes": codes,
                "selection_criteria": group.string("SelectionCriteria"),
            }
        )
    return rows


def _behavior_rows(cfg: JsonNode, origin_ids: set[str], group_ids: set[str]) -> list[dict[str, Any]]:
    ordered = [*cfg.wrapped_nodes("CacheBehaviors"), cfg.required_child("DefaultCacheBehavior")]
    rows: list[dict[str, Any]] = []
    for precedence, node in enumerate(ordered):
        is_default = precedence == len(ordered) - 1
        pattern = "*" if is_default else node.required_string("PathPattern")
        target = node.required_string("TargetOriginId")
        methods = node.child("AllowedMethods")
        rows.append(
            {
                "precedence": precedence,
                "path_pattern": pattern,
                "path_regex": pattern_regex(pattern),
                "is_default": is_default,
                "target_origin_id": target,
                "target_is_group": target in group_ids,
                "allowed_methods": node.wrapped_strings("AllowedMethods"),
                "cached_methods": methods.wrapped_strings("CachedMethods") if methods else None,
                "viewer_protocol_policy": node.string("ViewerProtocolPolicy"),
                "cache_policy_id": node.string("CachePolicyId", blank_is_null=True),
                "origin_request_policy_id": node.string("OriginRequestPolicyId", blank_is_null=True),
                "response_headers_policy_id": node.string("ResponseHeadersPolicyId", blank_is_null=True),
                "compress": node.boolean("Compress"),
                "function_events": _function_events(node),
                "realtime_log_config_arn": node.string("RealtimeLogConfigArn", blank_is_null=True),
                "min_ttl": node.integer("MinTTL", bits=64),
                "default_ttl": node.integer("DefaultTTL", bits=64),
                "max_ttl": node.integer("MaxTTL", bits=64),
            }
        )
    return rows


def _function_events(node: JsonNode) -> list[str]:
    events: list[tuple[int, str, int, str]] = []
    for rank, (key, kind) in enumerate(
        (("FunctionAssociations", "function"), ("LambdaFunctionAssociations", "lambda"))
    ):
        for assoc in node.wrapped_nodes(key):
            event = assoc.required_string("EventType")
            events.append((_EVENT_ORDER.get(event, len(_EVENT_ORDER)), event, rank, f"{event}:{kind}"))
    return [label for *_, label in sorted(events)]
