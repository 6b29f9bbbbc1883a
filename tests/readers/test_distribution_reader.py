"""Contracts of the distribution config and web ACL readers: typed values, validation, errors, sniffing."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import SAMPLES, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipeline import schemas
from pipeline.errors import ConfigError
from pipeline.readers.distribution import (
    TABLES,
    read_distribution_config,
)
from pipeline.readers.registry import detect
from pipeline.readers.webacl import read_web_acl

DIST_FILE = SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json"
CONFIG_FILE = SAMPLES / "distribution" / "E3EXAMPLE2.get-distribution-config.json"
ACL_FILE = SAMPLES / "webacl" / "edgelake-www.get-web-acl.json"
URI = "s3://configs/dist.json"


def _doc(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_bytes())
    return loaded


def _bytes(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _schema_of(table: str) -> pl.Schema:
    empty = pl.from_arrow(schemas.load(table).arrow_schema().empty_table())
    assert isinstance(empty, pl.DataFrame)
    return empty.schema


@pytest.fixture(scope="module")
def sample() -> dict[str, pl.DataFrame]:
    return read_distribution_config(DIST_FILE.read_bytes(), uri=URI).tables


# --- get-distribution ---------------------------------------------------------------------------------
def test_tables_match_their_schemas(sample: dict[str, pl.DataFrame]) -> None:
    assert set(sample) == set(TABLES)
    for table, frame in sample.items():
        assert frame.schema == _schema_of(table), table
        assert frame.columns[0] == "distribution_id"
        assert frame.columns[-2:] == ["config_etag", "source_file"]
        assert frame["distribution_id"].unique().to_list() == ["E2EXAMPLE1"]
        assert frame["config_etag"].unique().to_list() == ["E3QWRUHEXAMPLE"]
        assert frame["source_file"].unique().to_list() == [URI]


def test_distribution_row(sample: dict[str, pl.DataFrame]) -> None:
    row = sample["distributions"].row(0, named=True)
    assert row["domain_name"] == "d111111abcdef8.cloudfront.net"
    assert row["arn"] == "arn:aws:cloudfront::111122223333:distribution/E2EXAMPLE1"
    assert row["aliases"] == ["www.example.com"]
    assert row["enabled"] is True
    assert row["price_class"] == "PriceClass_100"
    assert row["http_version"] == "http2and3"
    assert row["default_root_object"] == "index.html"
    assert row["web_acl_id"].endswith(":global/webacl/edgelake-www/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111")
    assert row["last_modified_time"] == datetime(2025, 3, 18, 9, 41, 27, 512000, tzinfo=UTC)


def test_behaviors_in_precedence_order_default_last(sample: dict[str, pl.DataFrame]) -> None:
    b = sample["behaviors"]
    assert b["precedence"].to_list() == [0, 1, 2, 3, 4]
    assert b["path_pattern"].to_list() == ["/api/*", "/static/*", "/upload/*", "/img/?.png", "*"]
    assert b["is_default"].to_list() == [False, False, False, False, True]
    assert b["target_origin_id"].to_list() == ["api-group", "static-s3", "api-primary", "static-s3", "web-group"]
    assert b["target_is_group"].to_list() == [True, False, False, False, True]


def test_behavior_settings(sample: dict[str, pl.DataFrame]) -> None:
    rows = {r["path_pattern"]: r for r in sample["behaviors"].iter_rows(named=True)}
    upload = rows["/upload/*"]
    assert {"POST", "PUT"} <= set(upload["allowed_methods"])
    assert len(upload["allowed_methods"]) == 7
    assert upload["cached_methods"] == ["HEAD", "GET"]
    assert upload["viewer_protocol_policy"] == "https-only"
    assert upload["cache_policy_id"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    api = rows["/api/*"]
    assert api["cached_methods"] == ["HEAD", "GET", "OPTIONS"]
    assert api["function_events"] == ["viewer-request:function", "origin-response:lambda"]
    assert api["realtime_log_config_arn"] == ("arn:aws:cloudfront::111122223333:realtime-log-config/edgelake-api")
    assert api["compress"] is False
    assert rows["*"]["function_events"] == ["viewer-request:function"]
    assert rows["*"]["response_headers_policy_id"] == "67f7725c-6f97-4210-82d7-5512b31e9d03"
    assert rows["/static/*"]["function_events"] == []
    legacy = rows["/img/?.png"]
    assert (legacy["min_ttl"], legacy["default_ttl"], legacy["max_ttl"]) == (0, 86400, 31536000)
    assert legacy["cache_policy_id"] is None
    assert rows["/static/*"]["max_ttl"] is None


def test_origins(sample: dict[str, pl.DataFrame]) -> None:
    o = {r["origin_id"]: r for r in sample["origins"].iter_rows(named=True)}
    assert list(o) == ["web-primary", "web-secondary", "api-primary", "api-secondary", "static-s3"]
    api = o["api-primary"]
    assert api["origin_type"] == "custom"
    assert api["protocol_policy"] == "https-only"
    assert (api["connection_attempts"], api["connection_timeout"]) == (2, 5)
    assert (api["read_timeout"], api["keepalive_timeout"], api["response_completion_timeout"]) == (60, 30, 90)
    assert (api["origin_shield_enabled"], api["origin_shield_region"]) == (True, "us-east-1")
    assert o["api-secondary"]["origin_path"] == "/v1"
    assert o["web-primary"]["origin_path"] is None  # "" in the JSON
    s3 = o["static-s3"]
    assert s3["origin_type"] == "s3"
    assert s3["domain_name"] == "amzn-s3-demo-bucket.s3.us-east-1.amazonaws.com"
    assert (s3["protocol_policy"], s3["keepalive_timeout"], s3["read_timeout"]) == (None, None, 30)
    assert s3["origin_shield_enabled"] is False


def test_origin_groups(sample: dict[str, pl.DataFrame]) -> None:
    g = sample["origin_groups"]
    assert g.select("origin_group_id", "primary_origin_id", "secondary_origin_id").rows() == [
        ("api-group", "api-primary", "api-secondary"),
        ("web-group", "web-primary", "web-secondary"),
    ]
    assert g["failover_status_codes"].to_list() == [[500, 502, 503, 504]] * 2
    assert g["failover_status_codes"].dtype == pl.List(pl.Int16)
    assert g["selection_criteria"].to_list() == ["default", "default"]


def test_rereading_gives_identical_frames(sample: dict[str, pl.DataFrame]) -> None:
    again = read_distribution_config(DIST_FILE.read_bytes(), uri=URI).tables
    for table in TABLES:
        assert_frame_equal(sample[table], again[table])


# --- get-distribution-config and bare configs --------------------------------------------------------
def test_config_output_needs_the_id() -> None:
    with pytest.raises(ConfigError, match="--distribution-id") as err:
        read_distribution_config(CONFIG_FILE.read_bytes(), uri=str(CONFIG_FILE))
    assert str(CONFIG_FILE) in str(err.value)


def test_config_output_with_id() -> None:
    cfg = read_distribution_config(CONFIG_FILE.read_bytes(), uri="c.json", distribution_id="E3EXAMPLE2")
    assert cfg.distribution_id == "E3EXAMPLE2"
    dist = cfg.tables["distributions"].row(0, named=True)
    assert (dist["domain_name"], dist["arn"], dist["last_modified_time"]) == (None, None, None)
    assert dist["aliases"] == []  # Quantity 0, no Items
    assert dist["web_acl_id"] is None and dist["enabled"] is False
    assert dist["config_etag"] == "E1MEDIAEXAMPLE"
    b = cfg.tables["behaviors"].row(0, named=True)
    assert (b["precedence"], b["path_pattern"]) == (0, "*")
    assert (b["is_default"], b["target_is_group"]) == (True, False)
    assert (b["min_ttl"], b["default_ttl"], b["max_ttl"]) == (0, 3600, 86400)
    assert cfg.tables["origin_groups"].height == 0
    assert cfg.tables["origin_groups"].schema == _schema_of("origin_groups")


def test_bare_distribution_config() -> None:
    bare = _doc(DIST_FILE)["Distribution"]["DistributionConfig"]
    cfg = read_distribution_config(_bytes(bare), uri="bare.json", distribution_id="E2EXAMPLE1")
    assert cfg.tables["distributions"]["config_etag"].to_list() == [None]
    assert cfg.tables["behaviors"].height == 5


def test_id_that_contradicts_the_file() -> None:
    with pytest.raises(ConfigError, match=r"distribution E2EXAMPLE1, but --distribution-id says EOTHER"):
        read_distribution_config(DIST_FILE.read_bytes(), uri=URI, distribution_id="EOTHER")
    same = read_distribution_config(DIST_FILE.read_bytes(), uri=URI, distribution_id="E2EXAMPLE1")
    assert same.distribution_id == "E2EXAMPLE1"


def test_minimal_config_gives_nulls() -> None:
    minimal = {
        "DistributionConfig": {
            "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "o.example.com"}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o"},
        }
    }
    t = read_distribution_config(_bytes(minimal), uri="m.json", distribution_id="EMIN").tables
    d = t["distributions"].row(0, named=True)
    assert d["aliases"] is None and d["enabled"] is None and d["config_etag"] is None
    b = t["behaviors"].row(0, named=True)
    assert b["allowed_methods"] is None and b["cached_methods"] is None and b["function_events"] == []
    o = t["origins"].row(0, named=True)
    assert o["origin_type"] is None and o["read_timeout"] is None and o["origin_shield_enabled"] is None
    for table, frame in t.items():
        assert frame.schema == _schema_of(table)


# --- errors ------------------------------------------------------------------------------------------
def _mutated(change: Any) -> bytes:
    doc = _doc(DIST_FILE)
    change(doc["Distribution"]["DistributionConfig"])
    return _bytes(doc)


def _set_target(cfg: dict[str, Any]) -> None:
    cfg["CacheBehaviors"]["Items"][1]["TargetOriginId"] = "no-such-origin"


def _set_member(cfg: dict[str, Any]) -> None:
    cfg["OriginGroups"]["Items"][0]["Members"]["Items"][1]["OriginId"] = "ghost"


def _three_members(cfg: dict[str, Any]) -> None:
    members = cfg["OriginGroups"]["Items"][0]["Members"]
    members["Items"].append({"OriginId": "static-s3"})
    members["Quantity"] = 3


def _bad_enabled(cfg: dict[str, Any]) -> None:
    cfg["Enabled"] = "yes"


def _bad_quantity(cfg: dict[str, Any]) -> None:
    cfg["Aliases"]["Quantity"] = 2


def _dup_origin(cfg: dict[str, Any]) -> None:
    cfg["Origins"]["Items"][1]["Id"] = "web-primary"


def _bad_timeout(cfg: dict[str, Any]) -> None:
    cfg["Origins"]["Items"][0]["ConnectionTimeout"] = 1.5


def _bad_code(cfg: dict[str, Any]) -> None:
    cfg["OriginGroups"]["Items"][0]["FailoverCriteria"]["StatusCodes"]["Items"][0] = 99999


def _no_default(cfg: dict[str, Any]) -> None:
    del cfg["DefaultCacheBehavior"]


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (_set_member, r"origin group 'api-group' names origin 'ghost'"),
        (_three_members, r"lists 3 origins; an origin group has exactly two"),
        (_bad_enabled, r"DistributionConfig\.Enabled should be true or false, not the string 'yes'"),
        (_bad_quantity, r"Aliases\.Quantity is 2 but Items has 1 entries"),
        (_dup_origin, r"repeats origin id 'web-primary'"),
        (_bad_timeout, r"Origins\.Items\[0\]\.ConnectionTimeout should be a whole number, not the number 1\.5"),
        (_bad_code, r"StatusCodes\.Items\[0\] is 99999, out of range"),
        (_no_default, r"DefaultCacheBehavior is missing"),
    ],
)
def test_invalid_configs_name_file_and_path(change: Any, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        read_distribution_config(_mutated(change), uri=URI)
    message = str(err.value)
    assert message.startswith(URI + ": ")
    assert "export it again with the AWS CLI" in message or "expected the JSON printed by" in message


def test_a_target_naming_nothing_is_kept_for_the_doctor() -> None:
    """Infrastructure code can hold such a config before it is applied: read it, let the doctor refuse it."""
    behaviors = read_distribution_config(_mutated(_set_target), uri=URI).tables["behaviors"]
    row = behaviors.filter(behaviors["target_origin_id"] == "no-such-origin").row(0, named=True)
    assert row["path_pattern"] == "/static/*" and row["target_is_group"] is False


def test_bad_last_modified_time() -> None:
    doc = _doc(DIST_FILE)
    doc["Distribution"]["LastModifiedTime"] = "yesterday"
    with pytest.raises(ConfigError, match=r"Distribution\.LastModifiedTime should be an ISO 8601 time"):
        read_distribution_config(_bytes(doc), uri=URI)
    doc["Distribution"]["LastModifiedTime"] = "2019-12-04T23:35:41.433Z"  # AWS CLI v1 style
    t = read_distribution_config(_bytes(doc), uri=URI).tables["distributions"]
    assert t["last_modified_time"][0] == datetime(2019, 12, 4, 23, 35, 41, 433000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", r"the file is empty"),
        (b" \n\t\n", r"the file is empty"),
        (b'{"ETag": "\xff\xfe"}', r"not UTF-8 text \(invalid byte at offset 10\)"),
        (b'{"ETag": "E1", "Distribution": {', r"not valid JSON \(line 1, column"),
        (b"[1, 2]", r"the JSON document is a list of 2, not an object"),
        (b'"text"', r"the JSON document is the string 'text', not an object"),
        (b'{"hello": 1}', r"not a CloudFront distribution config \(top-level keys: hello\)"),
        (b'{"DistributionList": {"Items": []}}', r"list-distributions"),
        (b'{"Distribution": {"Id": "E1"}}', r"Distribution\.DistributionConfig is missing"),
        (b'{"Distribution": []}', r"Distribution should be an object, not a list of 0"),
        (b"[" * 100_000, r"not valid JSON|nested too deeply"),
    ],
)
def test_unreadable_input(data: bytes, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        read_distribution_config(data, uri=URI)
    message = str(err.value)
    assert message.startswith(URI + ": ")
    if "list-distributions" not in pattern:
        assert "get-distribution" in message  # says what was expected


def test_bad_distribution_id_argument() -> None:
    with pytest.raises(ConfigError, match="not a CloudFront id"):
        read_distribution_config(CONFIG_FILE.read_bytes(), uri=URI, distribution_id="../../etc")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["Items", "Quantity", "Id", "TargetOriginId", "Rules", "Name", "Statement", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        [
            ("Distribution", "DistributionConfig", "Origins"),
            ("Distribution", "DistributionConfig", "OriginGroups"),
            ("Distribution", "DistributionConfig", "CacheBehaviors"),
            ("Distribution", "DistributionConfig", "DefaultCacheBehavior"),
            ("Distribution", "DistributionConfig", "Aliases"),
            ("Distribution", "LastModifiedTime"),
            ("Distribution", "Id"),
        ]
    ),
    value=_json_values,
)
def test_hostile_values_are_config_errors(path: tuple[str, ...], value: Any) -> None:
    doc = _doc(DIST_FILE)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        cfg = read_distribution_config(_bytes(doc), uri=URI)
    except ConfigError as exc:
        assert str(exc).startswith(URI)
    else:
        for table, frame in cfg.tables.items():
            assert frame.schema == _schema_of(table)


@settings(max_examples=examples(100), deadline=None)
@given(data=st.binary(max_size=64))
def test_random_bytes_never_crash(data: bytes) -> None:
    for read in (lambda: read_distribution_config(data, uri=URI), lambda: read_web_acl(data, uri=URI)):
        with pytest.raises(ConfigError):
            read()


# --- sniffing ------------------------------------------------------------------------------------------
_WAF_LOG_LINE = (
    b'{"timestamp":1700000000000,"formatVersion":1,'
    b'"webaclId":"arn:aws:wafv2:us-east-1:1:global/webacl/w/1","terminatingRuleId":"Default_Action",'
    b'"action":"ALLOW","httpRequest":{"uri":"/"}}\n'
)
_CF_V2_JSON_LINE = b'{"timestamp":"1700000000","DistributionId":"E2EXAMPLE1","date":"2023-11-14"}\n'
_LEGACY_LOG = b"#Version: 1.0\n#Fields: date time x-edge-location sc-bytes\n"


def test_sniffing() -> None:
    dist_head, config_head = DIST_FILE.read_bytes()[:4096], CONFIG_FILE.read_bytes()[:4096]
    acl_head = ACL_FILE.read_bytes()[:4096]
    assert detect(dist_head) == "distribution-config"
    assert detect(config_head) == "distribution-config"
    assert detect(b"\xef\xbb\xbf  " + config_head) == "distribution-config"
    assert detect(acl_head) == "web-acl"
    assert detect(b'{"Name": "x", "DefaultAction": {"Allow": {}}, "Rules": []}') == "web-acl"  # a bare WebACL
    assert detect(_WAF_LOG_LINE) == "waf"
    assert detect(_CF_V2_JSON_LINE) not in ("distribution-config", "web-acl")
    assert detect(_LEGACY_LOG) == "cloudfront-w3c"
    assert detect(b"") is None and detect(b"\x1f\x8b\x08") is None
    escaped = b'{"httpRequest":{"uri":"/x?a=\\"Distribution\\": {"}}'  # a quoted key inside a logged value
    assert detect(escaped) == "waf"


# --- web ACL -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def acl() -> pl.DataFrame:
    return read_web_acl(ACL_FILE.read_bytes(), uri="acl.json")


def test_web_acl_rows(acl: pl.DataFrame) -> None:
    assert acl.schema == _schema_of("web_acl_rules")
    assert acl.columns[-1] == "source_file"
    assert acl["priority"].to_list() == [0, 1, 2, 3, 4]
    assert acl["rule_kind"].to_list() == [
        "regular",
        "managed_rule_group",
        "managed_rule_group",
        "managed_rule_group",
        "rate_based",
    ]
    assert acl["action"].to_list() == ["COUNT", "NONE", "NONE", "NONE", "BLOCK"]
    assert acl["default_action"].unique().to_list() == ["ALLOW"]
    assert acl["web_acl_name"].unique().to_list() == ["edgelake-www"]
    assert acl["web_acl_arn"][0].endswith(":global/webacl/edgelake-www/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111")
    assert acl["rule_group_name"].to_list() == [
        None,
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        None,
    ]
    assert acl["vendor_name"].to_list() == [None, "AWS", "AWS", "AWS", None]


def test_web_acl_overrides_and_rate(acl: pl.DataFrame) -> None:
    rows = {r["rule_name"]: r for r in acl.iter_rows(named=True)}
    crs = rows["AWS-AWSManagedRulesCommonRuleSet"]
    assert crs["rule_action_overrides"] == [
        {"name": "SizeRestrictions_BODY", "action": "COUNT"},
        {"name": "CrossSiteScripting_BODY", "action": "COUNT"},
    ]
    assert crs["excluded_rules"] == []
    assert rows["AWS-AWSManagedRulesSQLiRuleSet"]["rule_action_overrides"] == []
    regular = rows["count-wp-login-probes"]
    assert regular["rule_action_overrides"] is None and regular["excluded_rules"] is None
    rate = rows["rate-limit-per-ip"]
    assert (rate["rate_limit"], rate["evaluation_window_sec"]) == (2000, 300)
    assert rate["aggregate_key_type"] == "IP"
    original = {r["Name"]: r["Statement"] for r in _doc(ACL_FILE)["WebACL"]["Rules"]}
    for name, row in rows.items():
        assert json.loads(row["statement_json"]) == original[name]
        assert "\n" not in row["statement_json"] and ": " not in row["statement_json"]


def test_web_acl_reread_identical(acl: pl.DataFrame) -> None:
    assert_frame_equal(acl, read_web_acl(ACL_FILE.read_bytes(), uri="acl.json"))


def test_web_acl_bare_unsorted_reference_and_excluded() -> None:
    web_acl = copy.deepcopy(_doc(ACL_FILE)["WebACL"])
    group_uuid = "0f0f0f0f-1111-2222-3333-444455556666"
    web_acl["Rules"].reverse()
    web_acl["Rules"].append(
        {
            "Name": "team-rules",
            "Priority": 7,
            "OverrideAction": {"Count": {}},
            "Statement": {
                "RuleGroupReferenceStatement": {
                    "ARN": f"arn:aws:wafv2:us-east-1:111122223333:global/rulegroup/team-rules/{group_uuid}",
                    "ExcludedRules": [{"Name": "BlockOldBrowsers"}],
                }
            },
            "VisibilityConfig": {
                "SampledRequestsEnabled": False,
                "CloudWatchMetricsEnabled": True,
                "MetricName": "team-rules",
            },
        }
    )
    web_acl["DefaultAction"] = {"Block": {}}
    frame = read_web_acl(_bytes(web_acl), uri="bare.json")
    assert frame["priority"].to_list() == [0, 1, 2, 3, 4, 7]
    ref = frame.row(5, named=True)
    assert (ref["rule_kind"], ref["action"]) == ("rule_group_reference", "COUNT")
    assert ref["rule_group_name"] == "team-rules"
    assert ref["rule_group_arn"].endswith(f"/rulegroup/team-rules/{group_uuid}")
    assert ref["excluded_rules"] == ["BlockOldBrowsers"] and ref["vendor_name"] is None
    assert frame["default_action"].unique().to_list() == ["BLOCK"]


def test_web_acl_without_rules() -> None:
    empty = b'{"WebACL": {"Name": "empty", "DefaultAction": {"Allow": {}}, "Rules": []}}'
    frame = read_web_acl(empty, uri="e")
    assert frame.height == 0 and frame.schema == _schema_of("web_acl_rules")


def _acl_with(change: Any) -> bytes:
    doc = _doc(ACL_FILE)
    change(doc["WebACL"])
    return _bytes(doc)


def _two_actions(acl: dict[str, Any]) -> None:
    acl["Rules"][0]["Action"] = {"Count": {}, "Block": {}}


def _dup_rule(acl: dict[str, Any]) -> None:
    acl["Rules"][1]["Name"] = acl["Rules"][0]["Name"]


def _no_statement(acl: dict[str, Any]) -> None:
    del acl["Rules"][4]["Statement"]


def _group_with_action(acl: dict[str, Any]) -> None:
    del acl["Rules"][2]["OverrideAction"]
    acl["Rules"][2]["Action"] = {"Block": {}}


def _bad_limit(acl: dict[str, Any]) -> None:
    acl["Rules"][4]["Statement"]["RateBasedStatement"]["Limit"] = "2000"


def _rules_not_list(acl: dict[str, Any]) -> None:
    acl["Rules"] = {"Quantity": 0}


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (_two_actions, r"WebACL\.Rules\[0\]\.Action should name exactly one action, not 2 \(Count, Block\)"),
        (_dup_rule, r"repeats rule name 'count-wp-login-probes'"),
        (_no_statement, r"WebACL\.Rules\[4\]\.Statement is missing"),
        (_group_with_action, r"WebACL\.Rules\[2\]\.Action does not apply to a managed rule group rule"),
        (_bad_limit, r"RateBasedStatement\.Limit should be a whole number, not the string '2000'"),
        (_rules_not_list, r"WebACL\.Rules should be a list, not an object"),
    ],
)
def test_web_acl_errors(change: Any, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern) as err:
        read_web_acl(_acl_with(change), uri="acl.json")
    message = str(err.value)
    assert message.startswith("acl.json: ")
    assert "get-web-acl" in message or "export it again with the AWS CLI" in message


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (b"", r"the file is empty"),
        (b"\xc3\x28", r"not UTF-8"),
        (b"{", r"not valid JSON"),
        (b"null", r"the JSON document is null, not an object"),
    ],
)
def test_web_acl_unreadable(data: bytes, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        read_web_acl(data, uri="acl.json")


def test_web_acl_given_a_distribution() -> None:
    with pytest.raises(ConfigError, match=r"not a WAF web ACL \(this looks like a CloudFront distribution"):
        read_web_acl(DIST_FILE.read_bytes(), uri="acl.json")


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, 4),
    value=_json_values,
    key=st.sampled_from(["Name", "Priority", "Action", "OverrideAction", "Statement"]),
)
def test_web_acl_hostile_values(index: int, key: str, value: Any) -> None:
    doc = _doc(ACL_FILE)
    doc["WebACL"]["Rules"][index][key] = value
    try:
        frame = read_web_acl(_bytes(doc), uri="acl.json")
    except ConfigError as exc:
        assert str(exc).startswith("acl.json")
    else:
        assert frame.schema == _schema_of("web_acl_rules")
