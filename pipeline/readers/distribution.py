"""CloudFront distribution configs -> ``distributions``, ``behaviors``, ``origins``, ``origin_groups``.

Reads the JSON the AWS CLI prints for ``aws cloudfront get-distribution --id X`` (the id, domain and
ARN included), ``aws cloudfront get-distribution-config --id X`` (config only: the caller passes the
id) or a bare ``DistributionConfig`` object. The config is validated the way CloudFront would route
with it: every group member must be a known origin. A behavior whose target names neither an origin
nor a group is kept (``target_is_group`` false): such a config may come from infrastructure code
before it is applied, and ``edgelake doctor`` says CloudFront would refuse it. Anything else --
invalid UTF-8, invalid JSON, a JSON document of another kind, a value of the wrong JSON type -- is a
:class:`~pipeline.errors.ConfigError` naming the file, the JSON path and what was expected.

This module also owns the small JSON-walking helpers (:class:`JsonNode`, :func:`parse_json_object`,
:func:`config_frame`) that the other config readers (``webacl.py``) share. It does not match request
paths to behaviors (that is ``pipeline/behaviors.py``) and never touches the lake.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

import polars as pl
import pyarrow as pa

from pipeline import schemas
from pipeline.errors import ConfigError
from pipeline.patterns import pattern_regex

TABLES = ("distributions", "behaviors", "origins", "origin_groups")

_EXPECTED = (
    "the JSON printed by `aws cloudfront get-distribution --id <ID>` or "
    "`aws cloudfront get-distribution-config --id <ID>`"
)
_SNIFF = re.compile(rb'"(?:Distribution|DistributionConfig|CallerReference|DefaultCacheBehavior)"\s*:')
_ID = re.compile(r"[A-Za-z0-9]{1,128}")
# CloudFront runs edge code in request order; listing events that way makes the column readable.
_EVENT_ORDER = {"viewer-request": 0, "origin-request": 1, "origin-response": 2, "viewer-response": 3}
_INT_BOUNDS = {bits: (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for bits in (16, 32, 64)}


# --- JSON walking shared by the config readers -------------------------------------------------------
def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the string {shown!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return "an object"


@dataclass(frozen=True)
class JsonNode:
    """A JSON object plus where it sits, so every type error names file, JSON path and expectation."""

    value: Mapping[str, Any]
    path: str
    uri: str
    expected: str

    def fail(self, key: str | None, problem: str) -> NoReturn:
        """The JSON has the wrong shape here: say where, and which CLI output was expected."""
        raise ConfigError(f"{self.uri}: {self._where(key)} {problem}; expected {self.expected}.")

    def reject(self, key: str | None, problem: str) -> NoReturn:
        """The JSON is well formed but describes a config AWS would refuse (edited by hand, or truncated)."""
        raise ConfigError(
            f"{self.uri}: {self._where(key)} {problem}; AWS would not accept this "
            f"configuration, so the file was probably edited: "
            f"export it again with the AWS CLI."
        )

    def _where(self, key: str | None) -> str:
        where = self.path if key is None else f"{self.path}.{key}" if self.path else key
        return where or "the top level"

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def string(self, key: str, *, required: bool = False, blank_is_null: bool = False) -> str | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return None
        if not isinstance(value, str):
            self.fail(key, f"should be a string, not {_describe(value)}")
        if required and not value:
            self.fail(key, "is empty")
        return None if blank_is_null and not value else value

    def required_string(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.value.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.fail(key, f"should be true or false, not {_describe(value)}")

    def integer(self, key: str, *, bits: int = 32) -> int | None:
        return _as_int(self, key, self.value.get(key), bits)

    def child(self, key: str, *, required: bool = False) -> JsonNode | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail(key, "is missing")
            return None
        if not isinstance(value, dict):
            self.fail(key, f"should be an object, not {_describe(value)}")
        return JsonNode(value, f"{self.path}.{key}" if self.path else key, self.uri, self.expected)

    def required_child(self, key: str) -> JsonNode:
        node = self.child(key, required=True)
        assert node is not None
        return node

    def array(self, key: str) -> list[Any] | None:
        """A plain JSON list (as WAF writes lists); None when absent."""
        value = self.value.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(key, f"should be a list, not {_describe(value)}")
        return value

    def nodes(self, key: str) -> list[JsonNode]:
        """A plain JSON list of objects; empty when absent."""
        out = []
        for i, item in enumerate(self.array(key) or []):
            if not isinstance(item, dict):
                self.fail(f"{key}[{i}]", f"should be an object, not {_describe(item)}")
            out.append(
                JsonNode(item, f"{self.path}.{key}[{i}]" if self.path else f"{key}[{i}]", self.uri, self.expected)
            )
        return out

    def wrapped(self, key: str) -> list[Any] | None:
        """CloudFront's ``{"Quantity": n, "Items": [...]}`` list; None when absent, [] for ``Quantity: 0``."""
        node = self.child(key)
        if node is None:
            return None
        items = node.array("Items")
        quantity = node.integer("Quantity")
        if items is None:
            if quantity:
                node.fail("Items", f"is missing although Quantity is {quantity}")
            return []
        if quantity is not None and quantity != len(items):
            node.reject("Quantity", f"is {quantity} but Items has {len(items)} entries")
        return items

    def wrapped_strings(self, key: str) -> list[str] | None:
        items = self.wrapped(key)
        if items is None:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, str):
                self.fail(f"{key}.Items[{i}]", f"should be a string, not {_describe(item)}")
        return items

    def wrapped_ints(self, key: str, *, bits: int) -> list[int] | None:
        items = self.wrapped(key)
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            number = _as_int(self, f"{key}.Items[{i}]", item, bits)
            if number is None:
                self.fail(f"{key}.Items[{i}]", "should be a whole number, not null")
            out.append(number)
        return out

    def wrapped_nodes(self, key: str) -> list[JsonNode]:
        out = []
        for i, item in enumerate(self.wrapped(key) or []):
            where = f"{key}.Items[{i}]"
            if not isinstance(item, dict):
                self.fail(where, f"should be an object, not {_describe(item)}")
            path = f"{self.path}.{where}" if self.path else where
            out.append(JsonNode(item, path, self.uri, self.expected))
        return out


