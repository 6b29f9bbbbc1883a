"""Durations and instants as people write them on a command line or in a parameter, parsed in one place.

:func:`parse_duration` reads ``250ms``, ``5s``, ``90m``, ``36h``, ``2d``, ``1w`` or a bare number of
seconds; :func:`parse_instant` reads an ISO 8601 date or date-time (``Z`` or an offset; none means UTC)
and returns an aware UTC datetime. Both raise :class:`~pipeline.errors.UsageError` naming the option.

Must not: import anything of the package but its errors.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from pipeline.errors import UsageError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0, "w": 604_800.0}


def parse_duration(text: str, option: str = "duration") -> timedelta:
    """``"250ms"``, ``"5s"``, ``"90m"``, ``"36h"``, ``"2d"``, ``"1w"``, or plain seconds (``"1.5"``, ``"0"``)."""
    found = _DURATION.match(text)
    if found is None:
        raise UsageError(
            f"{option} {text!r} is not a duration; write a number and a unit: 250ms, 5s, 90m, 36h, 2d, 1w "
            "(a bare number is seconds)"
        )
    seconds = float(found.group(1)) * _UNIT_SECONDS[(found.group(2) or "s").lower()]
    if not math.isfinite(seconds):
        raise UsageError(f"{option} {text!r} is too long a duration")
    return timedelta(seconds=seconds)


def parse_instant(value: datetime | date | str, option: str = "time") -> datetime:
    """An aware UTC datetime from a datetime, a date (its midnight, UTC) or ISO 8601 text (``Z`` allowed)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    else:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(
                f"{option} {value!r} is not a date or date-time (e.g. 2025-03-14 or 2025-03-14T20:00:00Z)"
            ) from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
