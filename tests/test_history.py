"""Tests for the history functions (reactor/history.py): filters, periods, windows, streaks."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reactor.errors import EvaluationError, ExpressionError
from reactor.expressions import HELPERS, HISTORY_FUNCTIONS, compile_expression
from reactor.history import LOOKBACK, History, Past
from reactor.rules._history_checks import check_call

MELBOURNE = ZoneInfo("Australia/Melbourne")
BERLIN = ZoneInfo("Europe/Berlin")
CREATED = "interaction.created"
UPDATED = "interaction.updated"


def local(text: str, zone: ZoneInfo = MELBOURNE) -> datetime:
    """A local wall time in ``zone`` as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def past(id: str, when: str, type: str = CREATED, zone: ZoneInfo = MELBOURNE, **data: Any) -> Past:
    """An event at local time ``when`` with ``data``."""
    return Past(id=id, type=type, occurred_at=local(when, zone), data=data)


def days_ago(current: Past, *days: int, **data: Any) -> list[Past]:
    """One event per number, that many whole days before ``current``."""
    return [Past(f"d{d}", CREATED, current.occurred_at - timedelta(days=d), data) for d in days]


class FakeLoader:
    """The member's events in memory, served as the real loader's SQL query would serve them."""

    def __init__(self, events: Sequence[Past], current: Past) -> None:
        self.events, self.current = [*events, current], current
        self.requests: list[tuple[frozenset[str], datetime | None]] = []

    def __call__(self, types: frozenset[str], since: datetime | None) -> Sequence[Past]:
        assert isinstance(types, frozenset) and types, types
        assert all(isinstance(kind, str) for kind in types)
        assert since is None or (since.tzinfo is not None and since <= self.current.occurred_at)
        self.requests.append((types, since))
        found = [
            event
            for event in self.events
            if event.type in types
            and (since is None or since <= event.occurred_at)
            and event.occurred_at <= self.current.occurred_at
        ]
        return sorted(found, key=lambda event: event.occurred_at)


def watched(events: Sequence[Past], current: Past) -> tuple[History, FakeLoader]:
    """A History in Melbourne over ``events`` and the loader it asks, to see what it asked."""
    loader = FakeLoader(events, current)
    return History(current, loader, MELBOURNE), loader


def make(events: Sequence[Past], current: Past, zone: ZoneInfo = MELBOURNE) -> History:
    """A History over ``events`` and ``current``."""
    return History(current, FakeLoader(events, current), zone)


def call(history: History, source: str) -> Any:
    """Evaluate ``source`` as a rule would: gated, then run with frozen data."""
    expression = compile_expression(
        source, names=("action",), functions={**HELPERS, **HISTORY_FUNCTIONS}
    )
    return expression.evaluate({"action": "feedback"}, history.functions())


# Sunday 2026-11-22 18:00 in Melbourne; the week began Monday 16th.
CURRENT = past(
    "now", "2026-11-22T18:00:00", action="feedback", channel="web", tags=["review"],
    duration=20, meta={"stars": 4},
)  # fmt: skip
EVENTS = [
    past("e1", "2026-11-22T09:00:00", action="feedback", channel="web",
         tags=["review", "photo"], duration=30, meta={"stars": 5}),
    past("e2", "2026-11-21T23:59:59", action="feedback", channel="app", tags=["review"],
         duration=60, meta={"stars": 3}),
    past("e3", "2026-11-20T12:00:00", action="view", channel="web", tags=[], duration=10),
    past("e4", "2026-11-01T00:00:00", action="feedback", channel="web", duration=15.5,
         meta={"stars": 4}),
    past("e5", "2026-10-31T23:59:59", action="feedback", channel="web", duration=100),
    past("e6", "2026-11-22T10:00:00", type=UPDATED, action="feedback", channel="web"),
]  # fmt: skip

