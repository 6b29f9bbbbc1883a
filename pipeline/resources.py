"""Where the data files edgelake runs on are found: the named queries in ``sql/`` and the table
schemas in ``schemas/``.

Owns the one lookup of those two directories, for every kind of install. In the repository they
sit at the top level, beside the package; a wheel carries them inside the package as
``pipeline/_resources/sql`` and ``pipeline/_resources/schemas`` (the build mapping is in
``pyproject.toml``). The packaged copy wins; the checkout's top level is used only when the package
carries none, which is the editable install the tests run on (hatchling's editable install puts the
checkout on ``sys.path``, and also copies the two directories into ``site-packages/pipeline/_resources``
at install time; that copy is never read, since ``pipeline`` is the checkout's package, so edits to
``sql/`` count without reinstalling). ``EDGELAKE_SCHEMAS`` names another schema directory.

Must not read or interpret the files: :mod:`pipeline.schemas`, :mod:`pipeline.query.named` and
:mod:`pipeline.query.views` do. Must not raise at import: a missing directory shows up as the path a
later lookup names in its error message.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PACKAGED = "_resources"


def _directory(name: str) -> Path:
    package = Path(str(resources.files("pipeline")))
    packaged = package / PACKAGED / name
    if packaged.is_dir():
        return packaged
    checkout = package.parent / name
    return checkout if checkout.is_dir() else packaged


SQL_DIR = _directory("sql")
VIEW_DIR = SQL_DIR / "views"
SCHEMA_DIR = Path(os.environ["EDGELAKE_SCHEMAS"]) if os.environ.get("EDGELAKE_SCHEMAS") else _directory("schemas")
