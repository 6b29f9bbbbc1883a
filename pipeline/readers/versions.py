"""Config documents as versions: one ``config_versions`` row per distribution config, web ACL or cache policy.

The config tables keep the latest version of each config; this module turns every ingested document
into a row of ``config_versions`` so that no version is lost: the config object itself as compact
JSON (the ``DistributionConfig``, ``WebACL`` or ``CachePolicyConfig`` an update command takes back),
what it configures, its ETag (or a web ACL's lock token) and the instant versions are ordered by --
``LastModifiedTime`` when the export carries it (``get-distribution``, ``get-cache-policy``), the
ingestion time otherwise (``get-distribution-config``, ``get-web-acl``).

The typed readers (``distribution.py``, ``webacl.py``, ``cachepolicy.py``) validate the documents;
this module runs after them on the same bytes and only picks the pieces out. It never touches the lake.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from pipeline.readers._config_json import config_frame

TABLE = "config_versions"
KINDS = ("distribution", "web-acl", "cache-policy")


@dataclass(frozen=True)
class Version:
    """One config document, ready to become a ``config_versions`` row."""

    kind: str
    config_id: str
    name: str | None
    etag: str | None
    last_modified_time: datetime | None
    document: dict[str, Any]

    @property
    def version_id(self) -> str:
        canonical = json.dumps([self.kind, self.config_id, self.document], sort_keys=True, separators=(",", ":"))
        return f"{self.kind}:{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"

    def order_time(self, ingested_at: datetime) -> datetime:
        return self.last_modified_time if self.last_modified_time is not None else ingested_at

    def frame(self, *, uri: str, ingested_at: datetime) -> pl.DataFrame:
        row = {
            "version_id": self.version_id,
            "kind": self.kind,
            "config_id": self.config_id,
            "name": self.name,
            "etag": self.etag,
            "last_modified_time": self.last_modified_time,
            "ingested_at": ingested_at,
            "order_time": self.order_time(ingested_at),
            "document": json.dumps(self.document, separators=(",", ":"), ensure_ascii=False),
            "source_file": uri,
        }
        return config_frame(TABLE, [row])


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None  # the JSON decoder's own dicts


def _time(value: Any) -> datetime | None:
    """An AWS CLI timestamp (ISO 8601, or epoch seconds with --cli-timestamp-format none); None if absent."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _load(data: bytes) -> dict[str, Any]:
    doc = json.loads(data.decode("utf-8-sig"))
    assert isinstance(doc, dict)  # the typed reader already refused anything else
    return doc


def distribution_version(data: bytes, distribution_id: str) -> Version:
    """The version in get-distribution / get-distribution-config output or a bare DistributionConfig."""
    doc = _load(data)
    dist = _object(doc.get("Distribution"))
    config = _object(dist.get("DistributionConfig")) if dist else _object(doc.get("DistributionConfig"))
    return Version(
        kind="distribution",
        config_id=distribution_id,
        name=None,
        etag=_text(doc.get("ETag")),
        last_modified_time=_time(dist.get("LastModifiedTime")) if dist else None,
        document=config if config is not None else doc,
    )


def web_acl_version(data: bytes) -> Version | None:
    """The version in get-web-acl output or a bare WebACL; None when it has neither ARN nor name."""
    doc = _load(data)
    acl = _object(doc.get("WebACL")) or doc
    config_id = _text(acl.get("ARN")) or _text(acl.get("Name"))
    if config_id is None:
        return None
    return Version(
        kind="web-acl",
        config_id=config_id,
        name=_text(acl.get("Name")),
        etag=_text(doc.get("LockToken")),
        last_modified_time=None,
        document=acl,
    )


def cache_policy_version(policy: Mapping[str, Any], etag: str | None) -> Version:
    """The version of one ``CachePolicy`` object (from get-cache-policy or a list-cache-policies item)."""
    config = _object(policy.get("CachePolicyConfig")) or {}
    return Version(
        kind="cache-policy",
        config_id=str(policy.get("Id")),
        name=_text(config.get("Name")),
        etag=etag,
        last_modified_time=_time(policy.get("LastModifiedTime")),
        document=dict(config),
    )
