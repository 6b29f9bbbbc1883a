"""Fixes as changes to the config documents: JSON Patch operations, a readable diff, and the commands.

Owns how a suggested change is written down. A patch is RFC 6902 operations on the document the
update command takes (``DistributionConfig``, the ``WebACL`` object, ``CachePolicyConfig``), each
also carrying the value it replaces (``old``: ignored by patch tools, read by people). :func:`apply`
applies one; the tests apply every finding's patch to the ingested document and check that
CloudFront would accept the result. The commands fetch the live document (the ingested one may be
stale, and its ETag or lock token with it), apply the same change with ``jq`` and update with
``--if-match`` / ``--lock-token``: the whole edited document, as the update APIs require.
"""

from __future__ import annotations

import copy
import difflib
import json
from typing import Any

from pipeline.doctor.context import Distribution, WebAcl, shell_quote
from pipeline.doctor.model import Fix


def replace(path: str, old: Any, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value, "old": old}


def add(path: str, value: Any) -> dict[str, Any]:
    return {"op": "add", "path": path, "value": value}


def remove(path: str, old: Any) -> dict[str, Any]:
    return {"op": "remove", "path": path, "old": old}


def _tokens(pointer: str) -> list[str]:
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def apply(document: dict[str, Any], patch: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """``document`` with ``patch`` applied (a copy); KeyError/IndexError when a path does not exist."""
    doc = copy.deepcopy(document)
    for op in patch:
        *parents, last = _tokens(op["path"])
        node: Any = doc
        for t in parents:
            node = node[int(t)] if isinstance(node, list) else node[t]
        if isinstance(node, list):
            if op["op"] == "add":
                node.insert(len(node) if last == "-" else int(last), copy.deepcopy(op["value"]))
            elif op["op"] == "replace":
                node[int(last)] = copy.deepcopy(op["value"])
            else:
                del node[int(last)]
        elif op["op"] == "remove":
            del node[last]
        else:
            if op["op"] == "replace" and last not in node:
                raise KeyError(op["path"])
            node[last] = copy.deepcopy(op["value"])
    return doc


def diff(document: dict[str, Any] | None, patch: list[dict[str, Any]], label: str) -> str:
    """A unified diff of the pretty-printed document before and after (two lines of context)."""
    if document is None or not patch:
        return ""
    before = json.dumps(document, indent=2, ensure_ascii=False).splitlines()
    after = json.dumps(apply(document, patch), indent=2, ensure_ascii=False).splitlines()
    lines = difflib.unified_diff(before, after, f"{label} (ingested)", f"{label} (suggested)", n=2, lineterm="")
    return "\n".join(lines)


def _jq_path(pointer: str) -> str:
    out = ""
    for t in _tokens(pointer):
        if t.isdigit():
            out += f"[{t}]"
        elif t.isidentifier():
            out += f".{t}"
        else:
            out += f"[{json.dumps(t)}]"
    return out or "."


def jq_program(root: str, patch: list[dict[str, Any]]) -> str:
    """A jq filter that selects ``root`` of the CLI output and applies ``patch`` to it."""
    steps = [root]
    for op in patch:
        path = _jq_path(op["path"])
        value = json.dumps(op.get("value"), separators=(",", ":"), ensure_ascii=False)
        if op["op"] == "remove":
            steps.append(f"del({path})")
        elif op["op"] == "add" and op["path"].endswith("/-"):
            steps.append(f"{_jq_path(op['path'][:-2])} += [{value}]")
        else:
            steps.append(f"{path} = {value}")
    return " | ".join(steps)


def distribution_fix(dist: Distribution, summary: str, patch: list[dict[str, Any]], notes: list[str]) -> Fix:
    """A change to a DistributionConfig: patch, diff and the get/update commands."""
    file = f"{dist.id}.json"
    etag = dist.etag or "<ETag>"
    edit = (
        f"jq {shell_quote(jq_program('.DistributionConfig', patch))} {file} > {dist.id}.config.json"
        if patch
        else f"jq .DistributionConfig {file} > {dist.id}.config.json    # then make the change above by hand"
    )
    commands = [
        f"aws cloudfront get-distribution-config --id {dist.id} > {file}",
        f"jq -r .ETag {file}    # the ETag to pass below; it was {etag} when this config was ingested",
        edit,
        f"aws cloudfront update-distribution --id {dist.id} --if-match <ETag> "
        f"--distribution-config file://{dist.id}.config.json",
    ]
    stale = (
        "The paths are those of the ingested config; if the live one differs (another behavior order), "
        "apply the same change by hand."
    )
    return Fix(
        summary,
        "distribution-config",
        tuple(patch),
        diff(dist.document, patch, "DistributionConfig"),
        tuple(commands) if dist.document is not None else (),
        (*notes, stale)
        if dist.document is not None
        else (*notes, "Ingest the full distribution config to get a patch."),
    )


def web_acl_fix(acl: WebAcl, summary: str, patch: list[dict[str, Any]], notes: list[str]) -> Fix:
    """A change to a web ACL: patch of the WebACL object, diff and the get/update commands."""
    acl_id = (acl.document or {}).get("Id", "<ID>")
    name = acl.name
    base = f"--name {shell_quote(name)} --scope CLOUDFRONT --id {acl_id} --region us-east-1"
    drop = (
        "del(.ARN, .Capacity, .LabelNamespace, .ManagedByFirewallManager, .RetrofittedByFirewallManager, "
        ".PreProcessFirewallManagerRuleGroups, .PostProcessFirewallManagerRuleGroups)"
    )
    program = jq_program(".WebACL", patch) + f' | {drop} | . + {{Scope: "CLOUDFRONT", LockToken: $token}}'
    commands = [
        f"aws wafv2 get-web-acl {base} > {name}.json",
        f'jq {shell_quote(program)} --arg token "$(jq -r .LockToken {name}.json)" {name}.json > {name}.update.json',
        f"aws wafv2 update-web-acl --cli-input-json file://{name}.update.json --region us-east-1",
    ]
    return Fix(summary, "web-acl", tuple(patch), diff(acl.document, patch, "WebACL"), tuple(commands), tuple(notes))


def cache_policy_fix(
    policy_id: str, name: str, config: dict[str, Any], etag: str | None, summary: str, patch: list[dict[str, Any]]
) -> Fix:
    commands = [
        f"aws cloudfront get-cache-policy-config --id {policy_id} > {name}.json",
        f"jq {shell_quote(jq_program('.CachePolicyConfig', patch))} {name}.json > {name}.config.json",
        f'aws cloudfront update-cache-policy --id {policy_id} --if-match "$(jq -r .ETag {name}.json)" '
        f"--cache-policy-config file://{name}.config.json",
    ]
    notes = [f"The ETag was {etag} when this policy was ingested."] if etag else []
    return Fix(
        summary,
        "cache-policy",
        tuple(patch),
        diff(config, patch, "CachePolicyConfig"),
        tuple(commands),
        tuple(notes),
    )
