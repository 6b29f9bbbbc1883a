"""Named points where a test can kill the process, to prove that every interruption is recoverable.

Production code calls :func:`reached` at each step of a commit. It does nothing unless the environment
variable ``EDGELAKE_CRASH_AT`` names that point (``name`` or ``name:N`` for its N-th arrival), in which
case the process kills itself with SIGKILL right there: no cleanup, no flush, exactly like a machine
that loses power. The crash-and-resume tests run the nightly job once per point and check that a
second run leaves the lake identical to an uninterrupted one.
"""

from __future__ import annotations

import os
import signal

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
_arrivals: dict[str, int] = {}


def reached(name: str) -> None:
    spec = os.environ.get("EDGELAKE_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    _arrivals[name] = _arrivals.get(name, 0) + 1
    if _arrivals[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
