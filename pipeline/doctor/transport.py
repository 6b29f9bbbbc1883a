"""Check 9: transport security, edge to viewer and edge to origin (playbook rows 8 and 11, Security notes).

Config only, from the whole DistributionConfig: plaintext to the origin (``http-only``, or
``match-viewer`` behind a behavior that lets viewers use HTTP), viewers allowed on plain HTTP, old TLS
towards the origin (SSLv3, TLSv1, TLSv1.1 in ``OriginSslProtocols``), a custom certificate with a
security policy older than ``TLSv1.2_2021`` (CloudFront fixes the policy of its default certificate,
so that case is left alone), dedicated-IP SSL, a viewer certificate outside us-east-1 (CloudFront
refuses it) and S3 origins without Origin Access Control.
"""

from __future__ import annotations

from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import Context, Distribution
from pipeline.doctor.deploy import arn_region
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix

ROW11 = "playbook row 11: plaintext to the origin despite HTTPS at the edge; Security notes"
ROW8 = "playbook row 8: viewer certificate not in us-east-1"
BEST = "Best practices: sni-only and TLSv1.2_2021; https-only edge to origin; Security notes"
OLD_ORIGIN_TLS = ("SSLv3", "TLSv1", "TLSv1.1")
OLD_VIEWER_POLICIES = ("SSLv3", "TLSv1", "TLSv1_2016", "TLSv1.1_2016", "TLSv1.2_2018", "TLSv1.2_2019")


def check(ctx: Context, result: CheckResult) -> list[Finding]:
    if not ctx.distributions:
        result.status = "not_checked"
        result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output")
        return []
    findings: list[Finding] = []
    for dist in ctx.distributions.values():
        if dist.document is None:
            result.notes.append(
                f"{dist.id}: only its typed rows are in the lake (ingested by an older edgelake): ingest its "
                "distribution config again to check certificates, origin TLS and origin access"
            )
            continue
        findings += _origins(ctx, dist) + _viewers(ctx, dist) + _certificate(ctx, dist)
    return findings


def _behaviors_reaching(dist: Distribution, oid: str) -> list[Any]:
    return [b for b in dist.behaviors if oid in dist.origins_behind(b)]


def _finding(
    ctx: Context,
    dist: Distribution,
    fid: str,
    severity: str,
    playbook: str,
    subject: dict[str, str],
    summary: str,
    facts: list[Fact],
    fix: Fix,
    patterns: list[str],
) -> Finding:
    return Finding(
        fid,
        "transport.security",
        severity,
        playbook,
        {"distribution_id": dist.id, **subject},
        summary,
        facts,
        fix=fix,
        requests=ctx.requests_on(dist.id, patterns),
    )


def _origins(ctx: Context, dist: Distribution) -> list[Finding]:
    out = []
    for oid, origin in dist.origins.items():
        pointer = dist.origin_pointers.get(oid, "")
        reaching = _behaviors_reaching(dist, oid)
        patterns = [b.path_pattern for b in reaching]
        custom = origin.get("CustomOriginConfig")
        if isinstance(custom, dict):
            policy = custom.get("OriginProtocolPolicy")
            plain_viewers = [b.path_pattern for b in reaching if b.viewer_protocol_policy == "allow-all"]
            if policy == "http-only" or (policy == "match-viewer" and plain_viewers):
                notes = ["Make sure the origin serves TLS 1.2 with a certificate for its name first."]
                if "s3-website" in str(origin.get("DomainName")):
                    notes.append("An S3 website endpoint speaks HTTP only: use the bucket's REST endpoint with OAC.")
                out.append(
                    _finding(
                        ctx,
                        dist,
                        "transport.origin-plaintext",
                        "warn",
                        ROW11,
                        {"origin": oid},
                        f"Origin {oid} is reached over plain HTTP ({policy}"
                        + (f", and {', '.join(plain_viewers)} accept HTTP viewers" if policy == "match-viewer" else "")
                        + "): requests and responses cross the network unencrypted behind an HTTPS edge.",
                        [
                            Fact("protocol_policy", "OriginProtocolPolicy", policy, "config"),
                            Fact("behaviors", "behaviors reaching it", patterns, "config"),
                        ],
                        fixes.distribution_fix(
                            dist,
                            f"Set {oid}'s OriginProtocolPolicy to https-only.",
                            [fixes.replace(f"{pointer}/CustomOriginConfig/OriginProtocolPolicy", policy, "https-only")],
                            notes,
                        ),
                        patterns,
                    )
                )
            protocols = ((custom.get("OriginSslProtocols") or {}).get("Items")) or []
            old = [p for p in protocols if p in OLD_ORIGIN_TLS]
            if old and policy != "http-only":
                out.append(
                    _finding(
                        ctx,
                        dist,
                        "transport.origin-old-tls",
                        "warn",
                        BEST,
                        {"origin": oid},
                        f"Origin {oid} lets CloudFront negotiate {', '.join(old)}: protocols with known weaknesses.",
                        [Fact("origin_ssl_protocols", "OriginSslProtocols", protocols, "config")],
                        fixes.distribution_fix(
                            dist,
                            f"Allow only TLSv1.2 towards {oid}.",
                            [
                                fixes.replace(
                                    f"{pointer}/CustomOriginConfig/OriginSslProtocols",
                                    custom.get("OriginSslProtocols"),
                                    {"Quantity": 1, "Items": ["TLSv1.2"]},
                                )
                            ],
                            ["Confirm the origin offers TLS 1.2 first (playbook row 15: a mismatch gives 502s)."],
                        ),
                        patterns,
                    )
                )
        s3 = origin.get("S3OriginConfig")
        if isinstance(s3, dict) and not origin.get("OriginAccessControlId"):
            oai = s3.get("OriginAccessIdentity")
            legacy = bool(oai)
            out.append(
                _finding(
                    ctx,
                    dist,
                    "transport.s3-legacy-oai" if legacy else "transport.s3-no-oac",
                    "info" if legacy else "warn",
                    "playbook row 5; Security notes (OAC + AWS:SourceArn)",
                    {"origin": oid},
                    f"S3 origin {oid} "
                    + (
                        "uses a legacy origin access identity instead of Origin Access Control."
                        if legacy
                        else "has no Origin Access Control: the bucket must be readable without CloudFront's signature."
                    ),
                    [
                        Fact("origin_access_identity", "S3OriginConfig.OriginAccessIdentity", oai, "config"),
                        Fact(
                            "origin_access_control",
                            "OriginAccessControlId",
                            origin.get("OriginAccessControlId"),
                            "config",
                        ),
                    ],
                    Fix(
                        f"Create an Origin Access Control and attach it to {oid}; allow s3:GetObject to the CloudFront "
                        "service principal with an AWS:SourceArn condition on this distribution; keep Block Public "
                        "Access on.",
                        None,
                        commands=(
                            "aws cloudfront create-origin-access-control --origin-access-control-config "
                            "Name=<name>,SigningProtocol=sigv4,SigningBehavior=always,OriginAccessControlOriginType=s3",
                            f"then set Origins {oid} OriginAccessControlId to its Id and S3OriginConfig."
                            f'OriginAccessIdentity to "" with update-distribution --id {dist.id} --if-match <ETag>',
                        ),
                    ),
                    patterns,
                )
            )
    return out


