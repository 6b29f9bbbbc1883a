"""Every kind of input edgelake reads: how it is recognised, which reader reads it, which tables it fills.

An object's kind comes from its first bytes, never from its name: :func:`detect` tries each
:class:`Kind`'s sniffer in :data:`KINDS` order and answers the first that fits (or None). The ingest
takes its readers from here, the follower takes the kinds it can stream from here, and ``--source``
takes its choices from here, so adding a log source is one reader module, one schema file and one
entry below.

Readers are named as ``module:function`` and imported on first use: detection runs in every process
(and before the heavy imports of a batch command), reading only where an object of that kind is read.

Must not: read objects (callers pass the first bytes) or know about the lake.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import UsageError
from pipeline.storage.chunks import PARQUET_MAGIC

if TYPE_CHECKING:
    from pipeline.readers._base import Batch, ConfigTables, ReadContext
    from pipeline.storage.chunks import ChunkStream

    LineReader = Callable[[ChunkStream, ReadContext], Iterator[Batch]]
    ConfigReader = Callable[[bytes, ReadContext], list[ConfigTables]]

Sniff = Callable[[bytes, "set[str] | None"], bool]  # (first bytes, keys of the first JSON object or None)


@dataclass(frozen=True)
class Kind:
    """One kind of input."""

    name: str  # what detect() answers
    source: str  # the --source family it belongs to (several CloudFront formats are one source)
    tables: tuple[str, ...]  # the lake tables its rows go to
    reader: str  # "module:function": a line reader (ChunkStream, ReadContext) or, for documents, (bytes, ReadContext)
    sniff: Sniff
    document: bool = False  # a whole JSON document (a config) read at once, not a log streamed line by line
    record_id: str | None = None  # the column that identifies a record: `edgelake follow` can stream this kind

    @property
    def streams(self) -> bool:
        return self.record_id is not None


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


def _text(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf\r\n\t ")


KINDS: tuple[Kind, ...] = (
    Kind(
        "cloudfront-parquet",
        "cloudfront",
        ("cloudfront",),
        "pipeline.readers.cloudfront:read_v2_parquet",
        lambda head, keys: head.startswith(PARQUET_MAGIC),
    ),
    Kind(
        "cloudfront-w3c",
        "cloudfront",
        ("cloudfront",),
        "pipeline.readers.cloudfront:read_w3c",
        lambda head, keys: _text(head).startswith((b"#Version:", b"#Fields:")),
    ),
    Kind(
        "distribution-config",
        "distribution-config",
        ("distributions", "behaviors", "origins", "origin_groups"),
        "pipeline.readers.distribution:read_config",
        lambda head, keys: (
            keys is not None
            and ("Distribution" in keys or "DistributionConfig" in keys or {"CallerReference", "Origins"} <= keys)
        ),
        document=True,
    ),
    Kind(
        "web-acl",
        "web-acl",
        ("web_acl_rules",),
        "pipeline.readers.webacl:read_config",
        # get-web-acl output wraps the ACL in "WebACL"; a bare WebACL has its own top-level keys
        lambda head, keys: keys is not None and ("WebACL" in keys or {"DefaultAction", "Rules"} <= keys),
        document=True,
    ),
    Kind(
        "cache-policy",
        "cache-policy",
        ("cache_policies",),
        "pipeline.readers.cachepolicy:read_config",
        lambda head, keys: keys is not None and bool({"CachePolicy", "CachePolicyList", "CachePolicyConfig"} & keys),
        document=True,
    ),
    Kind(
        "waf",
        "waf",
        ("waf",),
        "pipeline.readers.waf:read_waf",
        lambda head, keys: keys is not None and bool({"httpRequest", "webaclId", "terminatingRuleId"} & keys),
        record_id="request_id",
    ),
    Kind(
        "cloudfront-json",
        "cloudfront",
        ("cloudfront",),
        "pipeline.readers.cloudfront:read_v2_json",
        lambda head, keys: keys is not None and bool(keys & _CF_JSON_KEYS),
    ),
    Kind(
        "realtime",
        "realtime",
        ("realtime",),
        "pipeline.readers.realtime:read_realtime",
        lambda head, keys: keys is None and _EPOCH_FIRST.match(_text(head)) is not None,
        record_id="x_edge_request_id",
    ),
)
BY_NAME = {k.name: k for k in KINDS}
SOURCES = tuple(dict.fromkeys(k.source for k in KINDS))  # the --source choices
STREAMED = tuple(k.name for k in KINDS if k.streams)  # what `edgelake follow --source` takes


def _first_json_keys(head: bytes) -> set[str] | None:
    stripped = _text(head)
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
    """The kind of the object whose first bytes are ``head``, or None when it is none of :data:`KINDS`."""
    keys = _first_json_keys(head)
    for kind in KINDS:
        if kind.sniff(head, keys):
            return kind.name
    return None


def kind(name: str) -> Kind:
    found = BY_NAME.get(name)
    if found is None:
        raise UsageError(f"unknown input kind {name!r}; edgelake reads {', '.join(BY_NAME)}")
    return found


def family(name: str) -> str:
    """The ``--source`` name a detected kind belongs to."""
    return kind(name).source


def _resolve(spec: str) -> Any:
    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)


def line_reader(name: str) -> LineReader:
    """The reader of a line log kind: ``(ChunkStream, ReadContext) -> Iterator[Batch]``."""
    found = kind(name)
    if found.document:
        raise UsageError(f"{name} is a document, not a log read line by line")
    reader: LineReader = _resolve(found.reader)
    return reader


def document_reader(name: str) -> ConfigReader:
    """The reader of a document kind (a config): ``(bytes, ReadContext) -> [ConfigTables]``, one per document."""
    found = kind(name)
    if not found.document:
        raise UsageError(f"{name} is a log read line by line, not a document")
    reader: ConfigReader = _resolve(found.reader)
    return reader
