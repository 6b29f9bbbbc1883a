"""What the analyses benchmark adds to the generated logs: many distinct paths, WAF records, configs.

Owns three things `generate.py` does only when asked (`--paths high`, `--waf`, `--configs`), so that the
ingest benchmark's data sets stay byte-identical:

* `high_cardinality_paths`: real CloudFront traffic has millions of distinct paths a day, not the
  vocabulary's 3,000. Product images and API calls carry ids, recommendations and search calls a fresh
  token per request, HLS segments a stream id and a segment number, bundles a content hash that changes
  with every deploy, and some assets a cache-busting version segment. Rewritten vectorised from the
  vocabulary path (its family is read from its prefix), with draws of their own.
* `waf_lines`: one AWS WAF JSON record per CloudFront line (the same request id, time, client, method,
  path and query, so the analyses' joins find their rows), built by concatenating pre-escaped JSON
  fragments per record shape: allowed without a match, Count-mode matches of managed rules overridden
  to Count, a web-ACL Count rule, blocks by a rule group (with match details) and by the rate rule.
* `distribution_configs` / `web_acl_config`: `get-distribution` JSON for the two generated
  distributions (behaviors by prefix, by suffix and by a `?` pattern; origin groups and single origins)
  and the web ACL those WAF records name, derived from the samples under `data/samples/`.

Must not: loop in Python per line.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
from _draws import Draws

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
ACCOUNT = "111122223333"
WEB_ACL_NAME = "edgelake-www"
WEB_ACL_ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/{WEB_ACL_NAME}/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


def hex_tokens(d: Draws, n: int, nbytes: int) -> pl.Series:
    """`n` random lower-case hex strings of `2 * nbytes` characters."""
    buf = pa.py_buffer(d.python().randbytes(nbytes * n))
    raw = pl.Series(pl.from_arrow(pa.Array.from_buffers(pa.binary(nbytes), n, [None, buf])))
    return raw.cast(pl.Binary).bin.encode("hex")


def high_cardinality_paths(path: pl.Series, d: Draws, day: int, seconds: pl.Series) -> pl.Series:
    """`path` (vocabulary paths) with ids, tokens, hashes and versions that make most of them distinct."""
    n = path.len()
    # Popular ids stay popular: the square of a uniform draw piles up on small ids.
    skew = d.uniform(n)
    frame = pl.DataFrame(
        {
            "p": path,
            "id": (skew * skew * 4_000_000).cast(pl.Int64),
            "big": d.integers(n, 1_000_000, 99_999_999),
            "tok": hex_tokens(d, n, 6),
            "stream": d.integers(n, 0, 150_000),
            "seg": d.integers(n, 0, 720),
            # a deploy every 3 hours gives every bundle a new content hash
            "deploy": seconds // 10_800 + day * 8,
            "bust": d.uniform(n) < 0.05,
            "ver": seconds // 60 + day * 1440,
        }
    )
    p = pl.col("p")
    sid = pl.col("stream").hash(7).cast(pl.String).str.slice(0, 10)
    bundle = p.str.extract(r"^/static/(js|css)/([a-z]+)\.", 2)
    bundle_kind = p.str.extract(r"^/static/(js|css)/", 1)
    bundle_hash = pl.concat_str([bundle, pl.col("deploy").cast(pl.String)]).hash(11).cast(pl.String).str.slice(0, 8)
    rewritten = (
        pl.when(p.str.starts_with("/images/products/"))
        .then(pl.concat_str([pl.lit("/images/products/"), pl.col("id"), pl.lit("/"), p.str.extract(r"/([^/]+)$", 1)]))
        .when(p.str.starts_with("/api/v1/products/"))
        .then(
            pl.concat_str([pl.lit("/api/v1/products/"), pl.col("id"), p.str.extract(r"^/api/v1/products/\d+(.*)$", 1)])
        )
        .when(p.str.starts_with("/api/v2/recommendations/"))
        .then(pl.concat_str([pl.lit("/api/v2/recommendations/"), pl.col("tok")]))
        .when(p.str.starts_with("/api/v1/stock/"))
        .then(pl.concat_str([pl.lit("/api/v1/stock/"), pl.col("big")]))
        .when(p.str.starts_with("/hls/") & p.str.ends_with(".ts"))
        .then(
            pl.concat_str(
                [pl.lit("/hls/"), sid, pl.lit("/segment_"), pl.col("seg").cast(pl.String).str.zfill(5), pl.lit(".ts")]
            )
        )
        .when(p.str.starts_with("/hls/"))
        .then(pl.concat_str([pl.lit("/hls/"), sid, pl.lit("/index.m3u8")]))
        .when(bundle.is_not_null())
        .then(
            pl.concat_str(
                [
                    pl.lit("/static/"),
                    bundle_kind,
                    pl.lit("/"),
                    bundle,
                    pl.lit("."),
                    bundle_hash,
                    pl.lit("."),
                    bundle_kind,
                ]
            )
        )
        .when(p.str.starts_with("/products/"))
        .then(pl.concat_str([p.str.extract(r"^(/products/[a-z-]+)-\d+$", 1), pl.lit("-"), pl.col("id")]))
        .otherwise(p)
    )
    busted = (
        pl.when(pl.col("bust") & (p.str.starts_with("/images/") | p.str.starts_with("/static/fonts/")))
        .then(pl.concat_str([pl.lit("/v"), pl.col("ver"), rewritten]))
        .otherwise(rewritten)
    )
    return frame.select(busted.fill_null(p).alias("path")).to_series()


# --- WAF records ------------------------------------------------------------------------------------
_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesSQLiRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


def _group(name: str, terminating: str = "null", nonterminating: str = "[]") -> str:
    return (
        f'{{"ruleGroupId":"AWS#{name}","terminatingRule":{terminating},'
        f'"nonTerminatingMatchingRules":{nonterminating},"excludedRules":null,"customerConfig":null}}'
    )


def _details(kind: str, location: str, data: list[str]) -> str:
    return json.dumps([{"conditionType": kind, "location": location, "matchedData": data}], separators=(",", ":"))


# (weight, action, terminatingRuleId, terminatingRuleType, terminatingRuleMatchDetails, ruleGroupList,
#  top-level nonTerminatingMatchingRules, labels, responseCodeSent)
_SHAPES: tuple[tuple[float, str, str, str, str, str, str, str, str], ...] = (
    (
        86.0,
        "ALLOW",
        "Default_Action",
        "REGULAR",
        "[]",
        "[" + ",".join(_group(g) for g in _GROUPS) + "]",
        "[]",
        "[]",
        "null",
    ),
    (  # a body-size rule overridden to Count: large uploads (often a false positive)
        4.0,
        "ALLOW",
        "Default_Action",
        "REGULAR",
        "[]",
        "["
        + _group(
            _GROUPS[0],
            nonterminating='[{"ruleId":"SizeRestrictions_BODY","action":"COUNT",'
            '"overriddenAction":"BLOCK","ruleMatchDetails":[]}]',
        )
        + ","
        + _group(_GROUPS[1])
        + "]",
        "[]",
        '[{"name":"awswaf:managed:aws:core-rule-set:SizeRestrictions_Body"}]',
        "null",
    ),
    (  # cross-site scripting in a body, overridden to Count
        1.5,
        "ALLOW",
        "Default_Action",
        "REGULAR",
        "[]",
        "["
        + _group(
            _GROUPS[0],
            nonterminating='[{"ruleId":"CrossSiteScripting_BODY","action":"COUNT",'
            '"overriddenAction":"BLOCK","ruleMatchDetails":' + _details("XSS", "BODY", ["<script>"]) + "}]",
        )
        + "]",
        "[]",
        '[{"name":"awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body"}]',
        "null",
    ),
    (  # the web ACL's own rule in Count mode
        3.0,
        "ALLOW",
        "Default_Action",
        "REGULAR",
        "[]",
        "[" + _group(_GROUPS[0]) + "]",
        '[{"ruleId":"count-wp-login-probes","action":"COUNT","ruleMatchDetails":[]}]',
        "[]",
        "null",
    ),
    (  # SQL injection in the query string: blocked by its group
        1.5,
        "BLOCK",
        "AWS-AWSManagedRulesSQLiRuleSet",
        "MANAGED_RULE_GROUP",
        _details("SQL_INJECTION", "QUERY_STRING", ["1", "OR", "1", "=", "1"]),
        "["
        + _group(_GROUPS[0])
        + ","
        + _group(
            _GROUPS[1],
            terminating='{"ruleId":"SQLi_QUERYARGUMENTS",'
            '"action":"BLOCK","ruleMatchDetails":' + _details("SQL_INJECTION", "QUERY_ARGS", ["1", "OR", "1"]) + "}",
        )
        + "]",
        "[]",
        '[{"name":"awswaf:managed:aws:sql-database:SQLi_QueryArguments"}]',
        "403",
    ),
    (  # a bad-input probe
        2.0,
        "BLOCK",
        "AWS-AWSManagedRulesKnownBadInputsRuleSet",
        "MANAGED_RULE_GROUP",
        "[]",
        "["
        + _group(_GROUPS[2], terminating='{"ruleId":"Log4JRCE_HEADER","action":"BLOCK","ruleMatchDetails":null}')
        + "]",
        "[]",
        '[{"name":"awswaf:managed:aws:known-bad-inputs:Log4JRCE_Header"},'
        '{"name":"awswaf:managed:aws:anonymous-ip-list:HostingProviderIPList"}]',
        "403",
    ),
    (  # the rate-based rule
        2.0,
        "BLOCK",
        "rate-limit-per-ip",
        "RATE_BASED",
        "[]",
        "[]",
        "[]",
        "[]",
        "429",
    ),
)
_COUNTRIES = ("US", "US", "US", "DE", "GB", "FR", "BR", "IN", "JP", "NL", "CA", "AU", "SE", "PL", "ES")


def waf_lines(frame: pl.DataFrame, d: Draws, day_ms: int) -> pl.Series:
    """One WAF JSON record per row of a generated CloudFront file `frame` (its #Fields columns)."""
    n = frame.height
    shape = d.choice(n, [s[0] for s in _SHAPES])
    ms = d.integers(n, 0, 1000)
    forwarded = d.uniform(n) < 0.05
    shapes = pl.DataFrame(
        {
            "head": [
                f'"formatVersion":1,"webaclId":"{WEB_ACL_ARN}","terminatingRuleId":"{s[2]}",'
                f'"terminatingRuleType":"{s[3]}","action":"{s[1]}","terminatingRuleMatchDetails":{s[4]},'
                f'"httpSourceName":"CF","httpSourceId":"'
                for s in _SHAPES
            ],
            "mid": [
                f'","ruleGroupList":{s[5]},"rateBasedRuleList":[],"nonTerminatingMatchingRules":{s[6]},'
                f'"requestHeadersInserted":null,"responseCodeSent":{s[8]},"httpRequest":{{"clientIp":"'
                for s in _SHAPES
            ],
            "labels": [s[7] for s in _SHAPES],
        }
    )[shape]
    seconds = (
        frame["time"].str.slice(0, 2).cast(pl.Int64) * 3600
        + frame["time"].str.slice(3, 2).cast(pl.Int64) * 60
        + frame["time"].str.slice(6, 2).cast(pl.Int64)
    )
    country = pl.Series(_COUNTRIES).gather(frame["c-ip"].hash(3) % len(_COUNTRIES))
    query = frame["cs-uri-query"]
    cols = pl.DataFrame(
        {
            "ts": day_ms + seconds * 1000 + ms,
            "dist": frame["x-host-header"].replace_strict(
                {"www.example.com": "E2QWRUHAPOMQZL", "example.com": "E2QWRUHAPOMQZL"}, default="E1KTQ8R9ZJ4MYB"
            ),
            "ip": frame["c-ip"],
            "country": country,
            "host": frame["x-host-header"],
            "ua": frame["cs(User-Agent)"].str.replace_all("%20", " ", literal=True),
            "xff": forwarded,
            "uri": frame["cs-uri-stem"],
            "args": pl.select(pl.when(query == "-").then(pl.lit("")).otherwise(query)).to_series(),
            "method": frame["cs-method"],
            "rid": frame["x-edge-request-id"],
            "head": shapes["head"],
            "mid": shapes["mid"],
            "labels": shapes["labels"],
        }
    )
    c = pl.col
    headers = pl.concat_str(
        [
            pl.lit('[{"name":"host","value":"'),
            c("host"),
            pl.lit('"},{"name":"user-agent","value":"'),
            c("ua"),
            pl.lit('"},{"name":"accept","value":"*/*"}'),
            pl.when(c("xff"))
            .then(pl.concat_str([pl.lit(',{"name":"X-Forwarded-For","value":"'), c("ip"), pl.lit('"}')]))
            .otherwise(pl.lit("")),
            pl.lit("]"),
        ]
    )
    line = pl.concat_str(
        [
            pl.lit('{"timestamp":'),
            c("ts").cast(pl.String),
            pl.lit(","),
            c("head"),
            c("dist"),
            c("mid"),
            c("ip"),
            pl.lit('","country":"'),
            c("country"),
            pl.lit('","headers":'),
            headers,
            pl.lit(',"uri":"'),
            c("uri"),
            pl.lit('","args":"'),
            c("args"),
            pl.lit('","httpVersion":"HTTP/2.0","httpMethod":"'),
            c("method"),
            pl.lit('","requestId":"'),
            c("rid"),
            pl.lit('"},"labels":'),
            c("labels"),
            pl.lit(',"requestBodySize":0,"requestBodySizeInspectedByWAF":0}'),
        ]
    )
    return cols.select(line.alias("line")).to_series()


# --- configs ----------------------------------------------------------------------------------------
# (path pattern, target) in precedence order; most are a plain prefix or suffix, one needs `?`.
_BEHAVIORS = {
    "E2QWRUHAPOMQZL": (
        ("/api/*", "api-group"),
        ("/static/*", "static-s3"),
        ("/images/*", "static-s3"),
        ("*.m3u8", "web-group"),
        ("/hls/*", "web-group"),
        ("/video/*", "web-group"),
        ("/products/??*", "web-primary"),
        ("*.pdf", "static-s3"),
    ),
    "E1KTQ8R9ZJ4MYB": (
        ("/api/v?/stock/*", "api-primary"),
        ("/api/*", "api-group"),
        ("/hls/*", "web-group"),
        ("*.ts", "web-group"),
        ("/static/*", "static-s3"),
        ("/v*", "static-s3"),
    ),
}


def distribution_configs(domains: dict[str, tuple[str, tuple[str, ...]]]) -> dict[str, dict[str, object]]:
    """`get-distribution` documents for the generated distributions, keyed by distribution id."""
    sample = json.loads((SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json").read_text())
    template = sample["Distribution"]["DistributionConfig"]["CacheBehaviors"]["Items"][0]
    out = {}
    for dist, (domain, hosts) in domains.items():
        doc = copy.deepcopy(sample)
        d = doc["Distribution"]
        d["Id"], d["DomainName"] = dist, domain
        d["ARN"] = f"arn:aws:cloudfront::{ACCOUNT}:distribution/{dist}"
        cfg = d["DistributionConfig"]
        cfg["Aliases"] = {"Quantity": len(hosts), "Items": list(hosts)}
        cfg["WebACLId"] = WEB_ACL_ARN
        items = []
        for pattern, target in _BEHAVIORS[dist]:
            behavior = copy.deepcopy(template)
            behavior["PathPattern"], behavior["TargetOriginId"] = pattern, target
            items.append(behavior)
        cfg["CacheBehaviors"] = {"Quantity": len(items), "Items": items}
        out[dist] = doc
    return out


def write_configs(directory: Path, domains: dict[str, tuple[str, tuple[str, ...]]]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for dist, doc in distribution_configs(domains).items():
        path = directory / f"{dist}.get-distribution.json"
        path.write_text(json.dumps(doc, indent=1) + "\n")
        written.append(path)
    acl = directory / f"{WEB_ACL_NAME}.get-web-acl.json"
    acl.write_text((SAMPLES / "webacl" / f"{WEB_ACL_NAME}.get-web-acl.json").read_text())
    written.append(acl)
    return written
