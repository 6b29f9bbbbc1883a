"""The scenario's configuration documents, shaped exactly like the AWS CLI prints them.

Owns ``aws cloudfront get-distribution`` for ``E2SCENARIO01`` (origins, the three origin groups with
their failover criteria, behaviors in precedence order, geo restriction, web ACL, real-time config
on ``/video/*``; a config CloudFront would accept: behaviors aimed at origin groups allow only
GET/HEAD/OPTIONS, writes go through single-origin behaviors), ``aws wafv2 get-web-acl`` for
``streamhaul-acl`` (from :data:`waf.ACL_RULES`), and ``aws cloudfront get-realtime-log-config``
with the fields listed alphabetically, which is not the order CloudFront delivers them in.
"""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pipeline.scenario import waf
from pipeline.scenario.logs import RT_FIELDS
from pipeline.scenario.world import (
    ACCOUNT,
    API_ME,
    API_RECS,
    BEHAVIORS,
    DEFAULT,
    GEO_BLOCKED,
    MAIN,
    REALTIME_NAME,
    STATIC,
    WATCHED_COUNTRIES,
    Behavior,
    Site,
)

REALTIME_ARN = f"arn:aws:cloudfront::{ACCOUNT}:realtime-log-config/{REALTIME_NAME}"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
AMPLIFY = "2e54312d-136d-493c-8eb9-b001f22f67d2"  # managed: all cookies and all query strings in the key
PAGES_POLICY = AMPLIFY  # the main distribution's pages (planted: a key that defeats the cache)
API_READS_POLICY = "9c1e4a7b-5d2f-4e8a-b3c6-0f7d2e1a8b94"
STATIC_POLICY = "7d3e9a51-2c4b-4f8d-a6e0-91b5c3d7f248"  # its 14:00 version put a cookie into the key
CLEAN_PAGES_POLICY = "c3a8f0d2-4b6e-4a1f-9e27-5d8b1c6f0a47"  # the twin's pages: only the query strings they use
CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/7d1c9b3e-52af-4c1e-9e0d-3f6a2b8c4d51"
TWIN_CERT = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/2f6b8d0a-93c1-4e57-b8a4-6c0e1d3f5a92"
ORIGINS = (  # id, domain, origin shield region ("" off)
    ("web-primary", "streamhaul-web-use1-1437265790.us-east-1.elb.amazonaws.com", ""),
    ("web-secondary", "streamhaul-web-euw1-882043117.eu-west-1.elb.amazonaws.com", ""),
    ("api-primary", "streamhaul-api-use1-2015846331.us-east-1.elb.amazonaws.com", ""),
    ("api-secondary", "streamhaul-api-euw1-563920184.eu-west-1.elb.amazonaws.com", ""),
    ("media-primary", "streamhaul-media-use1-774102938.us-east-1.elb.amazonaws.com", "us-east-1"),
    ("media-secondary", "streamhaul-media-euw1-301877465.eu-west-1.elb.amazonaws.com", "eu-west-1"),
    ("upload-origin", "streamhaul-upload-use1-1190384726.us-east-1.elb.amazonaws.com", ""),
)
GROUPS = (
    ("api-group", "api-primary", "api-secondary"),
    ("media-group", "media-primary", "media-secondary"),
    ("web-group", "web-primary", "web-secondary"),
)


