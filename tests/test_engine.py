"""The pure rule engine: which rules decide an event, and how (I5, I7)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reactor.caps import Usage
from reactor.decisions import Decision
from reactor.engine import evaluate
from reactor.facts import EventFacts, MemberFacts
from reactor.history import Past
from reactor.rules import Rule, RuleSet, load_rules

MOMENT = datetime(2026, 11, 22, 13, 30, tzinfo=UTC)  # 00:30 on the 23rd in Melbourne (UTC+11)


def ruleset(tmp_path: Path, body: str) -> RuleSet:
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n" + body)
    return load_rules(path)


def rule(when: str | None = None, points: str | int = 1, extra: str = "") -> str:
    condition = f"    when: '{when}'\n" if when is not None else ""
    head = "  - id: r\n    on: interaction.created\n"
    return f"{head}{condition}{extra}    then:\n      - points: {points}\n"


def event(**data: Any) -> EventFacts:
    defaults = {"profile_id": "m1", "action": "feedback", "channel": "app", "signal": 1}
    return EventFacts(
        id="evt_1",
        type="interaction.created",
        member_id="m1",
        data={**defaults, **data},
        created_at=None,
        occurred_at=MOMENT,
        received_at=MOMENT,
    )


MEMBER = MemberFacts(id="m1", points=120, achievements={})


class NoHistory:
    """A State for a member with no past and untouched limits: only the current event."""

    def __init__(self, current: EventFacts) -> None:
        self.current = Past(current.id, current.type, current.occurred_at, current.data)

    def history(self, types: frozenset[str], since: datetime | None) -> Sequence[Past]:
        return [self.current] if self.current.type in types else []

    def member_usage(self, rule: Rule, start: datetime, end: datetime) -> Usage:
        return Usage(0, 0)

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        return Usage(0, 0)


def decide(rules: RuleSet, facts: EventFacts) -> list[Decision]:
    return evaluate(rules, facts, MEMBER, NoHistory(facts))


OUTCOMES = [
    ("true-condition", rule('action == "feedback"'), {}, ("fired", None, [1])),
    ("false-condition", rule('action == "view"'), {}, ("skipped", "condition_false", [])),
    ("missing-field-is-none", rule("duration is None"), {}, ("fired", None, [1])),
    ("member-balance", rule("member.points >= 100"), {}, ("fired", None, [1])),
    ("points-expression", rule(None, '"duration // 60"'), {"duration": 600}, ("fired", None, [10])),
    ("data-reachable", rule("data.extra == 3"), {"extra": 3}, ("fired", None, [1])),
    ("tags-are-tuples", rule('"vip" in tags'), {"tags": ["vip"]}, ("fired", None, [1])),
    (
        "meta-both-ways",
        rule('meta.stars == meta["stars"] == 5'),
        {"meta": {"stars": 5}},
        ("fired", None, [1]),
    ),
    ("hour-in-utc", rule("hour == 13 and day == 22"), {}, ("fired", None, [1])),
    (
        "hour-in-rule-zone",
        rule(
            "hour == 0 and day == 23 and weekday == 0", extra="    timezone: Australia/Melbourne\n"
        ),
        {},
        ("fired", None, [1]),
    ),
    (
        "inactive-before-from",
        rule(extra="    active: {from: 2026-12-01T00:00:00Z}\n"),
        {},
        ("skipped", "inactive", []),
    ),
    (
        "active-inside-window",
        rule(extra="    active: {from: 2026-11-01T00:00:00Z, until: 2026-12-01T00:00:00Z}\n"),
        {},
        ("fired", None, [1]),
    ),
    (
        "non-boolean-condition",
        rule("signal"),
        {},
        ("error", "'when' must be true or false, got int 1", []),
    ),
    (
        "zero-points",
        rule(None, '"signal - 1"'),
        {},
        ("error", "points must be a positive whole number, got 0", []),
    ),
    ("float-points", rule(None, '"duration / 7"'), {"duration": 10}, ("error", None, [])),
    ("division-by-zero", rule(None, '"10 // (signal - 1)"'), {}, ("error", "division by zero", [])),
    (
        "points-too-large",
        rule(None, '"data.big"'),
        {"big": 10**20},
        ("error", "points must be at most 1,000,000,000,000, got 100,000,000,000,000,000,000", []),
    ),
]


@pytest.mark.parametrize(
    ("body", "data", "expected"), [o[1:] for o in OUTCOMES], ids=[o[0] for o in OUTCOMES]
)
def test_a_rule_decides_an_event(
    tmp_path: Path, body: str, data: dict[str, Any], expected: tuple[str, str | None, list[int]]
) -> None:
    """Each rule gives one decision with its outcome, reason and awarded points."""
    [decision] = decide(ruleset(tmp_path, body), event(**data))
    outcome, reason, points = expected
    assert decision.outcome == outcome
    if reason is not None or outcome != "error":
        assert decision.reason == reason
    else:
        assert decision.reason
    assert [a.points for a in decision.awards] == points


def test_rules_for_other_types_give_no_decision(tmp_path: Path) -> None:
    """A rule on another event type is not consulted at all."""
    rules = ruleset(tmp_path, "  - id: r\n    on: swim.completed\n    then: [{points: 1}]\n")
    assert decide(rules, event()) == []


def test_one_failing_rule_leaves_the_others_deciding(tmp_path: Path) -> None:
    """A run-time error is that rule's decision; the rules after it still fire."""
    body = (
        "  - id: a-broken\n    on: interaction.created\n    then: [{points: '1 // (signal - 1)'}]\n"
        "  - id: b-fine\n    on: interaction.created\n    then: [{points: 2}, {points: 3}]\n"
    )
    decisions = decide(ruleset(tmp_path, body), event())
    assert [(d.rule_id, d.outcome) for d in decisions] == [
        ("a-broken", "error"),
        ("b-fine", "fired"),
    ]
    assert [(a.effect_index, a.points) for a in decisions[1].awards] == [(0, 2), (1, 3)]