def _viewers(ctx: Context, dist: Distribution) -> list[Finding]:
    out = []
    for b in dist.behaviors:
        if b.viewer_protocol_policy != "allow-all":
            continue
        out.append(
            _finding(
                ctx,
                dist,
                "transport.viewer-allow-all",
                "warn",
                ROW11,
                {"behavior": b.path_pattern},
                f"Behavior {b.path_pattern} serves viewers over plain HTTP (ViewerProtocolPolicy allow-all).",
                [Fact("viewer_protocol_policy", "ViewerProtocolPolicy", "allow-all", "config")],
                fixes.distribution_fix(
                    dist,
                    f"Redirect {b.path_pattern}'s HTTP viewers to HTTPS.",
                    [fixes.replace(f"{b.pointer}/ViewerProtocolPolicy", "allow-all", "redirect-to-https")],
                    [],
                ),
                [b.path_pattern],
            )
        )
    return out


def _certificate(ctx: Context, dist: Distribution) -> list[Finding]:
    cert = (dist.document or {}).get("ViewerCertificate") or {}
    if not cert or cert.get("CloudFrontDefaultCertificate"):
        return []  # CloudFront's own certificate: it fixes the security policy itself
    everything = [b.path_pattern for b in dist.behaviors]
    out = []
    arn = cert.get("ACMCertificateArn")
    if arn and arn_region(arn) != "us-east-1":
        out.append(
            _finding(
                ctx,
                dist,
                "transport.cert-region",
                "error",
                ROW8,
                {"certificate": arn},
                f"CloudFront would refuse this config: the viewer certificate is in {arn_region(arn)}; CloudFront only "
                "takes ACM certificates from us-east-1.",
                [Fact("certificate", "ACMCertificateArn", arn, "config")],
                Fix(
                    "Request or import the certificate in us-east-1 and attach that one.",
                    None,
                    commands=(
                        "aws acm request-certificate --region us-east-1 --domain-name <alias> --validation-method DNS",
                        "then set ViewerCertificate.ACMCertificateArn with update-distribution "
                        f"--id {dist.id} --if-match <ETag>",
                    ),
                ),
                everything,
            )
        )
    policy = cert.get("MinimumProtocolVersion")
    if policy in OLD_VIEWER_POLICIES:
        out.append(
            _finding(
                ctx,
                dist,
                "transport.viewer-min-tls",
                "warn",
                BEST,
                {"certificate": arn or cert.get("IAMCertificateId", "")},
                f"Viewers may connect with the {policy} security policy: older than TLSv1.2_2021, it keeps "
                "weak ciphers.",
                [Fact("minimum_protocol_version", "MinimumProtocolVersion", policy, "config")],
                fixes.distribution_fix(
                    dist,
                    "Raise the viewer security policy to TLSv1.2_2021.",
                    [fixes.replace("/ViewerCertificate/MinimumProtocolVersion", policy, "TLSv1.2_2021")],
                    ["Very old clients (before 2014) may no longer connect."],
                ),
                everything,
            )
        )
    if cert.get("SSLSupportMethod") == "vip":
        out.append(
            _finding(
                ctx,
                dist,
                "transport.dedicated-ip",
                "info",
                BEST,
                {"certificate": arn or ""},
                "The custom certificate is served from dedicated IP addresses (SSLSupportMethod vip): a monthly charge "
                "only clients without SNI need.",
                [Fact("ssl_support_method", "SSLSupportMethod", "vip", "config")],
                fixes.distribution_fix(
                    dist,
                    "Serve the certificate with SNI.",
                    [fixes.replace("/ViewerCertificate/SSLSupportMethod", "vip", "sni-only")],
                    [],
                ),
                everything,
            )
        )
    return out
