"""Self-contained HTML evidence reports: the WAF Count-to-Block rollout and the edge incident review.

Each report is one HTML file that opens offline: plotly.js, the data and a small script are inlined,
and a Content-Security-Policy lets nothing load from anywhere. Numbers come from the named analyses
(every section shows the ``edgelake`` command that reproduces it). Every value from the logs is
treated as hostile and escaped, in markup, in embedded JSON and in plot text.

Modules: :mod:`.html` (escaping, tables, the page and its CSP), :mod:`.assets` (CSS, the report
script, plotly.js), :mod:`.plots` (figure specs), :mod:`.exclusions` (AWS WAF JSON to apply),
:mod:`.waf` and :mod:`.waf_rates` (the rollout report), :mod:`.incident` (the incident review),
:mod:`.common` (windows, running analyses, commands).
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.reports.html import Document

__all__ = ["Document", "incident_document", "incident_report", "waf_rollout_document", "waf_rollout_report"]


def _write(out: Path | str, text: str) -> Path:
    path = Path(out)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return path


def waf_rollout_document(
    lake: str,
    *,
    web_acl: str | None = None,
    distribution: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
) -> Document:
    """The WAF Count-to-Block rollout report for ``lake`` (``.render()`` gives the HTML).

    ``web_acl`` is a web ACL name or ARN (needed when the lake holds several); ``distribution``
    narrows to one distribution; ``start``/``end`` bound the WAF records (UTC).
    """
    from pipeline.reports import waf
    from pipeline.reports.common import instant

    return waf.build(
        lake, web_acl=web_acl, distribution=distribution, start=instant(start, "--start"), end=instant(end, "--end")
    )


def incident_document(
    lake: str, *, start: datetime | str, end: datetime | str, distribution: str | None = None, context_hours: int = 8
) -> Document:
    """The incident review of [``start``, ``end``); ``context_hours`` of hit-ratio history come before it."""
    from pipeline.reports import incident
    from pipeline.reports.common import instant

    t0, t1 = instant(start, "--start"), instant(end, "--end")
    if t0 is None or t1 is None:
        raise UsageError("the incident report needs both --start and --end")
    return incident.build(lake, start=t0, end=t1, distribution=distribution, context_hours=context_hours)


def waf_rollout_report(
    lake: str,
    out: Path | str,
    *,
    web_acl: str | None = None,
    distribution: str | None = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    csp: bool = True,
) -> Path:
    """Write :func:`waf_rollout_document` to ``out``; ``csp=False`` leaves the Content-Security-Policy
    out (to test that escaping alone keeps hostile data inert). Returns the path."""
    doc = waf_rollout_document(lake, web_acl=web_acl, distribution=distribution, start=start, end=end)
    return _write(out, doc.render(with_csp=csp))


def incident_report(
    lake: str,
    out: Path | str,
    *,
    start: datetime | str,
    end: datetime | str,
    distribution: str | None = None,
    context_hours: int = 8,
    csp: bool = True,
) -> Path:
    """Write :func:`incident_document` to ``out``; returns the path."""
    doc = incident_document(lake, start=start, end=end, distribution=distribution, context_hours=context_hours)
    return _write(out, doc.render(with_csp=csp))
