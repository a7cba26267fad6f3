"""Calendar periods and durations in a time zone, shared by history functions, limits and budgets.

Every instant going in must be aware; every instant coming out is aware UTC. Periods are built
from local dates (midnight of a date, midnight of the next), never by adding 24 hours to a local
time, so a 23- or 25-hour day around a DST change is still exactly one day (spec I4).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIODS: tuple[str, ...] = ("day", "week", "month", "year")
"""The calendar periods, in the order people list them; weeks start on Monday (ISO)."""
PERIOD_CHOICES = "'day', 'week', 'month' or 'year'"
"""PERIODS as a message lists them."""
LIFETIME = "lifetime"
"""The period with no bounds at all, for per-member limits and budgets."""

BEGINNING = datetime.min.replace(tzinfo=UTC)
"""The start of the ``lifetime`` period, and of anything reaching back before year 1."""
END = datetime.max.replace(tzinfo=UTC)
"""The end of the ``lifetime`` period, and of anything reaching past year 9999."""

MAX_DURATION = timedelta(days=3660)
"""The longest duration ``parse_duration`` accepts: about ten years."""
DURATION_PATTERN = r"^[1-9][0-9]*[smhdw]$"
"""What a duration looks like, as a regular expression: a positive whole number and a unit."""

_DURATION = re.compile(r"([0-9]+)([smhdw])")  # zero and leading zeros get their own message
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def period_bounds(moment: datetime, period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the calendar ``period`` holding ``moment`` in ``zone``, in UTC.

    ``period`` is one of PERIODS or ``lifetime`` (BEGINNING to END). Raises ValueError for
    anything else, and for a naive ``moment``.
    """
    if period == LIFETIME:
        _check_aware(moment)
        return BEGINNING, END
    index = unit_index(moment, period, zone)
    return unit_start(index, period, zone), unit_start(index + 1, period, zone)


def period_key(moment: datetime, period: str, zone: ZoneInfo) -> str:
    """A name for the period holding ``moment``: 2026-11-22, 2026-W47, 2026-11, 2026, lifetime.

    Weeks are named by their ISO week-year, so 2027-01-01 (a Friday) is in ``2026-W53``.
    """
    if period == LIFETIME:
        _check_aware(moment)
        return LIFETIME
    day = _local_date(moment, zone)
    if period == "day":
        return day.isoformat()
    if period == "week":
        iso = day.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    if period == "year":
        return f"{day.year:04d}"
    raise ValueError(_unknown_period(period))


def unit_index(moment: datetime, unit: str, zone: ZoneInfo) -> int:
    """The number of the calendar ``unit`` (one of PERIODS) holding ``moment`` in ``zone``.

    Consecutive units have consecutive numbers, so streaks and "days since" are subtractions:
    ``unit_index(b, "day", z) - unit_index(a, "day", z)`` is the calendar days from a to b.
    """
    return _index(_local_date(moment, zone), unit)


def unit_start(index: int, unit: str, zone: ZoneInfo) -> datetime:
    """The first instant (aware UTC) of the ``unit`` numbered ``index`` by ``unit_index``.

    Numbers before year 1 give BEGINNING and after year 9999 give END, so callers can step
    back or forward without checking the calendar's range.
    """
    try:
        first = _first_day(index, unit)
    except (ValueError, OverflowError):
        if unit not in PERIODS:
            raise ValueError(_unknown_period(unit)) from None
        return BEGINNING if index < _index(date(2000, 1, 1), unit) else END
    return _midnight(first, zone)


def parse_duration(text: str) -> timedelta:
    """``"7d"`` → 7 days: a positive whole number and one of s, m, h, d, w.

    Raises ValueError, with a message for the rule author, for anything else or for more than
    MAX_DURATION.
    """
    # Rule files are YAML, where `within: 7` arrives as an int: say what is wrong, not TypeError.
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 7d, 12h, 30m")
    digits, unit = match.groups()
    if digits.startswith("0"):
        raise ValueError(f"{text!r} is not a duration: the number must be positive, like 7d")
    limit = MAX_DURATION.days
    # Compare as integers first: a huge number would overflow timedelta before we could say so.
    if len(digits) > 12 or int(digits) * _UNIT_SECONDS[unit] > limit * 86400:
        raise ValueError(f"{text!r} is too long a duration (the limit is {limit}d)")
    return timedelta(seconds=int(digits) * _UNIT_SECONDS[unit])


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; periods need an aware time")


def _local_date(moment: datetime, zone: ZoneInfo) -> date:
    _check_aware(moment)
    return moment.astimezone(zone).date()


def _index(day: date, unit: str) -> int:
    if unit == "day":
        return day.toordinal()
    if unit == "week":
        # Ordinal 1 (0001-01-01) is a Monday, so every ISO week is 7 ordinals from ordinal 1.
        return (day.toordinal() - 1) // 7
    if unit == "month":
        return day.year * 12 + day.month - 1
    if unit == "year":
        return day.year
    raise ValueError(_unknown_period(unit))


def _first_day(index: int, unit: str) -> date:
    if unit == "day":
        return date.fromordinal(index)
    if unit == "week":
        return date.fromordinal(index * 7 + 1)
    if unit == "month":
        return date(index // 12, index % 12 + 1, 1)
    if unit == "year":
        return date(index, 1, 1)
    raise ValueError(_unknown_period(unit))


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of local ``day`` in ``zone``, as aware UTC.

    Where a DST change skips midnight (00:00 → 01:00), fold=0 reads 00:00 with the offset
    before the change, which is exactly the instant of the change: the day's first instant.
    Where midnight happens twice, fold=0 is the first time, which again starts the day.
    """
    try:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    except OverflowError:  # year 1 east of UTC or year 9999 west of it
        return BEGINNING if day.year == 1 else END


def _unknown_period(period: object) -> str:
    return f"{period!r} is not a period; use {PERIOD_CHOICES}"
