"""The "Findings" section the reports open with: what ``edgelake doctor`` says about the same lake.

Owns turning a doctor :class:`~pipeline.doctor.model.Report` into report markup: a ranked table, then
one folded block per finding with its labelled evidence, sample requests, the commands that re-derive
it and the fix (diff and commands). Every value goes through :mod:`pipeline.reports.html`, which
escapes it: log values in the evidence are attacker-controlled like everywhere else in the reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pipeline.doctor.model import Finding, Report
from pipeline.doctor.render import value_text
from pipeline.reports.common import Window
from pipeline.reports.html import Col, Html, command, el, join, table

_COLS = [
    Col("severity", "Severity"),
    Col("id", "Finding"),
    Col("subject", "Where", wide=True),
    Col("summary", "What", wide=True),
    Col("requests", "Requests", numeric=True, title="Requests the finding touches (it ranks findings)"),
]
_FACT_COLS = [Col("label", "Evidence"), Col("value", "Value", wide=True), Col("source", "From")]
_SAMPLE_COLS = [
    Col("timestamp", "Time"),
    Col("method", "Method"),
    Col("uri", "URI", wide=True),
    Col("status", "Status", numeric=True),
    Col("client_ip", "Client IP"),
    Col("request_id", "Request id"),
]


def diagnose(lake: str, window: Window, distribution: str | None, checks: tuple[str, ...] | None = None) -> Report:
    """The doctor's report for the lake, the window and the distribution a report covers."""
    from pipeline.doctor import diagnose as run

    return run(lake, start=window.start, end=window.end, distribution=distribution, checks=checks)


def _subject(f: Finding) -> str:
    return ", ".join(f"{k} {v}" for k, v in f.subject.items())


def _details(f: Finding) -> Html:
    facts = [{"label": x.label, "value": value_text(x.value), "source": x.source} for x in f.facts]
    parts: list[object] = [el("p", f.summary), el("p", "Playbook: ", f.playbook, class_="meta")]
    parts.append(table(_FACT_COLS, facts, class_="compact"))
    if f.samples:
        parts.append(table(_SAMPLE_COLS, f.samples, caption="Sample requests", class_="compact"))
    parts += [command(q) for q in f.queries]
    if f.fix is not None:
        parts.append(el("p", el("b", "Fix: "), f.fix.summary))
        # <pre> without <code>: the reports keep <pre><code> for the AWS JSON they hand out to apply as is
        if f.fix.diff:
            parts.append(_block(f.fix.diff, "Change"))
        if f.fix.commands:
            parts.append(_block("\n".join(f.fix.commands), "Commands"))
        parts += [el("p", n, class_="meta") for n in f.fix.notes]
    title = f"{f.severity.upper()} {f.id}: {_subject(f)}"
    return el("details", el("summary", title), *parts, class_="finding")


def _block(text: str, label: str) -> Html:
    return el("figure", el("figcaption", label), el("pre", text), class_="code")


def section(report: Report, what: str, rerun: str, *, anchor: str = "findings") -> Html:
    """The section: heading, a line on what was checked, the ranked table and the folded details."""
    rows = [
        {"severity": f.severity, "id": f.id, "subject": _subject(f), "summary": f.summary, "requests": f.requests}
        for f in report.findings
    ]
    unchecked = [c for c in report.checks if c.status == "not_checked"]
    parts: list[object] = [
        el("h2", "Findings", id=anchor),
        el(
            "p",
            f"What edgelake doctor finds in {what}: the seed's failure playbook run against the ingested "
            "configs and logs, ranked by severity, then by requests touched. Evidence is labelled: from the "
            "logs, from the config, or inferred from the config (no log field says which origin answered).",
        ),
        command(rerun),
        table(_COLS, rows, empty="The doctor found nothing here."),
        *[_details(f) for f in report.findings],
    ]
    if unchecked:
        parts.append(
            el(
                "p",
                "Not checked: " + "; ".join(f"{c.id} (needs {', '.join(c.needs)})" for c in unchecked),
                class_="meta",
            )
        )
    return join(parts)


def doctor_command(lake: str, window: Window, distribution: str | None) -> str:
    parts = ["edgelake doctor --lake", lake]
    for flag, value in (("--start", window.start), ("--end", window.end), ("--distribution", distribution)):
        if value is not None:
            parts += [flag, value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else str(value)]
    return " ".join(parts)


def counts(findings: Sequence[Finding]) -> str:
    serious = sum(1 for f in findings if f.severity in ("warn", "error"))
    return f"{serious} / {len(findings)}"