def test_the_same_inputs_give_the_same_decisions(tmp_path: Path) -> None:
    """I5: evaluation is deterministic."""
    rules = ruleset(tmp_path, rule('action == "feedback"', '"signal + 4"'))
    assert decide(rules, event()) == decide(rules, event())


def test_expressions_cannot_change_the_event(tmp_path: Path) -> None:
    """The data handed to expressions is frozen; the stored event is untouched after evaluation."""
    facts = event(meta={"stars": 5}, tags=["a"])
    before = repr(facts.data)
    decide(ruleset(tmp_path, rule('meta.stars == 5 and "a" in tags')), facts)
    assert repr(facts.data) == before


class Remembered(NoHistory):
    """A State that remembers what fired decisions gave, as the database does once they commit:
    limits and budgets report real usage, so the caps are tested without a database."""

    def __init__(self) -> None:
        self.awards: list[tuple[str, datetime, int]] = []  # (rule, occurred at, points)
        self.budgets: dict[tuple[str, str], Usage] = {}

    def decide(self, rules: RuleSet, facts: EventFacts) -> list[Decision]:
        """Evaluate ``facts`` and record what fired, like the processor's commit."""
        super().__init__(facts)
        decisions = evaluate(rules, facts, MEMBER, self)
        for d in decisions:
            if d.outcome != "fired":
                continue
            self.awards.append((d.rule_id, facts.occurred_at, d.points))
            if d.budget_period is not None:
                key = (d.rule_id, d.budget_period)
                used = self.budgets.get(key, Usage(0, 0))
                self.budgets[key] = Usage(used.count + 1, used.points + d.points)
        return decisions

    def member_usage(self, rule: Rule, start: datetime, end: datetime) -> Usage:
        given = [p for r, at, p in self.awards if r == rule.id and start <= at < end]
        return Usage(len(given), sum(given))

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        return self.budgets.get((rule_id, period), Usage(0, 0))


def at(when: datetime) -> EventFacts:
    return dataclasses.replace(event(), occurred_at=when, received_at=when)


def outcomes(decisions: list[Decision]) -> list[tuple[str, str | None, int]]:
    return [(d.outcome, d.reason, d.points) for d in decisions]


def test_a_points_limit_cuts_the_award_to_what_remains_then_refuses(tmp_path: Path) -> None:
    """limit {points: 25, per: month}: 10, 10, 5 (cut from 10), limit_reached; next month 10."""
    rules = ruleset(tmp_path, rule(points=10, extra="    limit: {points: 25, per: month}\n"))
    state = Remembered()
    days = [MOMENT + timedelta(days=d) for d in (0, 1, 2, 3)]
    decided = [state.decide(rules, at(day))[0] for day in days]
    assert outcomes(decided) == [
        ("fired", None, 10),
        ("fired", None, 10),
        ("fired", None, 5),
        ("skipped", "limit_reached", 0),
    ]
    assert decided[2].details["cut_from"] == 10
    assert decided[2].details["limit"] == {"period": "2026-11", "points": {"used": 20, "of": 25}}
    assert decided[3].details["limit"] == {"period": "2026-11", "points": {"used": 25, "of": 25}}
    assert outcomes(state.decide(rules, at(datetime(2026, 12, 1, tzinfo=UTC)))) == [
        ("fired", None, 10)
    ]


def test_a_count_limit_is_reached_on_the_third_event_of_a_day(tmp_path: Path) -> None:
    """limit {count: 2, per: day}: the third event that day is limit_reached, with its usage."""
    rules = ruleset(tmp_path, rule(extra="    limit: {count: 2, per: day}\n"))
    state = Remembered()
    first, second, third = (
        state.decide(rules, at(MOMENT + timedelta(minutes=m))) for m in (0, 1, 2)
    )
    assert [d[0].outcome for d in (first, second)] == ["fired", "fired"]
    assert outcomes(third) == [("skipped", "limit_reached", 0)]
    assert third[0].details["limit"] == {"period": "2026-11-22", "count": {"used": 2, "of": 2}}


def test_a_budget_is_cut_then_exhausted_for_everyone(tmp_path: Path) -> None:
    """budget {points: 25}: one pot for all events; the last award is cut, then exhausted."""
    rules = ruleset(tmp_path, rule(points=10, extra="    budget: {points: 25}\n"))
    state = Remembered()
    seen = [outcomes(state.decide(rules, at(MOMENT + timedelta(days=d)))) for d in range(4)]
    assert [s[0] for s in seen] == [
        ("fired", None, 10),
        ("fired", None, 10),
        ("fired", None, 5),
        ("skipped", "budget_exhausted", 0),
    ]
    assert state.budgets == {("r", "lifetime"): Usage(3, 25)}
