"""What every check reads: the configs as the doctor sees them, and the evidence queries, run once each.

Owns :class:`Context`: the latest version of each distribution config (routing facts from the typed
tables, every other setting from the whole document in ``config_versions``), the web ACLs and cache
policies (managed ones known by id even when not ingested), every version of each for the checks that
look back, and :meth:`Context.query`, which runs a named query (``sql/*.sql``, ``sql/doctor/*.sql``)
on the chosen engine and remembers the ``edgelake query`` command that re-derives its rows. Checks
never read the lake any other way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from pipeline.doctor.managed import MANAGED_CACHE_POLICIES
from pipeline.lake import Lake

LOG = "cloudfront"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Behavior:
    distribution_id: str
    precedence: int
    path_pattern: str
    is_default: bool
    target: str
    target_is_group: bool
    allowed_methods: list[str]
    cached_methods: list[str]
    viewer_protocol_policy: str | None
    cache_policy_id: str | None
    function_events: list[str]
    pointer: str  # JSON Pointer of the behavior inside the DistributionConfig
    doc: dict[str, Any] | None  # the behavior's object in the document (None without a document)

    @property
    def allows_writes(self) -> bool:
        return any(m in WRITES for m in self.allowed_methods)


@dataclass
class Distribution:
    id: str
    behaviors: list[Behavior]
    origins: dict[str, dict[str, Any]]  # origin id -> its object in the document ({} without one)
    origin_pointers: dict[str, str]
    groups: dict[str, dict[str, Any]]  # group id -> primary, secondary, codes, pointer
    document: dict[str, Any] | None
    etag: str | None
    web_acl_id: str | None
    enabled: bool | None

    def group_of(self, origin_id: str) -> str | None:
        """The group whose primary (else secondary) member is ``origin_id``; None if in no group."""
        for role in ("primary", "secondary"):
            for gid, g in self.groups.items():
                if g[role] == origin_id:
                    return gid
        return None

    def origins_behind(self, b: Behavior) -> list[str]:
        if b.target_is_group and b.target in self.groups:
            g = self.groups[b.target]
            return [g["primary"], g["secondary"]]
        return [b.target] if b.target in self.origins else []


@dataclass
class WebAcl:
    arn: str
    name: str
    rules: list[dict[str, Any]]
    document: dict[str, Any] | None
    lock_token: str | None


@dataclass
class CachePolicy:
    id: str
    name: str
    managed: bool
    config: dict[str, Any]  # CachePolicyConfig
    etag: str | None
    last_modified: datetime | None
    ingested: bool


@dataclass
class Version:
    config_id: str
    name: str | None
    etag: str | None
    order_time: datetime
    last_modified: datetime | None
    document: dict[str, Any]


@dataclass
class Context:
    lake: str
    start: datetime | None
    end: datetime | None
    distribution: str | None
    engine: str = "polars"
    distributions: dict[str, Distribution] = field(default_factory=dict)
    without_document: list[str] = field(default_factory=list)
    web_acls: dict[str, WebAcl] = field(default_factory=dict)
    cache_policies: dict[str, CachePolicy] = field(default_factory=dict)
    versions: dict[str, dict[str, list[Version]]] = field(default_factory=dict)  # kind -> id -> oldest first
    _results: dict[str, tuple[list[dict[str, Any]], str]] = field(default_factory=dict)
    _con: Any = None  # the DuckDB connection, opened on the first query

    # --- evidence ---------------------------------------------------------------------------------
    def window(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "distribution": self.distribution}

    def query(self, name: str, params: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], str]:
        """Rows of a named query over the doctor's window (plus ``params``) and its re-run command."""
        from pipeline.analyses import polars_impl
        from pipeline.query import named as queries
        from pipeline.query.views import connect, run_named

        merged = {k: v for k, v in {**self.window(), **(params or {})}.items() if v is not None}
        key = name + json.dumps(merged, sort_keys=True, default=str)
        if key not in self._results:
            named = queries.get(name)
            bound = named.bind(merged)
            if self.engine == "polars":
                frame = polars_impl(name)(Lake(self.lake), **bound)
            else:
                # one connection for every query: opening the lake's views costs a Delta log read per table
                if self._con is None:
                    self._con = connect(self.lake)
                table = pl.from_arrow(run_named(self._con, named, bound))
                assert isinstance(table, pl.DataFrame)
                frame = table
            self._results[key] = (frame.to_dicts(), command(name, self.lake, merged))
        return self._results[key]

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def traffic(self) -> dict[tuple[str, str], dict[str, Any]]:
        """doctor-traffic rows by (distribution, behavior)."""
        rows, _ = self.query("doctor-traffic")
        return {(dist_name(r["distribution_id"]), r["behavior"]): r for r in rows}

    def requests_on(self, dist: str, patterns: list[str]) -> int:
        t = self.traffic()
        return sum(int(t[(dist, p)]["requests"]) for p in patterns if (dist, p) in t)

    def has_logs(self, dist: str) -> bool:
        return any(d == dist for d, _ in self.traffic())

    def acl_of(self, dist: Distribution) -> WebAcl | None:
        if dist.web_acl_id is None:
            return None
        return self.web_acls.get(dist.web_acl_id)

    def policy(self, policy_id: str | None) -> CachePolicy | None:
        return None if policy_id is None else self.cache_policies.get(policy_id)


