"""Config versions: every ingested distribution config, web ACL and cache policy is kept; the latest rules.

The config tables hold one version per config, picked by LastModifiedTime when the export has it and by
ingestion time when it does not (get-distribution-config); ``config_versions`` keeps them all, whole.
Cache policies are a config input of their own (get-cache-policy, list-cache-policies).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import SAMPLES, sql

from pipeline.errors import ConfigError
from pipeline.ingest import IngestOptions, ingest
from pipeline.readers.cachepolicy import read_cache_policies
from pipeline.readers.registry import detect

DIST = SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json"
MANAGED = SAMPLES / "cache-policy" / "managed.list-cache-policies.json"


def _older_version(tmp_path: Path) -> Path:
    """E2EXAMPLE1 a week earlier: /static/* still on the legacy ForwardedValues, another ETag."""
    doc = json.loads(DIST.read_text())
    doc["ETag"] = "E1OLDEREXAMPLE"
    doc["Distribution"]["LastModifiedTime"] = "2025-03-11T08:00:00+00:00"
    static = doc["Distribution"]["DistributionConfig"]["CacheBehaviors"]["Items"][1]
    assert static["PathPattern"] == "/static/*"
    del static["CachePolicyId"]
    static["ForwardedValues"] = {"QueryString": False, "Cookies": {"Forward": "none"}, "Headers": {"Quantity": 0}}
    static |= {"MinTTL": 0, "DefaultTTL": 86400, "MaxTTL": 31536000}
    path = tmp_path / "E2EXAMPLE1.older.json"
    path.write_text(json.dumps(doc))
    return path


def _static_policy(lake: str) -> Any:
    return sql(lake, "SELECT cache_policy_id FROM behaviors WHERE path_pattern = '/static/*'").item()


@pytest.mark.parametrize("newest_first", [True, False])
def test_every_version_is_kept_and_the_latest_is_current(tmp_path: Path, newest_first: bool) -> None:
    lake = str(tmp_path / "lake")
    older = _older_version(tmp_path)
    for path in [DIST, older] if newest_first else [older, DIST]:
        ingest([str(path)], lake)
    versions = sql(lake, "SELECT etag, last_modified_time, kind, config_id FROM config_versions ORDER BY order_time")
    assert versions.get_column("etag").to_list() == ["E1OLDEREXAMPLE", "E3QWRUHEXAMPLE"]
    assert set(versions.get_column("config_id")) == {"E2EXAMPLE1"} and set(versions.get_column("kind")) == {
        "distribution"
    }
    # whatever the order of ingestion, the config tables hold the version AWS changed last
    assert _static_policy(lake) == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert sql(lake, "SELECT config_etag FROM distributions").item() == "E3QWRUHEXAMPLE"
    doc = json.loads(sql(lake, "SELECT document FROM config_versions WHERE etag = 'E1OLDEREXAMPLE'").item())
    assert doc["CacheBehaviors"]["Items"][1]["ForwardedValues"]["Cookies"] == {"Forward": "none"}


def test_an_export_without_last_modified_time_is_ordered_by_ingestion(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    ingest([str(DIST)], lake)
    doc = json.loads(DIST.read_text())
    config = doc["Distribution"]["DistributionConfig"]
    config["Comment"] = "edited after the export above"
    bare = tmp_path / "E2EXAMPLE1.get-distribution-config.json"
    bare.write_text(json.dumps({"ETag": "E9CONFIGONLY", "DistributionConfig": config}))
    ingest([str(bare)], lake, IngestOptions(distribution_id="E2EXAMPLE1"))
    assert sql(lake, "SELECT comment FROM distributions").item() == "edited after the export above"
    rows = sql(lake, "SELECT etag, last_modified_time IS NULL AS undated FROM config_versions ORDER BY order_time")
    assert rows.rows() == [("E3QWRUHEXAMPLE", False), ("E9CONFIGONLY", True)]
    ingest([str(DIST)], lake)  # the same document again from the same file: already in the lake
    assert sql(lake, "SELECT count(*) FROM config_versions").item() == 2


def test_web_acl_versions_carry_the_lock_token(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    ingest([str(SAMPLES / "webacl" / "edgelake-www.get-web-acl.json")], lake)
    row = sql(lake, "SELECT kind, config_id, name, etag, document FROM config_versions").row(0, named=True)
    assert (row["kind"], row["name"], row["etag"]) == (
        "web-acl",
        "edgelake-www",
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
    )
    assert row["config_id"].endswith(":global/webacl/edgelake-www/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111")
    assert json.loads(row["document"])["Capacity"] == 1427


def test_cache_policies_from_list_and_get(tmp_path: Path) -> None:
    assert detect(MANAGED.read_bytes()[:4096]) == "cache-policy"
    lake = str(tmp_path / "lake")
    summary = ingest([str(MANAGED)], lake)
    assert summary.rows["cache_policies"] == 7 and summary.rejects == 0
    amplify = sql(lake, "SELECT * FROM cache_policies WHERE name = 'Managed-Amplify'").row(0, named=True)
    assert (amplify["cookie_behavior"], amplify["query_string_behavior"], amplify["policy_type"]) == (
        "all",
        "all",
        "managed",
    )
    assert amplify["headers"] == ["Authorization", "CloudFront-Viewer-Country", "Host"]
    # one custom policy in two versions: the key gained a cookie
    base = {
        "Id": "0b5e2c1d-7f3a-4c8e-9d2b-6a1f0e4c3b21",
        "CachePolicyConfig": {
            "Comment": "",
            "Name": "static-assets",
            "DefaultTTL": 86400,
            "MaxTTL": 31536000,
            "MinTTL": 1,
            "ParametersInCacheKeyAndForwardedToOrigin": {
                "EnableAcceptEncodingGzip": True,
                "EnableAcceptEncodingBrotli": True,
                "HeadersConfig": {"HeaderBehavior": "none"},
                "CookiesConfig": {"CookieBehavior": "none"},
                "QueryStringsConfig": {"QueryStringBehavior": "none"},
            },
        },
    }
    later = json.loads(json.dumps(base))
    later["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]["CookiesConfig"] = {
        "CookieBehavior": "whitelist",
        "Cookies": {"Quantity": 1, "Items": ["ab-bucket"]},
    }
    files = []
    for name, policy, when, etag in (
        ("new", later, "2025-03-14T13:58:40Z", "E2NEW"),
        ("old", base, "2025-02-01T09:00:00Z", "E1OLD"),
    ):
        path = tmp_path / f"static-assets.{name}.json"
        path.write_text(json.dumps({"ETag": etag, "CachePolicy": policy | {"LastModifiedTime": when}}))
        files.append(str(path))
    ingest(files, lake)
    current = sql(lake, "SELECT * FROM cache_policies WHERE name = 'static-assets'").row(0, named=True)
    assert (current["cookie_behavior"], current["cookies"], current["config_etag"]) == (
        "whitelist",
        ["ab-bucket"],
        "E2NEW",
    )
    versions = sql(
        lake,
        "SELECT etag FROM config_versions WHERE kind = 'cache-policy' AND name = 'static-assets' ORDER BY order_time",
    )
    assert versions.get_column("etag").to_list() == ["E1OLD", "E2NEW"]


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ({"ETag": "E1", "CachePolicyConfig": {"Name": "x"}}, r"get-cache-policy-config.*get-cache-policy --id"),
        (
            {
                "CachePolicy": {
                    "Id": "p1",
                    "CachePolicyConfig": {
                        "ParametersInCacheKeyAndForwardedToOrigin": {"CookiesConfig": {"CookieBehavior": "some"}}
                    },
                }
            },
            r"CookieBehavior is 'some'; CloudFront takes none, whitelist, allExcept, all",
        ),
        ({"Policies": []}, r"not a CloudFront cache policy export"),
    ],
)
def test_bad_cache_policy_exports_are_named(doc: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        read_cache_policies(json.dumps(doc).encode(), uri="policy.json")