CASES: list[tuple[str, str, Any]] = [
    ("all-time", "count()", 6),
    ("day", 'count(period="day")', 2),
    ("week", 'count(period="week")', 4),
    ("month", 'count(period="month")', 5),
    ("year", 'count(period="year")', 6),
    ("within", 'count(within="1d")', 3),
    ("period-and-within", 'count(period="month", within="2d")', 3),
    ("equality", 'count(action="feedback")', 5),
    ("equality-with-a-name", "count(action=action)", 5),
    ("any-of", 'count(action=("feedback", "view"))', 6),
    ("any-of-a-list", 'count(action=["view"])', 1),
    ("two-filters", 'count(action="feedback", channel="app")', 1),
    ("tags-contain", 'count(tags="review")', 3),
    ("tags-contain-any-of", 'count(tags=("photo", "missing"))', 1),
    ("tags-none", "count(tags=None)", 2),
    ("none-is-missing", "count(meta=None)", 2),
    ("type-override", f'count(type="{UPDATED}")', 1),
    ("type-any-of", f'count(type=("{CREATED}", "{UPDATED}"))', 7),
    ("type-unknown", 'count(type="other")', 0),
    ("type-none-of", "count(type=())", 0),
    ("sum", 'sum_of("duration")', 235.5),
    ("sum-ints", 'sum_of("meta.stars")', 16),
    ("sum-month", 'sum_of("duration", period="month")', 135.5),
    ("sum-filtered", 'sum_of("duration", action="view")', 10),
    ("sum-of-nothing", 'sum_of("missing")', 0),
    ("avg", 'avg_of("meta.stars")', 4.0),
    ("avg-of-nothing", 'avg_of("missing")', None),
    ("min", 'min_of("duration")', 10),
    ("max", 'max_of("duration")', 100),
    ("max-dotted", 'max_of("meta.stars", period="week")', 5),
    ("min-of-nothing", 'min_of("duration", type="other")', None),
    ("max-of-nothing", 'max_of("meta.stars", period="day", action="view")', None),
    ("distinct", 'distinct("channel")', 2),
    ("distinct-dotted", 'distinct("meta.stars")', 3),
    ("distinct-lists", 'distinct("tags")', 3),
    ("distinct-of-nothing", 'distinct("missing")', 0),
    ("streak", "streak()", 3),
    ("streak-week", 'streak("week")', 1),
    ("streak-month", 'streak(unit="month", action="feedback")', 2),
    ("days-since", "days_since()", 0),
    ("days-since-filtered", 'days_since(action="view")', 2),
    ("days-since-none", 'days_since(channel="nowhere")', None),
]


