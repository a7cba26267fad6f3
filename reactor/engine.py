"""The rule engine: a pure function from an event, a member, the rules and their state to
decisions (I5, I7).

No I/O and no wall clock of its own: what it needs to know beyond the event (the member's
history, how much of a limit or budget is used) it asks a ``State``, which production answers
from the database inside the event's transaction. ``simulate`` and ``rules test`` call the same
``evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from reactor.caps import Usage
from reactor.decisions import Decision, Outcome
from reactor.effects import Award, Grant
from reactor.errors import EvaluationError
from reactor.expressions import IMPLEMENTATIONS, Expression, event_names, member_names, time_names
from reactor.facts import EventFacts, MemberFacts
from reactor.history import History, Past
from reactor.periods import period_bounds, period_key
from reactor.rules import Rule, RuleSet

#: The most points (or achievement progress) one effect can give.
MAX_AMOUNT = 10**12


class State(Protocol):
    """What the engine may ask beyond the event, for the current member and event."""

    def history(self, types: frozenset[str], since: datetime | None) -> Sequence[Past]:
        """The member's seen events of ``types`` from ``since`` up to the current event."""

    def member_usage(self, rule: Rule, start: datetime, end: datetime) -> Usage:
        """What ``rule`` gave this member, and the member still holds, for events that
        occurred in [start, end). Only what the rule's limit caps need be counted."""

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        """What ``rule_id`` gave everyone in budget ``period``; holds the budget until commit."""


def evaluate(
    rules: RuleSet, event: EventFacts, member: MemberFacts, state: State
) -> list[Decision]:
    """Decide every rule whose trigger matches ``event``, in rule-id order.

    A rule that fails at run time (division by zero, a bad points value) becomes an ``error``
    decision; the other rules still decide.
    """
    matching = rules.for_event(event.type)
    if not matching:
        return []
    base = event_names(event)
    scopes: dict[ZoneInfo, _Scope] = {}
    member_scope: dict[str, Any] = {}

    def scope(zone: ZoneInfo) -> _Scope:
        # Built on first use: names and history are per time zone (periods, hours and streaks
        # follow it), and an event whose rules of a zone are all refuted by their guards needs
        # none of it.
        found = scopes.get(zone)
        if found is None:
            if not member_scope:
                member_scope.update(member_names(member, rules.periods, event.occurred_at))
            names = {**base, **time_names(event.occurred_at, zone), **member_scope}
            history = History(current, state.history, zone)
            functions = {**IMPLEMENTATIONS, **history.functions()}
            found = scopes[zone] = _Scope(names, history, functions)
        return found

    current = Past(event.id, event.type, event.occurred_at, event.data)
    return [_decide(rule, event, state, base, scope) for rule in matching]


class _Scope(NamedTuple):
    """What the rules of one time zone evaluate with, for one event."""

    names: dict[str, Any]
    history: History
    functions: dict[str, Callable[..., Any]]


def _decide(
    rule: Rule,
    event: EventFacts,
    state: State,
    base: dict[str, Any],
    scope: Callable[[ZoneInfo], _Scope],
) -> Decision:
    def decision(outcome: Outcome, reason: str | None, **kw: Any) -> Decision:
        return Decision(rule.id, rule.version, outcome, reason, details=details, **kw)

    details: dict[str, Any] = {}
    if not rule.is_active_at(event.occurred_at):
        details["occurred_at"] = scope(rule.timezone).names["occurred_at"]
        return decision("skipped", "inactive")
    if rule.when is not None and rule.when.guard.refutes(base):
        # Its leading field test is false, so is the condition: the answer simpleeval gives.
        details["when"] = False
        return decision("skipped", "condition_false")
    names, history, functions = scope(rule.timezone)
    # History is shared by the rules of one time zone (each call computed once), but each
    # decision lists the calls its own rule made.
    calls: dict[str, Any] = {}
    history.calls = calls
    try:
        if rule.when is not None:
            matched = rule.when.evaluate(names, functions)
            if not isinstance(matched, bool):
                raise EvaluationError(
                    f"'when' must be true or false, got {type(matched).__name__} {matched!r}"
                )
            details["when"] = matched
            if not matched:
                return decision("skipped", "condition_false")
        grants = _grants(rule, names, functions)
    except EvaluationError as exc:
        return decision("error", str(exc))
    finally:
        if calls:
            details["history"] = calls
    total = sum(grant.points for grant in grants)
    allowed, reason, budget_period = _apply_caps(rule, event, state, total, details)
    if reason is not None:
        return decision("skipped", reason)
    granted = _cut(grants, allowed)
    if total:  # every points award gives at least one
        details["points"] = [grant.points for grant in granted if isinstance(grant, Award)]
    return decision("fired", None, grants=granted, budget_period=budget_period)