def dist_name(value: str | None) -> str:
    """A log row's distribution id; rows that carry none (some v2 deliveries) are grouped under one name."""
    return value if value else "(no distribution id)"


def shell_quote(text: str) -> str:
    """``text`` as one shell word: bare when safe, else single-quoted."""
    if re.fullmatch(r"[A-Za-z0-9_./:=,@%+*-]+", text) and "*" not in text:
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def command(name: str, lake: str, params: Mapping[str, Any]) -> str:
    parts = ["edgelake", "query", name, "--lake", lake]
    for key, value in params.items():
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%dT%H:%M:%SZ")
        elif isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        parts += ["--param", f"{key}={value}"]
    return " ".join(shell_quote(p) for p in parts)


# --- loading the configs -------------------------------------------------------------------------------
def _frame(lake: Lake, table: str, dist: str | None = None) -> pl.DataFrame:
    scan = lake.scan(table)
    if dist is not None and "distribution_id" in scan.collect_schema().names():
        scan = scan.filter(pl.col("distribution_id") == dist)
    return scan.collect()


def _versions(lake: Lake) -> dict[str, dict[str, list[Version]]]:
    out: dict[str, dict[str, list[Version]]] = {}
    rows = _frame(lake, "config_versions").sort("order_time", "ingested_at").to_dicts()
    for r in rows:
        out.setdefault(r["kind"], {}).setdefault(r["config_id"], []).append(
            Version(
                r["config_id"],
                r["name"],
                r["etag"],
                r["order_time"],
                r["last_modified_time"],
                json.loads(r["document"]),
            )
        )
    return out


def _items(node: Any, key: str) -> list[Any]:
    value = node.get(key) if isinstance(node, dict) else None
    items = value.get("Items") if isinstance(value, dict) else None
    return items if isinstance(items, list) else []


