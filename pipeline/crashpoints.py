"""Named points where a test can kill or pause the process, to prove every interruption and race is handled.

Production code calls :func:`reached` at each step of a commit. It does nothing unless the environment
names that point:

* ``EDGELAKE_CRASH_AT=name`` (or ``name:N`` for its N-th arrival): the process kills itself with
  SIGKILL right there: no cleanup, no flush, exactly like a machine that loses power. The
  crash-and-resume tests run the nightly job once per point and check that a second run leaves the
  lake identical to an uninterrupted one.
* ``EDGELAKE_HOLD_AT=name@DIR`` (or ``name:N@DIR``): the process creates ``DIR/name.reached`` and
  waits until ``DIR/name.release`` exists (at most :data:`HOLD_LIMIT` seconds). The concurrency tests
  hold one writer between reading a table's snapshot and committing to it, let another writer commit,
  and release it: the lost race happens every time instead of by luck.

The ``commit-snapshot-<table>`` points sit inside every commit attempt, after the snapshot is read.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

POINTS = (
    "after-data-files",  # a worker wrote Parquet files, nothing committed yet
    "after-forget",  # a changed object's old rows were deleted, its new rows not yet committed
    "after-commit-cloudfront",
    "after-commit-realtime",
    "after-commit-waf",
    "after-configs",  # distribution configs / web ACLs replaced
    "after-rejects",
    "after-manifest",  # the whole group is committed
)
HOLD_LIMIT = 120.0  # seconds a held process waits for its release before it goes on by itself
_arrivals: dict[str, int] = {}


def _due(spec: str, name: str) -> bool:
    """True when ``spec`` (``name`` or ``name:N``) names this point and its N-th arrival has come."""
    target, _, nth = spec.partition(":")
    return target == name and _arrivals[name] >= int(nth or 1)


def reached(name: str) -> None:
    crash = os.environ.get("EDGELAKE_CRASH_AT")
    hold = os.environ.get("EDGELAKE_HOLD_AT")
    if not crash and not hold:
        return
    _arrivals[name] = _arrivals.get(name, 0) + 1
    if crash and _due(crash, name):
        os.kill(os.getpid(), signal.SIGKILL)
    if hold:
        spec, _, folder = hold.partition("@")
        release = Path(folder) / f"{name}.release"
        if folder and _due(spec, name) and not release.exists():
            (Path(folder) / f"{name}.reached").touch()
            deadline = time.monotonic() + HOLD_LIMIT
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