@pytest.mark.parametrize(("source", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_history_functions_answer_over_the_members_events(source: str, expected: Any) -> None:
    """Each function and filter, through the gate and the evaluator, as a rule calls it."""
    result = call(make(EVENTS, CURRENT), source)
    assert result == expected
    assert type(result) is type(expected)


def test_the_current_event_is_counted() -> None:
    """With no history at all, count() is 1: the event being processed."""
    assert make([], CURRENT).count() == 1


@pytest.mark.parametrize(
    ("period", "before", "inside"),
    [
        ("day", "2026-11-21T23:59:59", "2026-11-22T00:00:00"),
        ("week", "2026-11-15T23:59:59", "2026-11-16T00:00:00"),
        ("month", "2026-10-31T23:59:59", "2026-11-01T00:00:00"),
        ("year", "2025-12-31T23:59:59", "2026-01-01T00:00:00"),
    ],
    ids=["day", "iso-week", "month", "year"],
)
def test_a_period_starts_at_local_midnight(period: str, before: str, inside: str) -> None:
    """In Melbourne, a second before local midnight is the previous period; midnight is not."""
    history, loader = watched([past("before", before), past("inside", inside)], CURRENT)
    assert history.count(period=period) == 2  # "inside" and the current event
    assert loader.requests == [(frozenset({CREATED}), local(inside))]


def test_a_dst_day_counts_its_23_hours() -> None:
    """Melbourne's 2026-10-04 lost an hour: both its ends are in, the day before is out."""
    current = past("now", "2026-10-04T23:59:59")
    events = [past("first", "2026-10-04T00:00:00"), past("before", "2026-10-03T23:59:59")]
    assert make(events, current).count(period="day") == 2
    assert current.occurred_at - events[0].occurred_at == timedelta(hours=23) - timedelta(seconds=1)


def test_a_rolling_window_excludes_its_exact_start() -> None:
    """within="7d" is (now - 7 days, now]: exactly 7 days ago is out, a second later is in."""
    at = CURRENT.occurred_at
    events = [
        Past("out", CREATED, at - timedelta(days=7), {}),
        Past("in", CREATED, at - timedelta(days=7) + timedelta(seconds=1), {}),
    ]
    history, loader = watched(events, CURRENT)
    assert history.count(within="7d") == 2
    assert loader.requests == [(frozenset({CREATED}), at - timedelta(days=7))]


@pytest.mark.parametrize(
    ("days", "unit", "filters", "expected"),
    [
        ((0, 1, 2), "day", {}, 3),
        ((0, 1, 3, 4), "day", {}, 2),
        ((0,), "day", {}, 1),
        ((1, 2), "day", {"action": "feedback"}, 0),
        ((0, 7, 14, 28), "week", {}, 3),
        ((0, 40), "month", {}, 2),
        ((0, 400), "year", {}, 2),
    ],
    ids=[
        "three-days",
        "a-gap-breaks-it",
        "today-only",
        "nothing-today",
        "weeks",
        "months",
        "years",
    ],
)
def test_a_streak_counts_consecutive_units_ending_now(
    days: tuple[int, ...], unit: str, filters: dict[str, Any], expected: int
) -> None:
    """Units back from the current one, each with a match; the current event is "view"."""
    current = past("now", "2026-11-22T18:00:00", action="view")
    events = days_ago(current, *days, action="feedback")
    assert make(events, current).streak(unit, **filters) == expected


def test_the_current_unit_counts_through_another_event() -> None:
    """The current event does not match, but one earlier today does: today counts."""
    current = past("now", "2026-11-22T18:00:00", action="view")
    events = [
        past("today", "2026-11-22T01:00:00", action="feedback"),
        past("yesterday", "2026-11-21T23:00:00", action="feedback"),
    ]
    assert make(events, current).streak(action="feedback") == 2


def test_a_weekly_streak_runs_across_a_year_end() -> None:
    """2027-01-02 is in 2026-W53; W52 and W51 before it make a streak of 3."""
    current = past("now", "2027-01-02T12:00:00")
    events = [
        past("w52", "2026-12-21T00:00:00"),
        past("w51", "2026-12-20T23:59:59"),
        past("w49", "2026-12-06T12:00:00"),
    ]
    assert make(events, current).streak("week") == 3


def test_a_long_streak_looks_past_the_first_window() -> None:
    """A streak longer than LOOKBACK days loads all time once and counts it all."""
    current = past("now", "2026-11-22T18:00:00")
    days = LOOKBACK + 8
    events = days_ago(current, *range(1, days))
    history, loader = watched(events, current)
    assert history.streak() == days
    assert [since for _, since in loader.requests] == [local("2026-10-22T00:00:00"), None]


@pytest.mark.parametrize(
    ("previous", "now", "zone", "expected"),
    [
        ("2026-11-22T00:00:00", "2026-11-22T23:59:59", MELBOURNE, 0),
        ("2026-11-21T23:59:59", "2026-11-22T00:00:00", MELBOURNE, 1),
        ("2026-03-28T23:30:00", "2026-03-30T00:10:00", BERLIN, 2),
        ("2026-10-24T00:30:00", "2026-10-25T23:30:00", BERLIN, 1),
        ("2026-01-01T12:00:00", "2026-11-22T12:00:00", MELBOURNE, 325),
    ],
    ids=["same-day", "midnight", "berlin-spring-forward", "berlin-fall-back", "months-ago"],
)
def test_days_since_counts_calendar_days(
    previous: str, now: str, zone: ZoneInfo, expected: int
) -> None:
    """Local dates are subtracted, so 23h40m across a DST change is still 2 days."""
    current = past("now", now, zone=zone)
    assert make([past("before", previous, zone=zone)], current, zone).days_since() == expected


def test_days_since_is_none_without_another_event() -> None:
    """The current event is not its own previous event, even after looking back to all time."""
    history, loader = watched([past("other", "2026-11-20T12:00:00", type=UPDATED)], CURRENT)
    assert history.days_since() is None
    assert [since for _, since in loader.requests] == [local("2026-10-21T00:00:00"), None]


def test_an_event_at_the_same_instant_is_previous() -> None:
    """Another event at the current event's very time is 0 days before it."""
    twin = Past("twin", CREATED, CURRENT.occurred_at, {})
    assert make([twin], CURRENT).days_since() == 0


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (lambda h: h.aggregate("sum_of", "action"), "sum_of() needs numbers, but field 'action' "
         "of event e1 holds str 'feedback'"),
        (lambda h: h.aggregate("avg_of", "flag"), "field 'flag' of event e1 holds bool True"),
        (lambda h: h.aggregate("max_of", "meta"), "holds mapping {'stars': 1}"),
        (lambda h: h.count(period="fortnight"), "period for count() must be 'day', 'week', "
         "'month' or 'year', not 'fortnight'"),
        (lambda h: h.count(within="7 days"), "within for count(): '7 days' is not a duration"),
        (lambda h: h.streak("hour"), "unit for streak() must be 'day'"),
        (lambda h: h.streak(period="month"), "streak() takes no 'period'"),
        (lambda h: h.count(unit="day"), "count() takes no 'unit'"),
        (lambda h: h.count(type=1), "type for count() must be an event type"),
        (lambda h: h.aggregate("distinct", "meta..stars"), "must be a name like 'duration'"),
    ],
    ids=["text", "bool", "mapping", "period", "within", "unit", "streak-period", "count-unit",
         "type", "field"],
)  # fmt: skip
def test_bad_values_at_run_time_are_evaluation_errors(run: Any, message: str) -> None:
    """Errors name the function, the field and the value; the gate normally stops these first."""
    events = [past("e1", "2026-11-22T09:00:00", action="feedback", flag=True, meta={"stars": 1})]
    with pytest.raises(EvaluationError) as caught:
        run(make(events, CURRENT))
    assert message in str(caught.value)