def _distribution(dist_id: str, tables: dict[str, pl.DataFrame], version: Version | None) -> Distribution:
    doc = version.document if version is not None else None
    docs_by_pointer: dict[str, dict[str, Any]] = {}
    if doc is not None:
        for i, item in enumerate(_items(doc, "CacheBehaviors")):
            docs_by_pointer[f"/CacheBehaviors/Items/{i}"] = item
        if isinstance(doc.get("DefaultCacheBehavior"), dict):
            docs_by_pointer["/DefaultCacheBehavior"] = doc["DefaultCacheBehavior"]
    behaviors = []
    rows = tables["behaviors"].sort("precedence").to_dicts()
    for r in rows:
        pointer = "/DefaultCacheBehavior" if r["is_default"] else f"/CacheBehaviors/Items/{r['precedence']}"
        behaviors.append(
            Behavior(
                distribution_id=dist_id,
                precedence=r["precedence"],
                path_pattern=r["path_pattern"],
                is_default=r["is_default"],
                target=r["target_origin_id"],
                target_is_group=bool(r["target_is_group"]),
                allowed_methods=list(r["allowed_methods"] or ["GET", "HEAD"]),
                cached_methods=list(r["cached_methods"] or ["GET", "HEAD"]),
                viewer_protocol_policy=r["viewer_protocol_policy"],
                cache_policy_id=r["cache_policy_id"],
                function_events=list(r["function_events"] or []),
                pointer=pointer,
                doc=docs_by_pointer.get(pointer),
            )
        )
    origin_docs = {o.get("Id"): (i, o) for i, o in enumerate(_items(doc, "Origins")) if isinstance(o, dict)}
    origins: dict[str, dict[str, Any]] = {}
    pointers: dict[str, str] = {}
    for r in tables["origins"].to_dicts():
        found = origin_docs.get(r["origin_id"])
        origins[r["origin_id"]] = found[1] if found else {}
        pointers[r["origin_id"]] = f"/Origins/Items/{found[0]}" if found else ""
    group_docs = {g.get("Id"): i for i, g in enumerate(_items(doc, "OriginGroups")) if isinstance(g, dict)}
    groups = {
        r["origin_group_id"]: {
            "primary": r["primary_origin_id"],
            "secondary": r["secondary_origin_id"],
            "codes": list(r["failover_status_codes"] or []),
            "pointer": f"/OriginGroups/Items/{group_docs[r['origin_group_id']]}"
            if r["origin_group_id"] in group_docs
            else "",
        }
        for r in tables["origin_groups"].to_dicts()
    }
    info = tables["distributions"].to_dicts()
    first = info[0] if info else {}
    return Distribution(
        id=dist_id,
        behaviors=behaviors,
        origins=origins,
        origin_pointers=pointers,
        groups=groups,
        document=doc,
        etag=version.etag if version is not None else first.get("config_etag"),
        web_acl_id=first.get("web_acl_id"),
        enabled=first.get("enabled"),
    )


def load(
    lake_uri: str, *, start: datetime | None, end: datetime | None, distribution: str | None, engine: str
) -> Context:
    """Read every config the checks need (config tables are small: one pass, no log scan)."""
    lake = Lake(lake_uri)
    ctx = Context(lake_uri, start, end, distribution, engine)
    ctx.versions = _versions(lake)
    tables = {t: _frame(lake, t, distribution) for t in ("distributions", "behaviors", "origins", "origin_groups")}
    dist_versions = ctx.versions.get("distribution", {})
    for dist_id in sorted(set(tables["distributions"].get_column("distribution_id").to_list())):
        mine = {t: f.filter(pl.col("distribution_id") == dist_id) for t, f in tables.items()}
        versions = dist_versions.get(dist_id)
        latest = versions[-1] if versions else None
        if latest is None:
            ctx.without_document.append(dist_id)
        ctx.distributions[dist_id] = _distribution(dist_id, mine, latest)
    acl_versions = ctx.versions.get("web-acl", {})
    acl_rules = _frame(lake, "web_acl_rules")
    for arn in sorted(set(acl_rules.get_column("web_acl_arn").drop_nulls().to_list()) | set(acl_versions)):
        rules = acl_rules.filter(pl.col("web_acl_arn") == arn).sort("priority").to_dicts()
        history = acl_versions.get(arn)
        last = history[-1] if history else None
        name = (rules[0]["web_acl_name"] if rules else None) or (last.name if last else None) or arn
        ctx.web_acls[arn] = WebAcl(arn, name, rules, last.document if last else None, last.etag if last else None)
    for pid, (name, config) in MANAGED_CACHE_POLICIES.items():
        ctx.cache_policies[pid] = CachePolicy(pid, name, True, config, None, None, False)
    for pid, versions in ctx.versions.get("cache-policy", {}).items():
        latest = versions[-1]
        managed = pid in MANAGED_CACHE_POLICIES
        ctx.cache_policies[pid] = CachePolicy(
            pid, latest.name or pid, managed, latest.document, latest.etag, latest.last_modified, True
        )
    return ctx
