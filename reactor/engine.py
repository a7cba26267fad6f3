"""The rule engine: a pure function from an event, a member and the rules to decisions (I5, I7).

No I/O and no wall clock: production, ``simulate`` and ``rules test`` all call ``evaluate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo

from reactor import context
from reactor.context import EventFacts, MemberFacts
from reactor.errors import EvaluationError
from reactor.expressions import Expression
from reactor.ruleset import Rule, RuleSet

Outcome = Literal["fired", "skipped", "error"]


@dataclass(frozen=True)
class Award:
    """Points a fired rule gives, one per ``points`` effect."""

    effect_index: int
    points: int


@dataclass(frozen=True)
class Decision:
    """What one rule did with one event, and the values that decided it."""

    rule_id: str
    rule_version: str
    outcome: Outcome
    reason: str | None
    awards: tuple[Award, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)

    def effects(self) -> list[dict[str, Any]]:
        return [{"points": a.points} for a in self.awards]


def evaluate(rules: RuleSet, event: EventFacts, member: MemberFacts) -> list[Decision]:
    """Decide every rule whose trigger matches ``event``, in rule-id order.

    A rule that fails at run time (division by zero, a bad points value) becomes an ``error``
    decision; the other rules still decide.
    """
    matching = rules.for_event(event.type)
    if not matching:
        return []
    base = context.event_names(event, member)
    by_zone: dict[ZoneInfo, dict[str, Any]] = {}
    decisions = []
    for rule in matching:
        names = by_zone.get(rule.timezone)
        if names is None:
            names = by_zone[rule.timezone] = {
                **base,
                **context.time_names(event.occurred_at, rule.timezone),
            }
        decisions.append(_decide(rule, event, names))
    return decisions


def _decide(rule: Rule, event: EventFacts, names: dict[str, Any]) -> Decision:
    def decision(outcome: Outcome, reason: str | None, **kw: Any) -> Decision:
        return Decision(rule.id, rule.version, outcome, reason, **kw)

    if not rule.is_active_at(event.occurred_at):
        return decision("skipped", "inactive", details={"occurred_at": names["occurred_at"]})
    details: dict[str, Any] = {}
    try:
        if rule.when is not None:
            matched = rule.when.evaluate(names, context.IMPLEMENTATIONS)
            if not isinstance(matched, bool):
                raise EvaluationError(
                    f"'when' must be true or false, got {type(matched).__name__} {matched!r}"
                )
            details["when"] = matched
            if not matched:
                return decision("skipped", "condition_false", details=details)
        awards = tuple(_award(i, p, names) for i, p in enumerate(rule.points))
    except EvaluationError as exc:
        return decision("error", str(exc), details=details)
    details["points"] = [a.points for a in awards]
    return decision("fired", None, awards=awards, details=details)


def _award(index: int, points: int | Expression, names: dict[str, Any]) -> Award:
    value = (
        points.evaluate(names, context.IMPLEMENTATIONS)
        if isinstance(points, Expression)
        else points
    )
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise EvaluationError(f"points must be a positive whole number, got {value!r}")
    return Award(index, value)
