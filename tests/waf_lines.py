"""Hand-built AWS WAF records and the CloudFront rows that answered them, with known arrival times.

Shared by the rate analyses' tests and the doctor's rate check: a ``Req`` is one request (time, viewer,
outcome, WAF action, labels, headers); ``waf_line`` and ``cf_lines`` write it as the two logs would,
joined by ``request_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from helpers import CF_FIELDS_33, cf_record, w3c_text

DIST = "E2QWRUHAPOMQZL"


@dataclass
class Req:
    ts_ms: int
    ip: str
    uri: str = "/index.html"
    method: str = "GET"
    status: int | None = 200  # None: no CloudFront row
    action: str = "ALLOW"
    labels: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    dist: str = DIST


def waf_line(n: int, r: Req) -> str:
    return json.dumps(
        {
            "timestamp": r.ts_ms,
            "formatVersion": 1,
            "webaclId": "arn:aws:wafv2:us-east-1:111122223333:global/webacl/edge/1",
            "terminatingRuleId": "Default_Action" if r.action == "ALLOW" else "AWS-AWSManagedRulesCommonRuleSet",
            "terminatingRuleType": "REGULAR" if r.action == "ALLOW" else "MANAGED_RULE_GROUP",
            "action": r.action,
            "terminatingRuleMatchDetails": [],
            "httpSourceName": "CF",
            "httpSourceId": r.dist,
            "ruleGroupList": [],
            "rateBasedRuleList": [],
            "nonTerminatingMatchingRules": [],
            "httpRequest": {
                "clientIp": r.ip,
                "country": "DE",
                "headers": [{"name": "Host", "value": "example.com"}, *r.headers],
                "uri": r.uri,
                "args": "",
                "httpVersion": "HTTP/2.0",
                "httpMethod": r.method,
                "requestId": request_id(n),
            },
            "labels": [{"name": name} for name in r.labels],
        }
    )


def request_id(n: int) -> str:
    return f"rq{n:08d}".ljust(54, "x") + "=="


def cf_lines(reqs: Iterable[tuple[int, Req]]) -> str:
    records = []
    for n, r in reqs:
        when = datetime.fromtimestamp(r.ts_ms / 1000, UTC)
        records.append(
            cf_record(
                date=f"{when:%Y-%m-%d}",
                time=f"{when:%H:%M:%S}",
                c_ip=r.ip,
                cs_method=r.method,
                cs_uri_stem=r.uri,
                sc_status=str(r.status),
                x_edge_request_id=request_id(n),
            )
        )
    return w3c_text(CF_FIELDS_33, records)
