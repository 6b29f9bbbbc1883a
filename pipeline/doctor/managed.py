"""What the doctor knows without being told: AWS's managed cache policies and Origin Shield's Regions.

Managed cache policies have fixed ids in every account, so a behavior naming one needs no ingested
export to be checked; the settings below are the ones AWS documents ("Use managed cache policies",
CloudFront Developer Guide), in the shape of a ``CachePolicyConfig``. An ingested export of the same
id wins (``context.load``). The Origin Shield table is the guide's "Choosing the AWS Region for Origin
Shield": enable it in the origin's own Region where CloudFront offers it there, else in the listed one.
"""

from __future__ import annotations

from typing import Any

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"


def _config(
    name: str,
    ttls: tuple[int, int, int],
    headers: list[str],
    cookies: str,
    queries: tuple[str, list[str]],
    compress: tuple[bool, bool],
) -> dict[str, Any]:
    def listed(key: str, names: list[str]) -> dict[str, Any]:
        return {key: {"Quantity": len(names), "Items": names}} if names else {}

    return {
        "Name": name,
        "MinTTL": ttls[0],
        "DefaultTTL": ttls[1],
        "MaxTTL": ttls[2],
        "ParametersInCacheKeyAndForwardedToOrigin": {
            "EnableAcceptEncodingGzip": compress[0],
            "EnableAcceptEncodingBrotli": compress[1],
            "HeadersConfig": {"HeaderBehavior": "whitelist" if headers else "none", **listed("Headers", headers)},
            "CookiesConfig": {"CookieBehavior": cookies},
            "QueryStringsConfig": {"QueryStringBehavior": queries[0], **listed("QueryStrings", queries[1])},
        },
    }


_ORIGIN_HEADERS = ["host", "origin", "x-http-method", "x-http-method-override", "x-method-override"]
# id -> (name, CachePolicyConfig)
MANAGED_CACHE_POLICIES: dict[str, tuple[str, dict[str, Any]]] = {
    "2e54312d-136d-493c-8eb9-b001f22f67d2": (
        "Managed-Amplify",
        _config(
            "Managed-Amplify",
            (2, 2, 600),
            ["Authorization", "CloudFront-Viewer-Country", "Host"],
            "all",
            ("all", []),
            (True, True),
        ),
    ),
    CACHING_DISABLED: (
        "Managed-CachingDisabled",
        _config("Managed-CachingDisabled", (0, 0, 0), [], "none", ("none", []), (False, False)),
    ),
    "658327ea-f89d-4fab-a63d-7e88639e58f6": (
        "Managed-CachingOptimized",
        _config("Managed-CachingOptimized", (1, 86400, 31536000), [], "none", ("none", []), (True, True)),
    ),
    "b2884449-e4de-46a7-ac36-70bc7f1ddd6d": (
        "Managed-CachingOptimizedForUncompressedObjects",
        _config(
            "Managed-CachingOptimizedForUncompressedObjects",
            (1, 86400, 31536000),
            [],
            "none",
            ("none", []),
            (False, False),
        ),
    ),
    "08627262-05a9-4f76-9ded-b50ca2e3a84f": (
        "Managed-Elemental-MediaPackage",
        _config(
            "Managed-Elemental-MediaPackage",
            (0, 86400, 31536000),
            ["origin"],
            "none",
            ("whitelist", ["aws.manifestfilter", "end", "m", "start"]),
            (True, False),
        ),
    ),
    "83da9c7e-98b4-4e11-a168-04f0df8e2c65": (
        "UseOriginCacheControlHeaders",
        _config("UseOriginCacheControlHeaders", (0, 0, 31536000), _ORIGIN_HEADERS, "all", ("none", []), (True, True)),
    ),
    "4cc15a8a-d715-48a4-82b8-cc0b614638fe": (
        "UseOriginCacheControlHeaders-QueryStrings",
        _config(
            "UseOriginCacheControlHeaders-QueryStrings",
            (0, 0, 31536000),
            _ORIGIN_HEADERS,
            "all",
            ("all", []),
            (True, True),
        ),
    ),
}

# Regions where CloudFront offers Origin Shield, and for an origin elsewhere the Region to use instead.
SHIELD_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "ap-south-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-southeast-1",
        "ap-southeast-2",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "sa-east-1",
    }
)
SHIELD_NEAREST = {
    "us-west-1": "us-west-2",
    "af-south-1": "eu-west-1",
    "ap-east-1": "ap-southeast-1",
    "ca-central-1": "us-east-1",
    "eu-south-1": "eu-central-1",
    "eu-west-3": "eu-west-2",
    "eu-north-1": "eu-west-2",
    "me-south-1": "ap-south-1",
}


def recommended_shield_region(origin_region: str) -> str | None:
    """Where Origin Shield belongs for an origin in ``origin_region``; None when the table does not say."""
    if origin_region in SHIELD_REGIONS:
        return origin_region
    return SHIELD_NEAREST.get(origin_region)
