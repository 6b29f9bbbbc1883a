"""Commits that hold while several edgelake processes write one lake at once.

The follower commits every few seconds, the nightly job per group of objects, compaction rewrites old
partitions, and all of them share ``rejects`` and ``manifest``. Delta's optimistic concurrency makes
that safe as long as every commit is a put that fails when the version file already exists: on local
disk delta-rs links the file into place (refused when it exists); on S3 it sends ``If-None-Match: *``.
delta-rs then rebases a losing blind append onto the new version by itself, up to its own
``max_commit_retries``; what it cannot resolve (a metadata change, a delete that read a file another
commit removed, a table another writer created a moment ago, its own retries used up) comes back as an
error.

Owns: telling such a lost race from a real failure (:func:`is_conflict`), running a Delta operation
again from a fresh snapshot until it wins or a deadline passes (:func:`retry_conflicts`, exponential
backoff with full jitter so that writers that collided do not collide again in step), and checking once
per process and bucket that an S3 store really refuses a second conditional put
(:func:`require_conditional_writes`): a store that ignores the header would let two commits overwrite
each other's version file, and delta-rs has no other safe way to commit there.

Must not: decide what to commit (:mod:`pipeline.lake` and the writers do), or retry an error that is
not a race: a schema mismatch or a refused permission fails at once.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pipeline.errors import LakeError, UsageError

T = TypeVar("T")

DEADLINE_ENV = "EDGELAKE_COMMIT_DEADLINE"
DEFAULT_DEADLINE = 900.0  # seconds; a nightly group waiting this long behind other writers is stuck, not busy
FIRST_BACKOFF = 0.05
MAX_BACKOFF = 5.0

# Messages of delta-rs errors that mean "another writer got there first" without being a
# CommitFailedError. The first is what an append-mode create says when the table appeared meanwhile;
# the S3 ones are object_store's wording for a refused or conflicting conditional put.
_RACE_MARKERS = (
    "is not allowed for create operation",
    "Version already exists",
    "already exists",
    "Precondition",
    "ConditionalRequestConflict",
)


_lost = 0  # races lost (and retried) by this process, for run summaries


def lost_races() -> int:
    """How many commit races this process has lost and retried so far."""
    return _lost


def is_conflict(exc: BaseException) -> bool:
    """True when ``exc`` says another writer committed first (run the operation again), not that it failed."""
    from deltalake.exceptions import CommitFailedError

    if isinstance(exc, CommitFailedError):
        return True
    text = str(exc)
    return any(marker in text for marker in _RACE_MARKERS)


def deadline_seconds() -> float:
    """How long one operation keeps retrying lost races (``EDGELAKE_COMMIT_DEADLINE``, seconds)."""
    text = os.environ.get(DEADLINE_ENV, "").strip()
    if not text:
        return DEFAULT_DEADLINE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UsageError(f"environment variable {DEADLINE_ENV}={text!r} must be a number of seconds (>= 0)")
    return value


def retry_conflicts(
    what: str, attempt: Callable[[], T], *, deadline: float | None = None, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``attempt`` until it returns, retrying lost commit races with backoff until ``deadline`` seconds.

    ``attempt`` must read the table afresh each time (a new snapshot) and be safe to repeat: it either
    committed everything or nothing, and it checks first whether an earlier try already landed. Any
    other error propagates at once. ``what`` names the operation for the final message.
    """
    global _lost
    limit = deadline_seconds() if deadline is None else deadline
    started = time.monotonic()
    tries = 0
    rng = random.Random()
    while True:
        tries += 1
        try:
            return attempt()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            _lost += 1
            waited = time.monotonic() - started
            if waited >= limit:
                raise LakeError(
                    f"{what} lost the race to other writers {tries} time(s) in {waited:.0f} s and gave up "
                    f"({DEADLINE_ENV}={limit:g}); nothing of it was committed; run again. Last error: {exc}"
                ) from exc
            pause = rng.uniform(0, min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** min(tries, 16)))
            sleep(min(pause, max(0.0, limit - waited)))


# --- the S3 store's conditional writes -------------------------------------------------------------
PROBE_DIR = "_edgelake_probe"  # at the lake root, beside the tables, never inside one
_checked: set[tuple[str, str]] = set()
_checked_lock = threading.Lock()


def _refused(exc: BaseException) -> bool:
    """True when an S3 put failed because its precondition did not hold (HTTP 412)."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 412 or error.get("Code") in ("PreconditionFailed", "412"):
                return True
        seen = seen.__cause__ or seen.__context__
    return "pre-conditions you specified did not hold" in str(exc)


def require_conditional_writes(fs: Any, root: str, lake_uri: str, endpoint: str | None) -> None:
    """Refuse to write to an S3 lake whose store does not honour ``If-None-Match: *`` on a put.

    Two puts of one scratch key under ``<lake>/_edgelake_probe/``: the first must succeed, the second
    must be refused with 412. Checked once per process for each endpoint and bucket (three requests).
    """
    bucket, _, prefix = root.partition("/")
    key_of_store = (endpoint or "aws", bucket)
    with _checked_lock:
        if key_of_store in _checked:
            return
    key = "/".join(p for p in (prefix.strip("/"), PROBE_DIR, f"probe-{uuid.uuid4().hex}") if p)
    where = f"s3://{bucket}/{key}"
    try:
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=b"1", IfNoneMatch="*")
    except Exception as exc:
        raise LakeError(
            f"cannot write to the lake at {lake_uri}: a conditional put (If-None-Match: *) of "
            f"{where} failed: {exc}. edgelake commits to S3 only with conditional writes; check "
            "the credentials' write permission and that the store supports them"
        ) from exc
    try:
        second_accepted = True
        try:
            fs.call_s3("put_object", Bucket=bucket, Key=key, Body=b"2", IfNoneMatch="*")
        except Exception as exc:
            if not _refused(exc):
                raise LakeError(f"cannot check conditional writes at {where} for the lake {lake_uri}: {exc}") from exc
            second_accepted = False
        if second_accepted:
            raise LakeError(
                f"the S3 store behind {lake_uri} ({endpoint or 'AWS'}) accepted a second put of {where} with "
                "If-None-Match: * instead of refusing it (HTTP 412): it does not honour conditional writes, so "
                "two writers could overwrite each other's Delta commits and lose data. edgelake refuses to "
                "write there; use Amazon S3 or an S3-compatible store that supports conditional writes"
            )
    finally:
        # a leftover 1-byte probe is harmless; a missing delete permission must not stop the run
        with contextlib.suppress(Exception):
            fs.call_s3("delete_object", Bucket=bucket, Key=key)
    with _checked_lock:
        _checked.add(key_of_store)
