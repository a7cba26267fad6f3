"""Tests for calendar periods and durations in a time zone (reactor/periods.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.periods import (
    BEGINNING,
    DURATION_PATTERN,
    END,
    LIFETIME,
    MAX_DURATION,
    PERIODS,
    parse_duration,
    period_bounds,
    period_key,
    unit_index,
    unit_start,
)

MELBOURNE = ZoneInfo("Australia/Melbourne")
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def local(text: str, zone: ZoneInfo) -> datetime:
    """A local wall time in ``zone`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def utc(text: str) -> datetime:
    """A UTC wall time as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (local moment, zone, period, key, start as local text, end as local text)
BOUNDS = [
    ("2026-11-21T23:59:59", MELBOURNE, "day", "2026-11-21", "2026-11-21", "2026-11-22"),
    ("2026-11-22T00:00:00", MELBOURNE, "day", "2026-11-22", "2026-11-22", "2026-11-23"),
    ("2026-11-21T23:59:59", NEW_YORK, "day", "2026-11-21", "2026-11-21", "2026-11-22"),
    ("2026-11-22T00:00:00", NEW_YORK, "day", "2026-11-22", "2026-11-22", "2026-11-23"),
    ("2026-11-22T23:59:59", MELBOURNE, "week", "2026-W47", "2026-11-16", "2026-11-23"),
    ("2026-11-23T00:00:00", MELBOURNE, "week", "2026-W48", "2026-11-23", "2026-11-30"),
    ("2026-12-31T12:00:00", NEW_YORK, "week", "2026-W53", "2026-12-28", "2027-01-04"),
    ("2027-01-01T12:00:00", NEW_YORK, "week", "2026-W53", "2026-12-28", "2027-01-04"),
    ("2027-01-04T00:00:00", NEW_YORK, "week", "2027-W01", "2027-01-04", "2027-01-11"),
    ("2026-10-31T23:59:59", MELBOURNE, "month", "2026-10", "2026-10-01", "2026-11-01"),
    ("2026-11-01T00:00:00", MELBOURNE, "month", "2026-11", "2026-11-01", "2026-12-01"),
    ("2026-12-31T23:59:59", NEW_YORK, "year", "2026", "2026-01-01", "2027-01-01"),
    ("2027-01-01T00:00:00", NEW_YORK, "year", "2027", "2027-01-01", "2028-01-01"),
    ("2028-02-29T12:00:00", MELBOURNE, "day", "2028-02-29", "2028-02-29", "2028-03-01"),
    ("2028-02-29T12:00:00", MELBOURNE, "month", "2028-02", "2028-02-01", "2028-03-01"),
    ("2028-03-01T00:00:00", MELBOURNE, "month", "2028-03", "2028-03-01", "2028-04-01"),
]


@pytest.mark.parametrize(
    ("moment", "zone", "period", "key", "start", "end"),
    BOUNDS,
    ids=[f"{row[2]}-{row[0]}-{row[1].key}" for row in BOUNDS],
)
def test_a_period_runs_from_local_midnight_to_local_midnight(
    moment: str, zone: ZoneInfo, period: str, key: str, start: str, end: str
) -> None:
    """Bounds and keys follow the local calendar, so 23:59:59 and 00:00:00 fall apart."""
    instant = local(moment, zone)
    assert period_key(instant, period, zone) == key
    assert period_bounds(instant, period, zone) == (local(start, zone), local(end, zone))


@pytest.mark.parametrize(
    ("moment", "zone", "hours", "start"),
    [
        ("2026-03-29T12:00:00", BERLIN, 23, "2026-03-28T23:00:00"),
        ("2026-10-25T12:00:00", BERLIN, 25, "2026-10-24T22:00:00"),
        ("2026-10-04T12:00:00", MELBOURNE, 23, "2026-10-03T14:00:00"),
        ("2026-04-05T12:00:00", MELBOURNE, 25, "2026-04-04T13:00:00"),
        ("2018-11-04T12:00:00", SAO_PAULO, 23, "2018-11-04T03:00:00"),
    ],
    ids=["berlin-spring", "berlin-autumn", "melbourne-spring", "melbourne-autumn", "sao-paulo"],
)
def test_a_day_with_a_dst_change_is_23_or_25_hours_long(
    moment: str, zone: ZoneInfo, hours: int, start: str
) -> None:
    """The day is one local date, not 24 hours; Sao Paulo skipped midnight itself that day."""
    day_start, day_end = period_bounds(local(moment, zone), "day", zone)
    assert day_start == utc(start)
    assert day_end - day_start == timedelta(hours=hours)


def test_the_hour_before_a_dst_change_and_the_hour_after_share_a_day() -> None:
    """01:59 and 03:00 on Berlin's spring-forward day are in the same day, week and month."""
    before, after = local("2026-03-29T01:59:00", BERLIN), local("2026-03-29T03:00:00", BERLIN)
    assert after - before == timedelta(minutes=1)
    for period in PERIODS:
        assert period_bounds(before, period, BERLIN) == period_bounds(after, period, BERLIN)


def test_the_lifetime_period_has_no_bounds() -> None:
    """lifetime runs from the beginning to the end of time and has one key."""
    moment = utc("2026-11-22T10:00:00")
    assert period_bounds(moment, LIFETIME, MELBOURNE) == (BEGINNING, END)
    assert period_key(moment, LIFETIME, MELBOURNE) == "lifetime"
    assert BEGINNING.tzinfo is UTC and END.tzinfo is UTC


@pytest.mark.parametrize("period", ["fortnight", "Day", "", "lifetimes"], ids=str)
def test_an_unknown_period_is_refused(period: str) -> None:
    """Anything but day, week, month, year (and lifetime) is a ValueError naming it."""
    moment = utc("2026-11-22T10:00:00")
    with pytest.raises(ValueError, match="is not a period"):
        period_bounds(moment, period, MELBOURNE)
    with pytest.raises(ValueError, match="is not a period"):
        period_key(moment, period, MELBOURNE)


@pytest.mark.parametrize("period", [*PERIODS, LIFETIME], ids=str)
def test_a_naive_moment_is_refused(period: str) -> None:
    """Without a time zone there is no way to know which local day a moment is in."""
    with pytest.raises(ValueError, match="no time zone"):
        period_bounds(datetime(2026, 11, 22, 10), period, MELBOURNE)


@pytest.mark.parametrize("unit", PERIODS, ids=str)
def test_consecutive_units_have_consecutive_numbers_across_a_year_end(unit: str) -> None:
    """unit_index counts on by one from the last unit of 2026 to the first of 2027."""
    last = unit_index(local("2026-12-27T12:00:00", NEW_YORK), unit, NEW_YORK)  # a Sunday
    first = unit_index(local("2027-01-04T12:00:00", NEW_YORK), unit, NEW_YORK)  # a Monday
    expected = {"day": 8, "week": 2, "month": 1, "year": 1}[unit]  # 2026-W53 lies between
    assert first - last == expected
    assert (
        unit_start(first, unit, NEW_YORK)
        == period_bounds(local("2027-01-04T12:00:00", NEW_YORK), unit, NEW_YORK)[0]
    )


@pytest.mark.parametrize("unit", PERIODS, ids=str)
def test_units_beyond_the_calendar_clamp_to_the_beginning_and_end(unit: str) -> None:
    """Stepping back before year 1 or past year 9999 gives BEGINNING or END, not an error."""
    assert unit_start(-(10**7), unit, MELBOURNE) == BEGINNING
    assert unit_start(10**9, unit, MELBOURNE) == END


ZONES = [UTC, MELBOURNE, NEW_YORK, BERLIN, SAO_PAULO, ZoneInfo("Asia/Kathmandu")]


@given(
    moment=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1)),
    zone=st.sampled_from(ZONES),
    period=st.sampled_from(PERIODS),
)
def test_every_moment_lies_in_its_period_and_the_next_period_starts_at_its_end(
    moment: datetime, zone: ZoneInfo, period: str
) -> None:
    """start <= moment < end; start has the moment's key, end the next one."""
    instant = moment.replace(tzinfo=UTC)
    start, end = period_bounds(instant, period, zone)
    assert start <= instant < end
    key = period_key(instant, period, zone)
    assert period_key(start, period, zone) == key
    assert period_key(end - timedelta(microseconds=1), period, zone) == key
    assert period_key(end, period, zone) != key
    assert period_bounds(end, period, zone)[0] == end


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("12h", timedelta(hours=12)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1s", timedelta(seconds=1)),
        ("3660d", MAX_DURATION),
        ("87840h", MAX_DURATION),
    ],
    ids=["seconds", "minutes", "hours", "days", "weeks", "one-second", "limit", "limit-hours"],
)
def test_a_duration_is_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    """s, m, h, d and w after a positive whole number."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("7 days", "'7 days' is not a duration like 7d, 12h, 30m"),
        ("7", "'7' is not a duration like 7d, 12h, 30m"),
        ("d", "'d' is not a duration like 7d, 12h, 30m"),
        ("7D", "'7D' is not a duration like 7d, 12h, 30m"),
        ("1.5h", "'1.5h' is not a duration like 7d, 12h, 30m"),
        ("-7d", "'-7d' is not a duration like 7d, 12h, 30m"),
        (" 7d", "' 7d' is not a duration like 7d, 12h, 30m"),
        ("7d\n", "'7d\\n' is not a duration like 7d, 12h, 30m"),
        ("7y", "'7y' is not a duration like 7d, 12h, 30m"),
        ("\uff17d", "'\uff17d' is not a duration like 7d, 12h, 30m"),
        ("", "'' is not a duration like 7d, 12h, 30m"),
        (7, "7 is not a duration like 7d, 12h, 30m"),
        (None, "None is not a duration like 7d, 12h, 30m"),
        ("0d", "'0d' is not a duration: the number must be positive"),
        ("07d", "'07d' is not a duration: the number must be positive"),
        ("3661d", "'3661d' is too long a duration (the limit is 3660d)"),
        ("9" * 40 + "s", "is too long a duration"),
    ],
    ids=[
        "words",
        "no-unit",
        "no-number",
        "capital-unit",
        "fraction",
        "negative",
        "leading-space",
        "trailing-newline",
        "unknown-unit",
        "fullwidth-digit",
        "empty",
        "int",
        "none",
        "zero",
        "leading-zero",
        "over-the-limit",
        "huge-number",
    ],
)
def test_anything_else_is_not_a_duration(text: object, message: str) -> None:
    """A ValueError whose message shows the author what a duration looks like."""
    with pytest.raises(ValueError) as caught:
        parse_duration(text)  # type: ignore[arg-type]  # YAML can hand over anything
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "matches"),
    [("7d", True), ("12h", True), ("0d", False), ("07d", False), ("7 d", False)],
    ids=["days", "hours", "zero", "leading-zero", "space"],
)
def test_the_duration_pattern_accepts_what_parse_duration_accepts(text: str, matches: bool) -> None:
    """DURATION_PATTERN, for schemas, agrees with parse_duration on the shape."""
    assert (re.search(DURATION_PATTERN, text) is not None) == matches
