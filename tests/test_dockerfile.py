"""The Dockerfile's contract, read with dockerfile-parse (no container engine runs here): a pinned slim
Python base, a non-root user, ``edgelake`` as the entrypoint, and an install step that is
.ci/install-wheel, the script tests/test_wheel.py checks, fed every file the wheel is built from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from helpers import ROOT

INSTALL_SCRIPT = ".ci/install-wheel"


@pytest.fixture(scope="module")
def instructions() -> list[dict[str, Any]]:
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [i for i in parsed.structure if i["instruction"] != "COMMENT"]


def _all(instructions: list[dict[str, Any]], name: str) -> list[str]:
    return [str(i["value"]) for i in instructions if i["instruction"] == name]


def _copies(instructions: list[dict[str, Any]]) -> list[str]:
    """The sources of every COPY (the last word of each is its destination)."""
    sources = []
    for value in _all(instructions, "COPY"):
        words = [w for w in shlex.split(value) if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_base_image_is_a_pinned_slim_python(instructions: list[dict[str, Any]]) -> None:
    bases = _all(instructions, "FROM")
    assert len(bases) == 1
    image = bases[0].split()[0]
    # an exact release (major.minor.patch) on a named Debian release; never 'latest' or a moving '3.11'
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", image), image
    assert "latest" not in image


def test_runs_as_a_user_that_is_not_root(instructions: list[dict[str, Any]]) -> None:
    users = _all(instructions, "USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0", "")
    last_user = max(i for i, ins in enumerate(instructions) if ins["instruction"] == "USER")
    assert not [ins for ins in instructions[last_user:] if ins["instruction"] == "RUN"]
    assert any(re.search(rf"\buseradd\b.*\b{re.escape(user)}$", run) for run in _all(instructions, "RUN"))


def test_entrypoint_is_edgelake(instructions: list[dict[str, Any]]) -> None:
    entrypoints = _all(instructions, "ENTRYPOINT")
    assert [json.loads(e) for e in entrypoints] == [["edgelake"]]


def test_install_step_is_the_script_the_wheel_test_runs(instructions: list[dict[str, Any]]) -> None:
    script = ROOT / INSTALL_SCRIPT
    assert script.is_file() and os.access(script, os.X_OK)
    assert INSTALL_SCRIPT in _copies(instructions)
    installs = [run for run in _all(instructions, "RUN") if INSTALL_SCRIPT in run]
    assert len(installs) == 1
    assert "pip install" not in " ".join(_all(instructions, "RUN")), "install only through the script"
    assert "--offline" not in installs[0]  # the image gets its dependencies from requirements.lock


def test_copies_everything_the_wheel_is_built_from(instructions: list[dict[str, Any]]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {
        "pyproject.toml",
        project["project"]["readme"],
        "requirements.lock",
        INSTALL_SCRIPT,
        *wheel["packages"],
        *wheel["force-include"],
    }
    copied = set(_copies(instructions))
    assert needed <= copied
    assert all((ROOT / source).exists() for source in copied)
    # .dockerignore excludes everything, then lets exactly these through
    allowed = {
        line[1:] for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.startswith("!")
    }
    assert copied <= allowed