def _as_int(node: JsonNode, key: str, value: Any, bits: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        node.fail(key, f"should be a whole number, not {_describe(value)}")
    lo, hi = _INT_BOUNDS[bits]
    if not lo <= value <= hi:
        node.fail(key, f"is {value}, out of range for a {bits}-bit integer")
    return value


def parse_json_object(data: bytes, *, uri: str, expected: str) -> JsonNode:
    """Decode ``data`` as one UTF-8 JSON object; every failure is a ConfigError naming ``uri``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{uri}: not UTF-8 text (invalid byte at offset {exc.start}); expected {expected}.") from exc
    if not text.strip():
        raise ConfigError(f"{uri}: the file is empty; expected {expected}.")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{uri}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected {expected}."
        ) from exc
    except RecursionError as exc:
        raise ConfigError(f"{uri}: JSON nested too deeply to read; expected {expected}.") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{uri}: the JSON document is {_describe(doc)}, not an object; expected {expected}.")
    return JsonNode(doc, "", uri, expected)


def config_frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows (dicts keyed by column name) as a frame typed and ordered exactly as ``schemas/<table>.toml``."""
    arrow = pa.Table.from_pylist(rows, schema=schemas.load(table).arrow_schema())
    frame = pl.from_arrow(arrow)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _is_head_of_json_object(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


# --- the distribution reader -------------------------------------------------------------------------
@dataclass(frozen=True)
class DistributionConfig:
    """One distribution config, as the four config tables (keys of :data:`TABLES`)."""

    distribution_id: str
    tables: dict[str, pl.DataFrame]


def looks_like_distribution_config(head: bytes) -> bool:
    """Whether the first bytes of a file look like CloudFront distribution config JSON.

    True for get-distribution / get-distribution-config output and a bare DistributionConfig. JSON log
    lines do not match: their keys differ (``DistributionId``) and quotes inside values are escaped.
    """
    return _is_head_of_json_object(head) and _SNIFF.search(head) is not None


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
    node.fail(key, f"should be an ISO 8601 time such as 2024-05-01T12:00:00Z, not {_describe(value)}")


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
