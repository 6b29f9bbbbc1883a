"""Reject reason codes are stable and documented: the readers' constants and ``schemas/rejects.toml`` agree."""

from __future__ import annotations

import re

from helpers import ROOT

from pipeline.readers import reasons
from pipeline.schemas import load

PIPELINE = ROOT / "pipeline"


def test_every_reason_code_is_documented_once_and_every_documented_code_exists() -> None:
    documented = [code for code, _ in load("rejects").reasons]
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(reasons.ALL)
    assert all(len(meaning) > 20 for _, meaning in load("rejects").reasons)


def test_no_module_spells_a_reason_code_itself() -> None:
    """The stages that quarantine lines name reasons through the constants: a typo cannot make a new code."""
    spelled = re.compile(r'"(' + "|".join(reasons.ALL) + r')"')
    stages = [PIPELINE / "readers", PIPELINE / "ingest", PIPELINE / "follow"]
    offenders = [
        str(path.relative_to(PIPELINE))
        for stage in stages
        for path in stage.rglob("*.py")
        if path.name != "reasons.py" and spelled.search(path.read_text())
    ]
    assert offenders == []