def _grants(
    rule: Rule, names: dict[str, Any], functions: dict[str, Callable[..., Any]]
) -> tuple[Grant, ...]:
    """What each of the rule's effects gives for this event, in the rule's order."""

    def amount(value: int | Expression, what: str, minimum: int) -> int:
        if isinstance(value, Expression):
            value = value.evaluate(names, functions)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            kind = "positive" if minimum > 0 else "non-negative"
            raise EvaluationError(f"{what} must be a {kind} whole number, got {value!r}")
        if value > MAX_AMOUNT:
            # Ledger and progress columns are 64-bit; no campaign means a trillion points.
            raise EvaluationError(f"{what} must be at most {MAX_AMOUNT:,}, got {value:,}")
        return value

    planned = (effect.plan(index, amount) for index, effect in enumerate(rule.effects))
    return tuple(grant for grant in planned if grant is not None)


def _apply_caps(
    rule: Rule, event: EventFacts, state: State, total: int, details: dict[str, Any]
) -> tuple[int, str | None, str | None]:
    """Points still allowed, a skip reason if none, and the budget period spent from."""
    allowed = total
    if rule.limit is not None:
        start, end = period_bounds(event.occurred_at, rule.limit.per, rule.timezone)
        used = state.member_usage(rule, start, end)
        details["limit"] = _cap_state(
            rule.limit, used, period_key(event.occurred_at, rule.limit.per, rule.timezone)
        )
        allowed, exhausted = _within(rule.limit, used, allowed)
        if exhausted:
            return 0, "limit_reached", None
    budget_period = None
    if rule.budget is not None:
        budget_period = period_key(event.occurred_at, rule.budget.per, rule.timezone)
        used = state.budget_usage(rule.id, budget_period)
        details["budget"] = _cap_state(rule.budget, used, budget_period)
        allowed, exhausted = _within(rule.budget, used, allowed)
        if exhausted:
            return 0, "budget_exhausted", None
    if allowed < total:
        details["cut_from"] = total
    return allowed, None, budget_period


def _within(cap: Any, used: Usage, allowed: int) -> tuple[int, bool]:
    if cap.count is not None and used.count >= cap.count:
        return 0, True
    if cap.points is not None:
        remaining = cap.points - used.points
        if remaining <= 0:
            return 0, True
        allowed = min(allowed, remaining)
    return allowed, False


def _cap_state(cap: Any, used: Usage, period: str) -> dict[str, Any]:
    state: dict[str, Any] = {"period": period}
    if cap.count is not None:
        state["count"] = {"used": used.count, "of": cap.count}
    if cap.points is not None:
        state["points"] = {"used": used.points, "of": cap.points}
    return state


def _cut(grants: tuple[Grant, ...], allowed: int) -> tuple[Grant, ...]:
    """Trim points awards, in effect order, to ``allowed`` points in total."""
    granted: list[Grant] = []
    for grant in grants:
        if isinstance(grant, Award):
            points = min(grant.points, allowed)
            allowed -= points
            if points <= 0:
                continue
            if points < grant.points:
                grant = replace(grant, points=points)
        granted.append(grant)
    return tuple(granted)
