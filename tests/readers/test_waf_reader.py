"""Contract tests for the AWS WAF reader (pipeline/readers/waf.py) against schemas/waf.toml."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import SAMPLES, examples
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline import schemas
from pipeline.readers import waf
from pipeline.readers._base import Batch, ReadContext, empty_rejects
from pipeline.readers.waf import read_waf
from pipeline.storage.chunks import ChunkStream

WAF_SAMPLES = SAMPLES / "waf"
CF_SAMPLE = WAF_SAMPLES / "111122223333_waflogs_cloudfront_edge-acl_20250314T1205Z_7c4e1b9a.log.gz"
TS = 1_741_953_900_000  # 2025-03-14T12:05:00Z


def read_path(path: Path, chunk_bytes: int | None = None) -> list[Batch]:
    return read_with_stream(path, chunk_bytes)[0]


def read_with_stream(path: Path, chunk_bytes: int | None = None) -> tuple[list[Batch], ChunkStream]:
    """The batches, and the stream they came from (its ``lines``, ``compressed`` and ``problem``)."""
    stream = ChunkStream(str(path)) if chunk_bytes is None else ChunkStream(str(path), chunk_bytes)
    return list(read_waf(stream, ReadContext(uri=str(path), source="waf"))), stream


def read_bytes(tmp_path: Path, data: bytes, name: str = "waf.log", chunk_bytes: int | None = None) -> list[Batch]:
    path = tmp_path / name
    path.write_bytes(data)
    return read_path(path, chunk_bytes)


def check_reconciles(batches: list[Batch]) -> None:
    for b in batches:
        assert b.table == "waf"
        assert b.lines == b.rows.height + b.line_rejects + b.meta_lines


def collect(batches: list[Batch]) -> tuple[pl.DataFrame, pl.DataFrame]:
    check_reconciles(batches)
    if not batches:  # an object that decodes to no line at all (e.g. a broken gzip stream) gives no batch
        rows = pl.from_arrow(schemas.load("waf").arrow_schema().empty_table())
        assert isinstance(rows, pl.DataFrame)
        return rows, empty_rejects()
    return pl.concat([b.rows for b in batches]), pl.concat([b.rejects for b in batches])


def line(**fields: Any) -> bytes:
    return json.dumps(fields).encode() + b"\n"


def record(**over: Any) -> dict[str, Any]:
    """A small CloudFront-ACL record; keyword arguments replace or add top-level keys."""
    rec: dict[str, Any] = {
        "timestamp": TS,
        "formatVersion": 1,
        "webaclId": "arn:aws:wafv2:us-east-1:111122223333:global/webacl/a/1",
        "terminatingRuleId": "Default_Action",
        "terminatingRuleType": "REGULAR",
        "action": "ALLOW",
        "terminatingRuleMatchDetails": [],
        "httpSourceName": "CF",
        "httpSourceId": "E2QWRUHAPOMQZL",
        "ruleGroupList": [],
        "rateBasedRuleList": [],
        "nonTerminatingMatchingRules": [],
        "httpRequest": {
            "clientIp": "198.51.100.7",
            "country": "US",
            "headers": [{"name": "Host", "value": "www.example.com"}],
            "uri": "/",
            "args": "",
            "httpVersion": "HTTP/2.0",
            "httpMethod": "GET",
            "requestId": "r1",
        },
        "labels": [],
    }
    rec.update(over)
    return rec


# A line Arrow's reader cannot type together with the others (the same key as number and string), which
# sends its whole chunk down the careful per-record route.
POISON = line(timestamp=TS, rateBasedRuleList=[{"maxRateAllowed": 1}]) + line(
    timestamp=TS, rateBasedRuleList=[{"maxRateAllowed": "2"}]
)


def test_poison_lines_send_the_chunk_down_the_careful_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    route = waf._python_route

    def counted(*args: Any) -> Any:
        calls.append(1)
        return route(*args)

    monkeypatch.setattr(waf, "_python_route", counted)
    rows, _ = collect(read_bytes(tmp_path, line(**record())))
    assert (rows.height, len(calls)) == (1, 0)
    rows, _ = collect(read_bytes(tmp_path, line(**record()) + POISON))
    assert (rows.height, len(calls)) == (3, 1)
    limits = rows.get_column("rate_based_rule_list").list.first().struct.field("max_rate_allowed")
    assert limits.to_list() == [None, 1, 2]


# --- AWS documentation records ----------------------------------------------------------------------------
def test_aws_doc_examples_typed_values() -> None:
    rows, rejects = collect(read_path(WAF_SAMPLES / "aws-docs.jsonl"))
    assert rejects.height == 0
    assert rows.get_column("source_line").to_list() == [1, 2, 3, 4, 5, 6]
    assert rows.get_column("unmodeled").null_count() == 6
    sqli, count, group, json_body, captcha_ok, captcha_block = rows.iter_rows(named=True)

    assert sqli["timestamp"] == datetime(2019, 12, 13, 23, 40, 12, 771000, tzinfo=UTC)
    assert sqli["dt"] == date(2019, 12, 13)
    assert (sqli["client_ip"], sqli["country"], sqli["action"]) == ("1.1.1.1", "AU", "BLOCK")
    assert sqli["terminating_rule_id"] == "STMTest_SQLi_XSS"
    assert sqli["terminating_rule_match_details"] == [
        {
            "condition_type": "SQL_INJECTION",
            "sensitivity_level": None,
            "location": "HEADER",
            "matched_data": ["10", "AND", "1"],
            "matched_field_name": None,
        }
    ]
    assert sqli["http_source_name"] is None and sqli["http_source_id"] is None  # "-" in the example
    assert sqli["host"] == "localhost:1989"  # no httpRequest.host: taken from the Host header
    assert sqli["labels"] == ["value"]
    assert sqli["headers"][3] == {"name": "x-stm-test", "value": "10 AND 1=1"}

    assert count["action"] == "ALLOW" and count["terminating_rule_id"] == "Default_Action"
    (counted,) = count["non_terminating_matching_rules"]
    assert (counted["rule_id"], counted["action"]) == ("TestRule", "COUNT")
    assert counted["rule_match_details"][0]["matched_data"] == ["10", "and", "1"]

    assert (group["terminating_rule_type"], group["terminating_rule_id"]) == ("GROUP", "RG-Reference")
    (entry,) = group["rule_group_list"]
    assert entry["rule_group_id"].endswith("/rulegroup/hello-world/c05lb698-1f11-4m41-aef4-99a506d53f4b")
    assert entry["terminating_rule"] == {
        "rule_id": "RuleA-XSS",
        "action": "BLOCK",
        "overridden_action": None,
        "rule_match_details": None,
    }
    assert [r["rule_id"] for r in entry["non_terminating_matching_rules"]] == ["RuleB-SQLi"]
    assert entry["excluded_rules"] is None

    assert json_body["request_id"] is None  # the string "null"
    assert (json_body["http_method"], json_body["headers"], json_body["host"]) == ("POST", [], None)
    assert json_body["terminating_rule_match_details"][0]["location"] == "UNKNOWN"

    assert captcha_ok["non_terminating_matching_rules"][0]["captcha_response"] == {
        "response_code": 0,
        "solve_timestamp": 1632420429,
        "failure_reason": None,
    }
    assert captcha_ok["request_headers_inserted"] == [
        {"name": "x-amzn-waf-test-header-name", "value": "test-header-value"}
    ]
    assert captcha_ok["request_id"] == "GINMHHUgoAMFxug="
    assert (captcha_block["action"], captcha_block["response_code_sent"]) == ("CAPTCHA", 405)
    assert captcha_block["captcha_response"] == {
        "response_code": 405,
        "solve_timestamp": 0,
        "failure_reason": "TOKEN_MISSING",
    }


def test_aws_rate_based_example_is_rejected_and_its_string_window_read(tmp_path: Path) -> None:
    text = (WAF_SAMPLES / "aws-docs-invalid.jsonl").read_text(encoding="utf-8")
    rows, rejects = collect(read_path(WAF_SAMPLES / "aws-docs-invalid.jsonl"))
    assert rows.height == 0
    assert rejects.select("source_line", "reason_code").rows() == [(1, "invalid_json")]
    assert rejects.item(0, "raw") == text.rstrip("\n")
    assert "column 61" in rejects.item(0, "reason")

    filled = text.replace('"webaclId": ...', '"webaclId": "arn:aws:wafv2:eu-west-3:1:regional/webacl/x/1"')
    filled = filled.replace('"rateBasedRuleId": ...', '"rateBasedRuleId": "rbr-1"')
    rows, rejects = collect(read_bytes(tmp_path, filled.encode()))
    assert rejects.height == 0
    (rule,) = rows.item(0, "rate_based_rule_list")
    assert rule == {
        "rate_based_rule_id": "rbr-1",
        "rate_based_rule_name": "RateBasedRule",
        "limit_key": "CUSTOMKEYS",
        "max_rate_allowed": 100,
        "evaluation_window_sec": 120,
        "limit_value": None,
        "custom_values": [{"key": "HEADER", "name": "dogname", "value": "ella"}],
    }
    assert (rows.item(0, "terminating_rule_type"), rows.item(0, "action")) == ("RATE_BASED", "BLOCK")
    assert rows.item(0, "host") == "rjvegx5guh.execute-api.eu-west-3.amazonaws.com"
    assert rows.item(0, "unmodeled") is None


# --- the CloudFront sample -------------------------------------------------------------------------------
def test_cloudfront_sample() -> None:
    assert re.fullmatch(r"\d{12}_waflogs_cloudfront_[\w-]+_\d{8}T\d{4}Z_[0-9a-f]+\.log\.gz", CF_SAMPLE.name)
    rows, rejects = collect(read_path(CF_SAMPLE))
    assert (rows.height, rejects.height) == (12, 0)
    assert rows.get_column("unmodeled").null_count() == 12  # customerConfig is null throughout
    assert rows.get_column("http_source_id").unique().to_list() == ["E2QWRUHAPOMQZL"]
    assert rows.get_column("request_id").str.len_chars().unique().to_list() == [56]
    assert rows.get_column("dt").unique().to_list() == [date(2025, 3, 14)]
    by_rule = {r["terminating_rule_id"]: r for r in rows.iter_rows(named=True) if r["action"] != "ALLOW"}

    sqli = by_rule["AWS-AWSManagedRulesSQLiRuleSet"]
    assert sqli["terminating_rule_match_details"][0]["matched_data"] == ["10", "AND", "1", "=", "1"]
    sqli_rule = sqli["rule_group_list"][1]["terminating_rule"]
    assert sqli_rule["rule_match_details"][0]["matched_field_name"] == "id"
    assert "awswaf:managed:aws:sql-database:SQLi_QueryArguments" in sqli["labels"]

    rate = by_rule["rate-limit-per-ip"]
    assert rate["response_code_sent"] == 429
    assert [
        (r["limit_key"], r["max_rate_allowed"], r["evaluation_window_sec"], r["limit_value"])
        for r in rate["rate_based_rule_list"]
    ] == [("IP", 2000, 300, "203.0.113.77")]

    overrides = rows.select(
        pl.col("rule_group_list").explode().struct.field("non_terminating_matching_rules").explode().struct.unnest()
    ).drop_nulls("rule_id")
    assert overrides.select("rule_id", "action", "overridden_action").rows() == [
        ("SizeRestrictions_BODY", "COUNT", "BLOCK")
    ]
    excluded = rows.select(
        pl.col("rule_group_list").explode().struct.field("excluded_rules").explode().struct.unnest()
    ).drop_nulls()
    assert excluded.rows() == [("EXCLUDED_AS_COUNT", "Host_localhost_HEADER")]
    acl_counts = rows.select(pl.col("non_terminating_matching_rules").explode().struct.field("rule_id"))
    acl_counts = acl_counts.drop_nulls()
    assert sorted(acl_counts.to_series().to_list()) == ["count-admin-paths", "rate-per-session"]
    assert rows.filter(pl.col("country").is_null()).get_column("terminating_rule_id").to_list() == [
        "AWS-AWSManagedRulesCommonRuleSet"
    ]
    assert by_rule["challenge-login"]["challenge_response"]["failure_reason"] == "TOKEN_MISSING"
    assert by_rule["AWS-AWSManagedRulesBotControlRuleSet"]["client_ip"] == "2001:db8::7"


# --- unknown and odd fields ------------------------------------------------------------------------------
def test_unknown_fields_land_in_unmodeled_on_both_routes(tmp_path: Path) -> None:
    rec = record(newTopLevel={"k": [1, 2]}, nothingHere=None)
    rec["httpRequest"]["newKey"] = "x"
    rec["httpRequest"]["headers"].append({"name": "myHeader", "myValue": "10 AND 1=1"})
    rec["ruleGroupList"] = [{"ruleGroupId": "g", "terminatingRule": None, "customerConfig": {"a": 1}}]
    expected = {
        "newTopLevel": {"k": [1, 2]},
        "httpRequest.headers[1].myValue": "10 AND 1=1",
        "httpRequest.newKey": "x",
        "ruleGroupList[0].customerConfig": {"a": 1},
    }
    for data in (json.dumps(rec).encode() + b"\n", json.dumps(rec).encode() + b"\n" + POISON):
        rows, rejects = collect(read_bytes(tmp_path, data))
        assert rejects.height == 0
        assert json.loads(rows.item(0, "unmodeled")) == expected
        assert rows.item(0, "headers")[1] == {"name": "myHeader", "value": None}
        assert rows.item(0, "rule_group_list")[0]["rule_group_id"] == "g"
        assert rows.item(0, "client_ip") == "198.51.100.7"


def test_wrong_types_are_kept_in_unmodeled_and_numbers_in_strings_are_read(tmp_path: Path) -> None:
    rec = record(
        responseCodeSent="403",
        formatVersion=1.0,
        labels="not-a-list",
        clientAsn=True,
        rateBasedRuleList=[{"rateBasedRuleName": "r", "maxRateAllowed": "2000", "evaluationWindowSec": 60.0}],
    )
    rec["httpRequest"]["country"] = "-"
    rows, rejects = collect(read_bytes(tmp_path, json.dumps(rec).encode() + b"\n"))
    assert rejects.height == 0
    row = rows.row(0, named=True)
    assert (row["response_code_sent"], row["format_version"]) == (403, 1)
    assert (row["labels"], row["client_asn"]) == (None, None)
    assert row["rate_based_rule_list"][0]["max_rate_allowed"] == 2000
    assert row["rate_based_rule_list"][0]["evaluation_window_sec"] == 60
    assert row["country"] is None
    assert json.loads(row["unmodeled"]) == {"labels": "not-a-list", "clientAsn": True}


def test_host_prefers_the_host_field_then_any_case_of_the_header(tmp_path: Path) -> None:
    a = record()
    a["httpRequest"]["host"] = "field.example"
    b = record()
    b["httpRequest"]["headers"] = [{"name": "X-A", "value": "1"}, {"name": "HoSt", "value": "header.example"}]
    c = record()
    c["httpRequest"]["headers"] = []
    rows, _ = collect(read_bytes(tmp_path, b"".join(json.dumps(r).encode() + b"\n" for r in (a, b, c))))
    assert rows.get_column("host").to_list() == ["field.example", "header.example", None]


# --- hostile input ---------------------------------------------------------------------------------------
def test_bad_input_corpus_reconciles_and_good_lines_of_the_chunk_still_parse(tmp_path: Path) -> None:
    good = json.dumps(record()).encode()
    corpus = [
        good,  # 1
        b'{"timestamp": 1741953900000, "action":',  # 2 invalid JSON
        b"[1, 2, 3]",  # 3 array
        b"42",  # 4 number
        b'{"timestamp":1741953900000,"action":"\xff\xfe"}',  # 5 invalid UTF-8
        b"{}",  # 6 no timestamp
        b"",  # 7 blank
        b"   \t",  # 8 blank
        json.dumps(record(action="BLOCK")).encode() + b"\r",  # 9 CRLF line end
        b'"just a string"',  # 10
        b"null",  # 11
        b'{"timestamp": "yesterday"}',  # 12 unusable timestamp
        b'{"timestamp": 1741953900}',  # 13 seconds, not milliseconds
        b'{"timestamp": 1741953900000} {"timestamp": 1741953900000}',  # 14 two objects
        b'{"timestamp": NaN}',  # 15
        json.dumps(record(action="CAPTCHA")).encode(),  # 16
    ]
    batches = read_bytes(tmp_path, b"\n".join(corpus) + b"\n")
    assert len(batches) == 1
    (batch,) = batches
    assert (batch.lines, batch.rows.height, batch.line_rejects, batch.meta_lines) == (16, 3, 11, 2)
    check_reconciles(batches)
    assert batch.rows.select("source_line", "action").rows() == [(1, "ALLOW"), (9, "BLOCK"), (16, "CAPTCHA")]
    codes = dict(batch.rejects.select("source_line", "reason_code").rows())
    assert codes == {
        2: "invalid_json",
        3: "not_an_object",
        4: "not_an_object",
        5: "invalid_utf8",
        6: "missing_field",
        10: "not_an_object",
        11: "not_an_object",
        12: "bad_value",
        13: "bad_value",
        14: "invalid_json",
        15: "invalid_json",
    }
    reasons = dict(batch.rejects.select("source_line", "reason").rows())
    assert "array" in reasons[3] and "null" in reasons[11]
    assert reasons[6] == "record has no timestamp"
    assert "1741953900" in reasons[13]
    raws = dict(batch.rejects.select("source_line", "raw").rows())
    assert raws[5] == '{"timestamp":1741953900000,"action":"\\xff\\xfe"}'
    assert raws[3] == "[1, 2, 3]"
    assert set(batch.rejects.get_column("source_file")) == {str(tmp_path / "waf.log")}


def test_nesting_bombs_and_lone_null_do_not_crash(tmp_path: Path) -> None:
    deep = b'{"timestamp": 1741953900000, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    data = b"null\n" + deep + b"\n" + json.dumps(record()).encode() + b"\n"
    rows, rejects = collect(read_bytes(tmp_path, data))
    assert rows.get_column("source_line").to_list() == [3]
    assert rejects.select("source_line", "reason_code").rows() == [(1, "not_an_object"), (2, "invalid_json")]


def test_lone_surrogates_become_replacement_characters(tmp_path: Path) -> None:
    rec = json.dumps(record(terminatingRuleId="x")).replace('"x"', '"a\\ud800b"')
    rows, rejects = collect(read_bytes(tmp_path, rec.encode() + b"\n"))
    assert rejects.height == 0
    assert rows.item(0, "terminating_rule_id") == "a\ufffdb"


def test_small_chunks_each_reconcile_and_cover_every_line(tmp_path: Path) -> None:
    data = gzip.decompress(CF_SAMPLE.read_bytes())
    lines = data.splitlines()
    mixed = b"\n".join([*lines[:5], b"", b"{bad", *lines[5:], b"[]"]) + b"\n"
    batches = read_bytes(tmp_path, gzip.compress(mixed), name="w.log.gz", chunk_bytes=4096)
    assert len(batches) > 3
    rows, rejects = collect(batches)
    assert sum(b.lines for b in batches) == len(lines) + 3
    assert rows.height == 12 and rejects.get_column("source_line").to_list() == [7, 15]
    seen = sorted([*rows.get_column("source_line"), *rejects.get_column("source_line"), 6])
    assert seen == list(range(1, len(lines) + 4))


# --- schema conformance ----------------------------------------------------------------------------------
def test_rows_match_the_schema_exactly(tmp_path: Path) -> None:
    schema = schemas.load("waf")
    names = [c.name for c in schema.columns]
    assert names[-3:] == ["source_file", "source_line", "dt"]
    expected = pl.from_arrow(schema.arrow_schema().empty_table()).schema
    for data in (CF_SAMPLE.read_bytes(), b"\n", POISON):
        for batch in read_bytes(tmp_path, data, name="s.log.gz"):
            assert batch.rows.columns == names
            assert batch.rows.schema == expected
            arrow = batch.rows.to_arrow().cast(schema.arrow_schema())
            assert [f.type for f in arrow.schema] == [c.arrow_type for c in schema.columns]
            required = pl.col("timestamp", "source_file", "source_line", "dt").null_count()
            assert batch.rows.select(required).row(0) == (0, 0, 0, 0)


def test_conform_adds_typed_nulls_orders_and_casts() -> None:
    schema = schemas.load("waf")
    df = pl.DataFrame({"source_line": [1], "action": ["ALLOW"], "response_code_sent": [403]})
    df = waf.schema_columns(df, schema)
    assert df.columns == [c.name for c in schema.columns]
    assert df.schema["response_code_sent"] == pl.Int16 and df.item(0, "response_code_sent") == 403
    assert df.item(0, "rule_group_list") is None and df.schema["labels"] == pl.List(pl.String)


# --- round trip ------------------------------------------------------------------------------------------
_text = st.text(max_size=12)
_maybe = st.one_of(st.none(), _text)
_header = st.fixed_dictionaries({"name": _text, "value": _text})
_details = st.lists(
    st.fixed_dictionaries(
        {
            "conditionType": st.sampled_from(["SQL_INJECTION", "XSS"]),
            "location": _text,
            "matchedData": st.lists(_text, max_size=3),
        }
    ),
    max_size=2,
)
_rate = st.fixed_dictionaries(
    {
        "rateBasedRuleName": _text,
        "limitKey": st.sampled_from(["IP", "CUSTOMKEYS", "CONSTANT"]),
        "maxRateAllowed": st.integers(10, 2_000_000_000),
        "evaluationWindowSec": st.sampled_from([60, 120, 300, 600]),
        "customValues": st.lists(st.fixed_dictionaries({"key": _text, "name": _text, "value": _text}), max_size=2),
    }
)
_records = st.fixed_dictionaries(
    {
        "timestamp": st.integers(waf._TS_MIN_MS, waf._TS_MAX_MS - 1),
        "action": st.sampled_from(["ALLOW", "BLOCK", "CAPTCHA", "CHALLENGE"]),
        "terminatingRuleId": _text,
        "responseCodeSent": st.one_of(st.none(), st.integers(200, 599)),
        "clientAsn": st.one_of(st.none(), st.integers(0, 2**32)),
        "terminatingRuleMatchDetails": _details,
        "rateBasedRuleList": st.lists(_rate, max_size=2),
        "labels": st.lists(st.fixed_dictionaries({"name": _text}), max_size=4),
        "httpRequest": st.fixed_dictionaries(
            {"clientIp": _maybe, "uri": _text, "args": _text, "headers": st.lists(_header, max_size=4)}
        ),
    }
)


def _expected(rec: dict[str, Any]) -> dict[str, Any]:
    def snake(d: dict[str, Any]) -> dict[str, Any]:
        return {schemas.column_name(k): v for k, v in d.items()}

    return {
        "timestamp": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rec["timestamp"]),
        "action": rec["action"],
        "terminating_rule_id": rec["terminatingRuleId"],
        "response_code_sent": rec["responseCodeSent"],
        "client_asn": rec["clientAsn"],
        "terminating_rule_match_details": [
            {**snake(d), "sensitivity_level": None, "matched_field_name": None}
            for d in rec["terminatingRuleMatchDetails"]
        ],
        "rate_based_rule_list": [
            {
                **snake(r),
                "evaluation_window_sec": int(r["evaluationWindowSec"]),
                "rate_based_rule_id": None,
                "limit_value": None,
            }
            for r in rec["rateBasedRuleList"]
        ],
        "labels": [label["name"] for label in rec["labels"]],
        "client_ip": rec["httpRequest"]["clientIp"],
        "uri": rec["httpRequest"]["uri"],
        "args": rec["httpRequest"]["args"],
        "headers": rec["httpRequest"]["headers"],
    }


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(_records, min_size=1, max_size=6),
    window_as_text=st.booleans(),
    ascii_only=st.booleans(),
    careful=st.booleans(),
)
def test_round_trip(
    tmp_path: Path, records: list[dict[str, Any]], window_as_text: bool, ascii_only: bool, careful: bool
) -> None:
    if window_as_text:
        for rec in records:
            for rule in rec["rateBasedRuleList"]:
                rule["evaluationWindowSec"] = str(rule["evaluationWindowSec"])
    data = b"".join(json.dumps(r, ensure_ascii=ascii_only).encode() + b"\n" for r in records)
    rows, rejects = collect(read_bytes(tmp_path, data + (POISON if careful else b"")))
    assert rejects.height == 0
    rows = rows.head(len(records))
    expected = [_expected(r) for r in records]
    assert rows.select(list(expected[0])).to_dicts() == expected
    assert rows.get_column("source_line").to_list() == list(range(1, len(records) + 1))
    assert rows.get_column("unmodeled").null_count() == len(records)


@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20])
def test_one_batch_per_chunk(tmp_path: Path, chunk_bytes: int) -> None:
    data = b"".join(line(timestamp=TS + i, action="ALLOW") for i in range(20))
    path = tmp_path / "w.log.gz"
    path.write_bytes(gzip.compress(data))
    stream = ChunkStream(str(path), chunk_bytes=chunk_bytes)
    n_chunks = sum(1 for _ in ChunkStream(str(path), chunk_bytes=chunk_bytes))
    batches = list(read_waf(stream, ReadContext(uri=str(path), source="waf")))
    assert len(batches) == n_chunks
    assert pl.concat([b.rows for b in batches]).get_column("timestamp").dt.epoch("ms").to_list() == [
        TS + i for i in range(20)
    ]


_DOC_LINES = (WAF_SAMPLES / "aws-docs.jsonl").read_bytes().splitlines()
_any_line = st.one_of(
    st.sampled_from(_DOC_LINES),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")),
    st.sampled_from(_DOC_LINES).flatmap(lambda doc: st.integers(0, len(doc)).map(lambda i: doc[:i])),
    st.sampled_from([b"", b" ", b"null", b"{}", b"[]", b'{"timestamp":1741953900000,"httpRequest":[]}']),
)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(_any_line, min_size=1, max_size=12))
@example(lines=[b"\x1f\x8b"])  # gzip's magic and nothing after it: the reader yields no batch
def test_any_input_is_fully_accounted_for(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "waf.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    batches, stream = read_with_stream(path)
    rows, rejects = collect(batches)
    numbered = sorted([*rows.get_column("source_line"), *rejects.get_column("source_line")])
    assert len(numbered) == len(set(numbered))
    # every line the stream delivered is a row, a line reject or a meta line
    assert len(numbered) + sum(b.meta_lines for b in batches) == stream.lines
    if stream.compressed:
        # the first line began with gzip's magic bytes, so the object is read as a gzip stream, a broken
        # one: ingest quarantines the object with this problem as the reason (test_bad_input covers it)
        assert stream.problem is not None
    else:
        assert stream.problem is None and stream.lines == len(lines)
        assert set(rows.get_column("source_line")) >= {i + 1 for i, text in enumerate(lines) if text in _DOC_LINES}
