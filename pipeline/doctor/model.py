"""What the doctor says: findings, the checks that ran, and the report that ranks them.

Owns the shape documented in ``schemas/doctor.schema.json`` (``Report.as_json`` produces it): a
:class:`Finding` is one thing wrong with one subject (a distribution, behavior, origin, origin group,
web ACL, rule or cache policy), with its evidence -- each :class:`Fact` labelled by where it comes
from, since no log field says which origin answered -- and its :class:`Fix`. A :class:`CheckResult`
says whether a check ran and, when it could not, what it needs. Nothing here reads the lake.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

SEVERITIES = ("info", "warn", "error")
STATUSES = ("ok", "finding", "not_checked")
# Where a fact comes from. "inferred" is a conclusion drawn from the config about what the logs cannot
# say (which origin answered, whether CloudFront retried on the secondary).
SOURCES = ("logs", "config", "inferred")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity)


@dataclass(frozen=True)
class Fact:
    """One number or value of the evidence: a stable ``name`` for machines, a ``label`` for people."""

    name: str
    label: str
    value: Any
    source: str

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"fact source {self.source!r} is not one of {SOURCES}")


@dataclass(frozen=True)
class Fix:
    """What to change: a JSON Patch of the config document (each operation also shows the value it
    replaces), the same change as a readable diff, and the commands that apply it."""

    summary: str
    document: str | None = None  # distribution-config | web-acl | cache-policy; None: no config change helps
    patch: tuple[dict[str, Any], ...] = ()
    diff: str = ""
    commands: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    new_document: dict[str, Any] | None = None  # a config to create (e.g. a narrower cache policy)


@dataclass
class Finding:
    id: str
    check: str
    severity: str
    playbook: str
    subject: dict[str, str]
    summary: str
    facts: list[Fact] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)
    fix: Fix | None = None
    requests: int = 0  # requests the finding touches: what ranks findings of one severity

    def fact(self, name: str) -> Any:
        """The value of the fact called ``name`` (KeyError if there is none)."""
        for f in self.facts:
            if f.name == name:
                return f.value
        raise KeyError(name)

    @property
    def key(self) -> tuple[Any, ...]:
        return (-severity_rank(self.severity), -self.requests, self.id, sorted(self.subject.items()))


@dataclass
class CheckResult:
    id: str
    title: str
    playbook: str
    status: str = "ok"
    needs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    findings: int = 0


@dataclass
class Report:
    """Every check's result and every finding, ranked: severity first, then requests touched."""

    findings: list[Finding]
    checks: list[CheckResult]
    window: tuple[datetime | None, datetime | None] = (None, None)
    distribution: str | None = None
    lake: str = ""

    def __post_init__(self) -> None:
        self.findings.sort(key=lambda f: f.key)

    def at_or_above(self, severity: str) -> list[Finding]:
        floor = severity_rank(severity)
        return [f for f in self.findings if severity_rank(f.severity) >= floor]

    def as_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "lake": self.lake,
            "window": {"start": _iso(self.window[0]), "end": _iso(self.window[1])},
            "distribution": self.distribution,
            "findings": [_finding_json(f) for f in self.findings],
            "checks": [_check_json(c) for c in self.checks],
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(value: Any) -> Any:
    """A value as JSON can hold it (times as ISO 8601 UTC, decimals as floats, tuples as lists, nested)."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _finding_json(f: Finding) -> dict[str, Any]:
    fix = f.fix
    return {
        "id": f.id,
        "check": f.check,
        "severity": f.severity,
        "playbook": f.playbook,
        "subject": dict(f.subject),
        "summary": f.summary,
        "requests": f.requests,
        "evidence": {
            "facts": [{"name": x.name, "label": x.label, "value": plain(x.value), "source": x.source} for x in f.facts],
            "first_seen": _iso(f.first_seen),
            "last_seen": _iso(f.last_seen),
            "samples": [plain(s) for s in f.samples],
            "queries": list(f.queries),
        },
        "fix": None
        if fix is None
        else {
            "summary": fix.summary,
            "document": fix.document,
            "patch": [plain(op) for op in fix.patch],
            "diff": fix.diff,
            "commands": list(fix.commands),
            "notes": list(fix.notes),
            "new_document": fix.new_document,
        },
    }


def _check_json(c: CheckResult) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "playbook": c.playbook,
        "status": c.status,
        "findings": c.findings,
        "needs": list(c.needs),
        "notes": list(c.notes),
    }