def test_a_later_call_inside_a_loaded_window_loads_nothing() -> None:
    """count(period="month") loads once; count(within="7d") and a repeat reuse it."""
    history, loader = watched(EVENTS, CURRENT)
    assert history.count(period="month", action="feedback") == 4
    assert history.count(within="7d", action="feedback") == 3
    assert history.count(period="month", action="feedback") == 4
    assert loader.requests == [(frozenset({CREATED}), local("2026-11-01T00:00:00"))]
    assert history.calls == {
        "count(period='month', action='feedback')": 4,
        "count(within='7d', action='feedback')": 3,
    }


def test_a_wider_window_loads_again_and_then_covers_the_narrower() -> None:
    """within="7d" then period="year" needs earlier events; a day after that needs nothing."""
    history, loader = watched(EVENTS, CURRENT)
    history.count(within="7d")
    history.count(period="year")
    history.count(period="day")
    assert [since for _, since in loader.requests] == [
        CURRENT.occurred_at - timedelta(days=7),
        local("2026-01-01T00:00:00"),
    ]


def test_a_load_of_several_types_serves_one_of_them() -> None:
    """count(type=(a, b)) then count(type=a) and count() load once and filter by type."""
    history, loader = watched(EVENTS, CURRENT)
    assert history.count(type=(CREATED, UPDATED)) == 7
    assert history.count(type=UPDATED) == 1
    assert history.count() == 6
    assert loader.requests == [(frozenset({CREATED, UPDATED}), None)]


def test_each_distinct_call_is_computed_once() -> None:
    """A repeated call returns the remembered answer; a new call computes from the same load."""
    events = [Past("e1", CREATED, CURRENT.occurred_at - timedelta(hours=1), {"duration": 5})]
    history, loader = watched(events, CURRENT)
    assert history.aggregate("sum_of", "duration") == 25
    events[0].data["duration"] = 500  # type: ignore[index]  # only to see what is recomputed
    assert history.aggregate("sum_of", "duration") == 25
    assert history.aggregate("sum_of", "duration", within="1d") == 520
    assert history.calls == {"sum_of('duration')": 25, "sum_of('duration', within='1d')": 520}
    assert len(loader.requests) == 1


def test_calls_are_recorded_as_the_rule_wrote_them() -> None:
    """Positional field, then period and within, then filters by name; tuples stay tuples."""
    history = make(EVENTS, CURRENT)
    call(history, 'sum_of("duration", within="7d", period="week", tags=("a",), action="x")')
    call(history, 'streak(action="feedback")')
    call(history, "days_since()")
    assert list(history.calls) == [
        "sum_of('duration', period='week', within='7d', action='x', tags=('a',))",
        "streak(unit='day', action='feedback')",
        "days_since()",
    ]


FIELDS = ("action", "channel", "tags", "meta", "duration")