def _items(items: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def _custom_origin(origin_id: str, domain: str, shield: str, planted: bool) -> dict[str, Any]:
    protocol, tls = "https-only", ["TLSv1.2"]
    if planted and origin_id == "web-secondary":
        protocol = "http-only"  # plaintext behind an HTTPS edge (playbook row 11)
    if planted and origin_id == "media-secondary":
        tls = ["TLSv1.1", "TLSv1.2"]  # an old protocol towards the origin
        shield = "us-east-1"  # Origin Shield an ocean away from its eu-west-1 origin (row 13)
    return {
        "Id": origin_id,
        "DomainName": domain,
        "OriginPath": "",
        "CustomHeaders": _items([{"HeaderName": "X-Origin-Verify", "HeaderValue": "streamhaul-edge-7f3a"}]),
        "CustomOriginConfig": {
            "HTTPPort": 80,
            "HTTPSPort": 443,
            "OriginProtocolPolicy": protocol,
            "OriginSslProtocols": _items(tls),
            "OriginReadTimeout": 30,
            "OriginKeepaliveTimeout": 5,
            "IpAddressType": "ipv4",
        },
        "ConnectionAttempts": 3,
        "ConnectionTimeout": 10,
        "OriginShield": {"Enabled": True, "OriginShieldRegion": shield} if shield else {"Enabled": False},
        "OriginAccessControlId": "",
    }


def _s3_origin() -> dict[str, Any]:
    return {
        "Id": "static-s3",
        "DomainName": "streamhaul-static-assets.s3.us-east-1.amazonaws.com",
        "OriginPath": "",
        "CustomHeaders": {"Quantity": 0},
        "S3OriginConfig": {"OriginAccessIdentity": "", "OriginReadTimeout": 30},
        "ConnectionAttempts": 3,
        "ConnectionTimeout": 10,
        "OriginShield": {"Enabled": False},
        "OriginAccessControlId": "E3STREAMHAULOAC",
    }


def _group(group_id: str, primary: str, secondary: str, criteria: tuple[int, ...]) -> dict[str, Any]:
    return {
        "Id": group_id,
        "FailoverCriteria": {"StatusCodes": _items(sorted(criteria))},
        "Members": _items([{"OriginId": primary}, {"OriginId": secondary}]),
        "SelectionCriteria": "default",
    }


_API_READ = {
    "methods": ["HEAD", "GET", "OPTIONS"],
    "cached": ["HEAD", "GET", "OPTIONS"],
    "viewer": "https-only",
    "cache": CACHING_DISABLED,
    "request": ALL_VIEWER_EXCEPT_HOST,
    "compress": True,
}
_BEHAVIOR_SETTINGS: dict[str, dict[str, Any]] = {
    "/api/me": _API_READ,
    "/api/catalog*": _API_READ | {"cache": API_READS_POLICY},
    "/api/titles/*": _API_READ | {"cache": API_READS_POLICY},
    "/api/recommendations*": _API_READ
    | {
        "lambda": [
            {
                "LambdaFunctionARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:api-error-normaliser:4",
                "EventType": "origin-response",
                "IncludeBody": False,
            }
        ]
    },
    # writes never fail over, and CloudFront refuses write methods on a behavior aimed at an origin group
    "/api/*": {
        "methods": ["HEAD", "DELETE", "POST", "GET", "OPTIONS", "PUT", "PATCH"],
        "cached": ["HEAD", "GET"],
        "viewer": "https-only",
        "cache": CACHING_DISABLED,
        "request": ALL_VIEWER_EXCEPT_HOST,
        "compress": False,
    },
    "/upload/*": {
        "methods": ["HEAD", "DELETE", "POST", "GET", "OPTIONS", "PUT", "PATCH"],
        "cached": ["HEAD", "GET"],
        "viewer": "https-only",
        "cache": CACHING_DISABLED,
        "request": ALL_VIEWER_EXCEPT_HOST,
        "compress": False,
    },
    "/static/*": {
        "methods": ["HEAD", "GET"],
        "cached": ["HEAD", "GET"],
        "viewer": "redirect-to-https",
        "cache": STATIC_POLICY,
        "compress": True,
    },
    "/video/*": {
        "methods": ["HEAD", "GET", "OPTIONS"],
        "cached": ["HEAD", "GET", "OPTIONS"],
        "viewer": "redirect-to-https",
        "cache": CACHING_OPTIMIZED,
        "compress": False,
        "realtime": REALTIME_ARN,
    },
    "*": {
        "methods": ["HEAD", "GET", "OPTIONS"],
        "cached": ["HEAD", "GET"],
        "viewer": "redirect-to-https",
        "cache": PAGES_POLICY,
        "compress": True,
        "function": [
            {"FunctionARN": f"arn:aws:cloudfront::{ACCOUNT}:function/www-rewrite", "EventType": "viewer-request"}
        ],
    },
}


def _behavior(b: Behavior, planted: bool) -> dict[str, Any]:
    s = _BEHAVIOR_SETTINGS[b.pattern]
    target = b.target
    if not planted:  # the twin is configured as it should be
        s = s | _CLEAN.get(b.pattern, {})
        target = "api-group" if b is API_ME else target
    out: dict[str, Any] = {} if b is DEFAULT else {"PathPattern": b.pattern}
    out |= {
        "TargetOriginId": target,
        "TrustedSigners": {"Enabled": False, "Quantity": 0},
        "TrustedKeyGroups": {"Enabled": False, "Quantity": 0},
        "ViewerProtocolPolicy": s["viewer"],
        "AllowedMethods": {**_items(s["methods"]), "CachedMethods": _items(s["cached"])},
        "SmoothStreaming": False,
        "Compress": s["compress"],
        "LambdaFunctionAssociations": _items(s.get("lambda", [])),
        "FunctionAssociations": _items(s.get("function", [])),
        "FieldLevelEncryptionId": "",
    }
    if "realtime" in s and planted:
        out["RealtimeLogConfigArn"] = s["realtime"]
    out["CachePolicyId"] = s["cache"]
    if "request" in s:
        out["OriginRequestPolicyId"] = s["request"]
    out["GrpcConfig"] = {"Enabled": False}
    return out


# How the clean twin's behaviors differ from the main distribution's (the misconfigurations taken out)
_CLEAN: dict[str, dict[str, Any]] = {
    API_RECS.pattern: {"lambda": []},
    STATIC.pattern: {"cache": CACHING_OPTIMIZED},
    DEFAULT.pattern: {"cache": CLEAN_PAGES_POLICY},
}


def distribution_config(site: Site = MAIN) -> dict[str, Any]:
    """The DistributionConfig of ``site``: the main one with its planted misconfigurations, or the twin."""
    planted = site is MAIN
    origins = [_custom_origin(*o, planted) for o in ORIGINS] + [_s3_origin()]
    criteria = {b.target: b.criteria for b in BEHAVIORS if b.is_group}
    cert = CERT if planted else TWIN_CERT
    return {
        "CallerReference": "streamhaul-www-2023-09-04" if planted else "streamhaul-clean-2024-06-11",
        "Aliases": _items([site.alias]),
        "DefaultRootObject": "",
        "Origins": _items(origins),
        "OriginGroups": _items([_group(g, p, s, criteria[g]) for g, p, s in GROUPS]),
        "DefaultCacheBehavior": _behavior(DEFAULT, planted),
        "CacheBehaviors": _items([_behavior(b, planted) for b in BEHAVIORS if b is not DEFAULT]),
        "CustomErrorResponses": {"Quantity": 0},
        "Comment": "Streamhaul web, API, uploads and video" + ("" if planted else " (configured by the book)"),
        "Logging": {
            "Enabled": True,
            "IncludeCookies": False,
            "Bucket": "streamhaul-edge-logs.s3.amazonaws.com",
            "Prefix": "cloudfront/" if planted else "cloudfront-clean/",
        },
        "PriceClass": "PriceClass_All",
        "Enabled": True,
        "ViewerCertificate": {
            "CloudFrontDefaultCertificate": False,
            "ACMCertificateArn": cert,
            "SSLSupportMethod": "sni-only",
            # planted: a security policy older than TLSv1.2_2021
            "MinimumProtocolVersion": "TLSv1.2_2019" if planted else "TLSv1.2_2021",
            "Certificate": cert,
            "CertificateSource": "acm",
        },
        "Restrictions": {"GeoRestriction": {"RestrictionType": "blacklist", **_items(list(GEO_BLOCKED))}},
        "WebACLId": site.web_acl_arn,
        "HttpVersion": "http2and3",
        "IsIPV6Enabled": True,
        "ContinuousDeploymentPolicyId": "",
        "Staging": False,
    }


def distribution(day: date, site: Site = MAIN) -> dict[str, Any]:
    """``aws cloudfront get-distribution`` output for ``site``."""
    modified = day - timedelta(days=3 if site is MAIN else 40)
    return {
        "ETag": "E2QSCENARIOTAG" if site is MAIN else "E3CLEANTWINTAG",
        "Distribution": {
            "Id": site.distribution_id,
            "ARN": f"arn:aws:cloudfront::{ACCOUNT}:distribution/{site.distribution_id}",
            "Status": "Deployed",
            "LastModifiedTime": f"{modified.isoformat()}T16:12:05.118000+00:00",
            "InProgressInvalidationBatches": 0,
            "DomainName": site.domain,
            "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
            "ActiveTrustedKeyGroups": {"Enabled": False, "Quantity": 0},
            "DistributionConfig": distribution_config(site),
            "AliasICPRecordals": [{"CNAME": site.alias, "ICPRecordalStatus": "APPROVED"}],
        },
    }


def _visibility(name: str) -> dict[str, Any]:
    return {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": name}


def _uri_starts_with(prefix: str) -> dict[str, Any]:
    return {
        "ByteMatchStatement": {
            "SearchString": base64.b64encode(prefix.encode()).decode(),
            "FieldToMatch": {"UriPath": {}},
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
            "PositionalConstraint": "STARTS_WITH",
        }
    }


def _acl_rule(rule: waf.AclRule) -> dict[str, Any]:
    if rule.name == waf.GEO_RULE:
        return {
            "Name": rule.name,
            "Priority": rule.priority,
            "Statement": {"GeoMatchStatement": {"CountryCodes": list(WATCHED_COUNTRIES)}},
            "Action": {"Count": {}},
            "RuleLabels": [{"Name": "streamhaul:watched-country"}],
            "VisibilityConfig": _visibility(rule.name),
        }
    if rule.name == waf.RATE_RULE:
        return {
            "Name": rule.name,
            "Priority": rule.priority,
            "Statement": {
                "RateBasedStatement": {
                    "Limit": waf.RATE_LIMIT,
                    "EvaluationWindowSec": waf.RATE_WINDOW_S,
                    "AggregateKeyType": "IP",
                    "ScopeDownStatement": _uri_starts_with(waf.RATE_SCOPE),
                }
            },
            "Action": {"Count": {}},
            "VisibilityConfig": _visibility(rule.name),
        }
    managed: dict[str, Any] = {"VendorName": "AWS", "Name": rule.group}
    if rule.overrides:
        managed["RuleActionOverrides"] = [{"Name": n, "ActionToUse": {"Count": {}}} for n in rule.overrides]
    if rule.group == waf.BOT:
        managed["ManagedRuleGroupConfigs"] = [{"AWSManagedRulesBotControlRuleSet": {"InspectionLevel": "COMMON"}}]
        managed["ScopeDownStatement"] = _uri_starts_with("/api/")
    return {
        "Name": rule.name,
        "Priority": rule.priority,
        "Statement": {"ManagedRuleGroupStatement": managed},
        "OverrideAction": {"None": {}},
        "VisibilityConfig": _visibility(rule.name),
    }


MAIN_ACL_CAPACITY = 1_610  # planted: above 1,500 WCU, where every inspected request costs more


def web_acl(site: Site = MAIN) -> dict[str, Any]:
    return {
        "WebACL": {
            "Name": site.web_acl_name,
            "Id": site.web_acl_id,
            "ARN": site.web_acl_arn,
            "DefaultAction": {"Allow": {}},
            "Description": "Streamhaul edge protection (Common/SQLi rules partly in Count during rollout)",
            "Rules": [_acl_rule(r) for r in waf.ACL_RULES],
            "VisibilityConfig": _visibility(site.web_acl_name),
            "Capacity": MAIN_ACL_CAPACITY if site is MAIN else 1_232,
            "ManagedByFirewallManager": False,
            "LabelNamespace": f"awswaf:{ACCOUNT}:webacl:{site.web_acl_name}:",
            "RetrofittedByFirewallManager": False,
        },
        "LockToken": "6a0d3c1e-94b2-4f7e-8c15-2b9e7d4a0f63" if site is MAIN else "9e2b7c41-0d5a-4f36-a1c8-3b7e5d9f2a60",
    }


def realtime_config() -> dict[str, Any]:
    return {
        "RealtimeLogConfig": {
            "ARN": REALTIME_ARN,
            "Name": REALTIME_NAME,
            "SamplingRate": 100,
            "EndPoints": [
                {
                    "StreamType": "Kinesis",
                    "KinesisStreamConfig": {
                        "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/CloudFrontRealtimeLogConfigRole",
                        "StreamARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/{REALTIME_NAME}",
                    },
                }
            ],
            "Fields": sorted(RT_FIELDS),  # as listed, not as delivered: readers must reorder
        }
    }


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=4) + "\n", encoding="utf-8")
    return path
