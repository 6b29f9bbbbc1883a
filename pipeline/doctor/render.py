"""The doctor's report as text: ``table`` (a terminal), ``markdown`` (a ticket or a PR), ``json`` (programs).

Log values in the evidence (URIs, user agents, WAF matched data) are attacker-controlled: every value
goes through :func:`terminal_safe` for the table (control characters, escape sequences and C1 codes
become ``\\xNN``: a URI cannot move the cursor or recolour the screen), through :func:`md_text` for
markdown (no markup, no HTML, no link, no table break, no code fence of its own) and is JSON-escaped
with ``ensure_ascii`` for json. Must not decide exit codes (the CLI does).
"""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

from pipeline.doctor.model import Finding, Report, plain

FORMATS = ("table", "markdown", "json")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")


def terminal_safe(text: str) -> str:
    """``text`` with control characters (and bidirectional overrides) shown as escapes, never acted on."""
    return _UNSAFE.sub(
        lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 256 else f"\\u{ord(m.group(0)):04x}", text
    )


def value_text(value: Any) -> str:
    v = plain(value)
    if isinstance(v, str):
        text = v
    elif isinstance(v, float):
        text = f"{v:.4g}"
    elif v is None:
        text = "—"
    else:
        text = json.dumps(v, ensure_ascii=False)
    return terminal_safe(text).replace("\n", "\\n").replace("\t", "\\t")


def md_text(value: Any) -> str:
    """A value as inert markdown text: markup characters backslash-escaped, line breaks shown as \\n."""
    return _MD_SPECIAL.sub(r"\\\1", value_text(value))


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.as_json(), ensure_ascii=True, indent=2)
    if fmt == "markdown":
        return _markdown(report)
    return _table(report)


def _subject(f: Finding) -> str:
    return ", ".join(f"{k} {v}" for k, v in f.subject.items())


def _window(report: Report) -> str:
    start, end = (plain(x) for x in report.window)
    return f"{start or 'the beginning'} to {end or 'the end'}"


def _table(report: Report) -> str:
    out = [
        f"edgelake doctor: {len(report.findings)} finding(s) in {report.lake}, {_window(report)}"
        + (f", distribution {report.distribution}" if report.distribution else ""),
        "",
    ]
    for i, f in enumerate(report.findings, 1):
        out.append(f"{i}. [{f.severity.upper()}] {f.id}: {value_text(_subject(f))}")
        out += ["   " + line for line in textwrap.wrap(value_text(f.summary), 110)]
        out.append(f"   seed: {f.playbook}")
        for x in f.facts:
            out.append(f"   - {x.label}: {value_text(x.value)}  [{x.source}]")
        if f.first_seen or f.last_seen:
            out.append(f"   seen: {value_text(f.first_seen)} to {value_text(f.last_seen)}")
        for s in f.samples:
            out.append(
                "   sample: "
                + " ".join(
                    value_text(s.get(k)) for k in ("timestamp", "method", "uri", "status", "client_ip", "request_id")
                )
            )
        for q in f.queries:
            out.append(f"   re-derive: {terminal_safe(q)}")
        if f.fix is not None:
            out.append(f"   fix: {value_text(f.fix.summary)}")
            if f.fix.diff:
                out += ["      " + terminal_safe(line) for line in f.fix.diff.splitlines()]
            out += [f"      $ {terminal_safe(c)}" for c in f.fix.commands]
            out += [f"      note: {value_text(n)}" for n in f.fix.notes]
        out.append("")
    out.append("checks:")
    width = max((len(c.id) for c in report.checks), default=10)
    for c in report.checks:
        line = f"  {c.id.ljust(width)}  {c.status:<11} {c.findings:>3} finding(s)"
        if c.needs:
            line += "  needs: " + "; ".join(terminal_safe(n) for n in c.needs)
        out.append(line)
        out += [f"  {' ' * width}  note: {terminal_safe(n)}" for n in c.notes]
    return "\n".join(out)


def _markdown(report: Report) -> str:
    out = [
        "## Findings",
        "",
        f"{len(report.findings)} finding(s), {md_text(_window(report))}"
        + (f", distribution {md_text(report.distribution)}" if report.distribution else "")
        + ", ranked by severity, then by requests touched.",
        "",
    ]
    for i, f in enumerate(report.findings, 1):
        out += [
            f"### {i}. {f.severity.upper()} `{f.id}`: {md_text(_subject(f))}",
            "",
            md_text(f.summary),
            "",
            f"Playbook: {md_text(f.playbook)}",
            "",
            "| evidence | value | from |",
            "|---|---|---|",
        ]
        out += [f"| {md_text(x.label)} | {md_text(x.value)} | {x.source} |" for x in f.facts]
        if f.first_seen or f.last_seen:
            out += [f"| first / last seen | {md_text(f.first_seen)} / {md_text(f.last_seen)} | logs |"]
        out.append("")
        if f.samples:
            out += ["| time | method | uri | status | client | request id |", "|---|---|---|---|---|---|"]
            out += [
                "| "
                + " | ".join(
                    md_text(s.get(k)) for k in ("timestamp", "method", "uri", "status", "client_ip", "request_id")
                )
                + " |"
                for s in f.samples
            ]
            out.append("")
        if f.queries:
            body = "\n".join(f.queries)
            fence = _fence(body)
            out += ["Re-derive:", "", f"{fence}sh", body, fence, ""]
        if f.fix is not None:
            out += [f"Fix: {md_text(f.fix.summary)}", ""]
            if f.fix.diff:
                fence = _fence(f.fix.diff)
                out += [f"{fence}diff", f.fix.diff, fence, ""]
            if f.fix.commands:
                body = "\n".join(f.fix.commands)
                fence = _fence(body)
                out += [f"{fence}sh", body, fence, ""]
            out += [f"- {md_text(n)}" for n in f.fix.notes]
            out.append("")
    out += ["## Checks", "", "| check | status | findings | needs |", "|---|---|---|---|"]
    out += [f"| `{c.id}` | {c.status} | {c.findings} | {md_text('; '.join(c.needs))} |" for c in report.checks]
    return "\n".join(out)