GOOD_CALLS = [
    "count()",
    'count(period="month", action="feedback")',
    'count(within="7d", action=action, channel=("web", "app"))',
    "count(period=None, within=None)",
    'count(type="interaction.created")',
    'count(type=("interaction.created", t))',
    'sum_of("duration", period="week")',
    'avg_of("meta.stars", within="12h")',
    'distinct("channel")',
    "streak()",
    'streak("week", action="feedback")',
    'streak(unit="month")',
    'days_since(action=("feedback", "view"), tags="review")',
    "abs(count)",
]


def check(source: str, fields: Sequence[str] | None) -> list[ExpressionError]:
    """The load-time problems of the one call ``source``, at the nodes they are about."""
    node = ast.parse(source, mode="eval").body
    assert isinstance(node, ast.Call)
    return [
        ExpressionError(message, getattr(at, "lineno", 1), getattr(at, "col_offset", 0) + 1)
        for message, at in check_call(node, fields)
    ]


@pytest.mark.parametrize("source", GOOD_CALLS, ids=GOOD_CALLS)
def test_good_calls_pass_the_load_time_checks(source: str) -> None:
    """Constant period, within, unit and field, and filters on known fields."""
    assert check(source, FIELDS) == []


BAD_CALLS: list[tuple[str, str, int]] = [
    ('count(period="fortnight")',
     "period for count() must be 'day', 'week', 'month' or 'year', not 'fortnight'", 14),
    ("count(period=p)", "period for count() must be 'day', 'week', 'month' or 'year', not p", 14),
    ('count(within="7 days")', "within for count(): '7 days' is not a duration like 7d, 12h, 30m",
     14),
    ("count(within=7)", "within for count(): 7 is not a duration like 7d, 12h, 30m", 14),
    ('count(within="0d")', "within for count(): '0d' is not a duration: the number must be", 14),
    ("count(within=w)", "within for count() must be a constant like '7d', not w", 14),
    ('streak("hour")', "unit for streak() must be 'day', 'week', 'month' or 'year', not 'hour'", 8),
    ("streak(unit=u)", "unit for streak() must be 'day', 'week', 'month' or 'year', not u", 13),
    ('streak("day", unit="week")', "unit for streak() is given twice", 15),
    ('streak(period="month")', "streak() takes no 'period'", 8),
    ('count(unit="day")', "count() takes no 'unit'", 7),
    ('days_since(within="7d")', "days_since() takes no 'within'", 12),
    ("sum_of(field)", "the field for sum_of() must be a constant like 'duration'", 8),
    ("sum_of(1)", "the field for sum_of() must be a constant like 'duration'", 8),
    ('max_of("meta..stars")', "the field for max_of() must be a constant like 'duration'", 8),
    ('sum_of("durations")', "unknown field 'durations' for sum_of() (did you mean 'duration'?)",
     8),
    ('avg_of("metta.stars")', "unknown field 'metta' for avg_of() (did you mean 'meta'?)", 8),
    ('count(acton="feedback")', "unknown field 'acton' for count() (did you mean 'action'?)", 7),
    ("streak(zzz=1)", "unknown field 'zzz' for streak()", 8),
    ("count(type=1)", "type for count() must be an event type, not 1", 12),
    ('count(type=("a", None))', "type for count() must be an event type, not None", 18),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "message", "col"), BAD_CALLS, ids=[source for source, _, _ in BAD_CALLS]
)
def test_bad_calls_are_refused_when_the_rule_loads(source: str, message: str, col: int) -> None:
    """One problem, with its message and its column in the expression."""
    problems = check(source, FIELDS)
    assert [(p.message[: len(message)], p.line, p.col) for p in problems] == [(message, 1, col)]


def test_every_problem_in_a_call_is_reported_with_its_line() -> None:
    """Two problems on two lines give two errors, in the order they were written."""
    problems = check('count(\n  period="fortnight",\n  acton=1)', FIELDS)
    assert [(p.line, p.col) for p in problems] == [(2, 10), (3, 3)]


def test_without_known_fields_any_filter_passes() -> None:
    """fields=None skips the name checks, but still checks period, within and unit."""
    source = 'sum_of("anything.at.all", whatever=1, period="nope")'
    assert [p.message for p in check(source, None)] == [
        "period for sum_of() must be 'day', 'week', 'month' or 'year', not 'nope'"
    ]
