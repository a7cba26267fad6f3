"""The rule engine: a pure function from an event, a member, the rules and their state to
decisions (I5, I7).

No I/O and no wall clock of its own: what it needs to know beyond the event (the member's
history, how much of a limit or budget is used) it asks a ``State``, which production answers
from the database inside the event's transaction. ``simulate`` and ``rules test`` call the same
``evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from reactor import context
from reactor.context import EventFacts, MemberFacts
from reactor.errors import EvaluationError
from reactor.expressions import Expression
from reactor.history import History, Past
from reactor.periods import period_bounds, period_key
from reactor.rules import GivePoints, IssueBenefit, Progress, Rule, RuleSet

Outcome = Literal["fired", "skipped", "error"]

#: The most points (or achievement progress) one effect can give.
MAX_AMOUNT = 10**12


@dataclass(frozen=True)
class Usage:
    """How much of a limit or budget is spent: times fired and points awarded."""

    count: int
    points: int


class State(Protocol):
    """What the engine may ask beyond the event, for the current member and event."""

    def history(self, types: frozenset[str], since: datetime | None) -> Sequence[Past]:
        """The member's seen events of ``types`` from ``since`` up to the current event."""

    def member_usage(self, rule: Rule, start: datetime, end: datetime) -> Usage:
        """What ``rule`` gave this member, and the member still holds, for events that
        occurred in [start, end). Only what the rule's limit caps need be counted."""

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        """What ``rule_id`` gave everyone in budget ``period``; holds the budget until commit."""


@dataclass(frozen=True)
class Award:
    """Points a fired rule gives, one per ``points`` effect."""

    effect_index: int
    points: int


@dataclass(frozen=True)
class Step:
    """Progress a fired rule makes on an achievement."""

    effect_index: int
    achievement: str
    by: int


@dataclass(frozen=True)
class Issue:
    """A benefit a fired rule issues."""

    effect_index: int
    benefit: str


@dataclass(slots=True)  # not frozen: built for every rule an event triggers, ~4x faster
class Decision:
    """What one rule did with one event, and the values that decided it."""

    rule_id: str
    rule_version: str
    outcome: Outcome
    reason: str | None
    awards: tuple[Award, ...] = ()
    steps: tuple[Step, ...] = ()
    issues: tuple[Issue, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    # The budget period this decision spends from, when the rule has a budget and fired.
    budget_period: str | None = None

    def effects(self) -> list[dict[str, Any]]:
        """Every effect, in the rule's order."""
        if not (self.awards or self.steps or self.issues):
            return []  # most decisions: skipped
        listed: list[tuple[int, dict[str, Any]]] = [
            (a.effect_index, {"points": a.points}) for a in self.awards
        ]
        listed += [(s.effect_index, {"achievement": s.achievement, "by": s.by}) for s in self.steps]
        listed += [(i.effect_index, {"benefit": i.benefit}) for i in self.issues]
        return [effect for _, effect in sorted(listed, key=lambda pair: pair[0])]

    @property
    def points(self) -> int:
        return sum(a.points for a in self.awards)


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
    base = context.event_names(event)
    scopes: dict[ZoneInfo, _Scope] = {}
    member_names: dict[str, Any] = {}

    def scope(zone: ZoneInfo) -> _Scope:
        # Built on first use: names and history are per time zone (periods, hours and streaks
        # follow it), and an event whose rules of a zone are all refuted by their guards needs
        # none of it.
        found = scopes.get(zone)
        if found is None:
            if not member_names:
                member_names.update(context.member_names(member, rules.periods, event.occurred_at))
            names = {**base, **context.time_names(event.occurred_at, zone), **member_names}
            history = History(current, state.history, zone)
            functions = {**context.IMPLEMENTATIONS, **history.functions()}
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
        awards, steps, issues = _effects(rule, names, functions)
    except EvaluationError as exc:
        return decision("error", str(exc))
    finally:
        if calls:
            details["history"] = calls
    allowed, reason, budget_period = _apply_caps(
        rule, event, state, sum(a.points for a in awards), details
    )
    if reason is not None:
        return decision("skipped", reason)
    granted = _cut(awards, allowed)
    if awards:
        details["points"] = [a.points for a in granted]
    return decision(
        "fired",
        None,
        awards=tuple(granted),
        steps=steps,
        issues=issues,
        budget_period=budget_period,
    )


def _effects(
    rule: Rule, names: dict[str, Any], functions: dict[str, Callable[..., Any]]
) -> tuple[list[Award], tuple[Step, ...], tuple[Issue, ...]]:
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

    awards: list[Award] = []
    steps: list[Step] = []
    issues: list[Issue] = []
    for index, effect in enumerate(rule.effects):
        if isinstance(effect, GivePoints):
            awards.append(Award(index, amount(effect.value, "points", 1)))
        elif isinstance(effect, Progress):
            # Progress by 0 (say, a distance of nothing) is no step at all, not an error.
            by = amount(effect.by, f"progress of '{effect.achievement}'", 0)
            if by:
                steps.append(Step(index, effect.achievement, by))
        elif isinstance(effect, IssueBenefit):
            issues.append(Issue(index, effect.benefit))
    return awards, tuple(steps), tuple(issues)


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


def _cut(awards: list[Award], allowed: int) -> list[Award]:
    """Trim awards, in effect order, to ``allowed`` points in total."""
    granted = []
    for award in awards:
        points = min(award.points, allowed)
        if points > 0:
            granted.append(Award(award.effect_index, points))
        allowed -= points
    return granted
