"""The scenario's cache policies and the infrastructure-code draft CloudFront would refuse.

Owns ``aws cloudfront get-cache-policy`` output for the custom policies the distributions use --
``streamhaul-static`` in its two versions (the 13:58 change put the A/B-test cookie ``ab-bucket``
into the cache key of ``/static/*``: the hit-ratio regression's cause), the API reads' policy and the
twin's pages policy -- plus ``list-cache-policies --type managed`` for the managed ones they name.
And ``get-distribution-config`` output for ``E2DRAFTCONFIG1``: the twin's config as someone edited it
in infrastructure code before applying it, with five things CloudFront refuses.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

from pipeline.scenario.configs import (
    AMPLIFY,
    API_READS_POLICY,
    CACHING_DISABLED,
    CACHING_OPTIMIZED,
    CLEAN_PAGES_POLICY,
    STATIC_POLICY,
    distribution_config,
)
from pipeline.scenario.world import ACCOUNT, TWIN

STATIC_NAME = "streamhaul-static"
AB_COOKIE = "ab-bucket"
STATIC_CHANGED = "13:58:40"  # on the scenario's day, two minutes before the deploy's first requests
DRAFT_BEHAVIOR = "/beta/*"
DRAFT_TARGET = "beta-origin"  # no such origin or group
DRAFT_CODE = 501  # not a status code origin groups can fail over on
DRAFT_CERT = f"arn:aws:acm:eu-west-1:{ACCOUNT}:certificate/5c1e7a9d-28b4-4f60-93ad-e7b0c2d4f816"
DRAFT_ACL = f"arn:aws:wafv2:eu-west-1:{ACCOUNT}:regional/webacl/streamhaul-beta/8a4c2e6f-1b3d-4f5a-9c7e-0d2b4f6a8c1e"


def _items(items: list[Any]) -> dict[str, Any]:
    return {"Quantity": len(items), "Items": items} if items else {"Quantity": 0}


def _config(
    name: str, comment: str, ttls: tuple[int, int, int], cookies: list[str], queries: list[str], compress: bool
) -> dict[str, Any]:
    return {
        "Comment": comment,
        "Name": name,
        "DefaultTTL": ttls[1],
        "MaxTTL": ttls[2],
        "MinTTL": ttls[0],
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": compress,
            "EnableAcceptEncodingBrotli": compress,
            "HeadersConfig": {"HeaderBehavior": "none"},
            "CookiesConfig": {"CookieBehavior": "whitelist", "Cookies": _items(cookies)}
            if cookies
            else {"CookieBehavior": "none"},
            "QueryStringsConfig": {"QueryStringBehavior": "whitelist", "QueryStrings": _items(queries)}
            if queries
            else {"QueryStringBehavior": "none"},
        },
    }


def _get(policy_id: str, when: str, etag: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"ETag": etag, "CachePolicy": {"Id": policy_id, "LastModifiedTime": when, "CachePolicyConfig": config}}


def cache_policies(day: date) -> dict[str, dict[str, Any]]:
    """File name -> CLI output, for every cache policy the scenario's distributions use."""
    static = ("streamhaul-static", "Hashed static assets", (1, 86_400, 31_536_000))
    before = (day - timedelta(days=22)).isoformat() + "T10:31:07.402000+00:00"
    changed = f"{day.isoformat()}T{STATIC_CHANGED}.915000+00:00"
    managed = [
        ("Managed-Amplify", AMPLIFY, (2, 2, 600), "all", "all", ["Authorization", "CloudFront-Viewer-Country", "Host"]),
        ("Managed-CachingDisabled", CACHING_DISABLED, (0, 0, 0), "none", "none", []),
        ("Managed-CachingOptimized", CACHING_OPTIMIZED, (1, 86_400, 31_536_000), "none", "none", []),
    ]
    listing = []
    for name, pid, ttls, cookies, queries, headers in managed:
        config = _config(name, "", ttls, [], [], pid != CACHING_DISABLED)
        params = config["ParametersInCacheKeyAndForwardedToOrigin"]
        params["CookiesConfig"] = {"CookieBehavior": cookies}
        params["QueryStringsConfig"] = {"QueryStringBehavior": queries}
        if headers:
            params["HeadersConfig"] = {"HeaderBehavior": "whitelist", "Headers": _items(headers)}
        listing.append(
            {
                "Type": "managed",
                "CachePolicy": {
                    "Id": pid,
                    "LastModifiedTime": "2020-09-01T00:00:00+00:00",
                    "CachePolicyConfig": config,
                },
            }
        )
    return {
        f"{STATIC_NAME}.{day - timedelta(days=22)}.get-cache-policy.json": _get(
            STATIC_POLICY, before, "E1STATICV1", _config(*static, [], [], True)
        ),
        f"{STATIC_NAME}.get-cache-policy.json": _get(
            STATIC_POLICY, changed, "E2STATICV2", _config(*static, [AB_COOKIE], [], True)
        ),
        "streamhaul-api-reads.get-cache-policy.json": _get(
            API_READS_POLICY,
            (day - timedelta(days=90)).isoformat() + "T08:00:00+00:00",
            "E1APIREADS",
            _config("streamhaul-api-reads", "Catalogue reads", (0, 60, 300), [], ["genre", "id", "page", "sort"], True),
        ),
        "streamhaul-pages.get-cache-policy.json": _get(
            CLEAN_PAGES_POLICY,
            (day - timedelta(days=40)).isoformat() + "T16:00:00+00:00",
            "E1CLEANPAGES",
            _config(
                "streamhaul-pages",
                "Pages: the query strings they use",
                (0, 300, 3_600),
                [],
                ["genre", "q", "ref"],
                True,
            ),
        ),
        "managed.list-cache-policies.json": {"CachePolicyList": {"MaxItems": 100, **_items(listing)}},
    }


def draft() -> dict[str, Any]:
    """``get-distribution-config`` output of the draft: the twin's config with five refusals in it."""
    config = copy.deepcopy(distribution_config(TWIN))
    behaviors = config["CacheBehaviors"]["Items"]
    api = next(b for b in behaviors if b["PathPattern"] == "/api/*")
    api["TargetOriginId"] = "api-group"  # writes on a behavior aimed at an origin group
    beta = copy.deepcopy(next(b for b in behaviors if b["PathPattern"] == "/static/*"))
    beta["PathPattern"], beta["TargetOriginId"] = DRAFT_BEHAVIOR, DRAFT_TARGET
    behaviors.insert(0, beta)
    config["CacheBehaviors"]["Quantity"] = len(behaviors)
    group = next(g for g in config["OriginGroups"]["Items"] if g["Id"] == "api-group")
    codes = sorted([*group["FailoverCriteria"]["StatusCodes"]["Items"], DRAFT_CODE])
    group["FailoverCriteria"]["StatusCodes"] = _items(codes)
    config["ViewerCertificate"]["ACMCertificateArn"] = config["ViewerCertificate"]["Certificate"] = DRAFT_CERT
    config["WebACLId"] = DRAFT_ACL
    config["CallerReference"] = "streamhaul-beta-draft"
    config["Aliases"] = _items(["beta.streamhaul.example"])
    config["Comment"] = "Streamhaul beta (infrastructure-code draft, not applied)"
    return {"ETag": "E1DRAFTNOTAPPLIED", "DistributionConfig": config}
