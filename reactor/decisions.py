"""What one rule did with one event (I7): the ``Decision``, and its row in the decision record.

The engine makes decisions and never changes them afterwards; what applying them adds (the
levels a step reached) travels beside them and is merged in only when the row is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection

from reactor.storage import insert_all, tables

if TYPE_CHECKING:  # effects build decisions too (reversals), so only the types come from there
    from reactor.effects.base import Grant, LevelReached
    from reactor.effects.points import Award

Outcome = Literal["fired", "skipped", "error"]

REVERSAL = "reactor.reversal"
"""The pseudo-rule whose decision records what a deletion reversed (rule ids have no '.')."""


@dataclass(slots=True)  # not frozen: built for every rule an event triggers, ~4x faster
class Decision:
    """What one rule did with one event, and the values that decided it."""

    rule_id: str
    rule_version: str
    outcome: Outcome
    reason: str | None
    #: What the effects of a fired rule give, in the rule's order (see ``reactor.effects``).
    grants: tuple[Grant, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    # The budget period this decision spends from, when the rule has a budget and fired.
    budget_period: str | None = None

    def effects(self) -> list[dict[str, Any]]:
        """Every effect, in the rule's order, as the decision record shows it."""
        return [grant.record() for grant in self.grants]

    @property
    def awards(self) -> tuple[Award, ...]:
        """The points effects, as granted (after any cut to a limit or budget)."""
        return tuple(o for o in self.grants if o.points)  # type: ignore[misc]

    @property
    def points(self) -> int:
        return sum(grant.points for grant in self.grants)


# One encoder: json.dumps with any option builds a new one per call, a few µs per decision.
_json = json.JSONEncoder(default=str).encode


def write_decisions(
    conn: Connection,
    event_id: str,
    decisions: Sequence[Decision],
    levels: Mapping[str, Sequence[LevelReached]],
) -> str | None:
    """Write the decision record, in order; ``levels`` holds what each rule's steps reached.

    Decisions that did something (fired, error) are rows of ``decisions``: limits count the
    fired ones, and the unique key makes a second writer fail. Skips, most of any record, are
    returned as one compact JSON array (``skipped_record``) for the caller to store with the
    event (``events.skipped``): 20 rules, 3 firing, were 20 rows per event and are now 3.
    """
    rows = []
    skipped = []
    for position, decision in enumerate(decisions):
        details = decision.details
        if decision.outcome == "skipped":
            skipped.append(
                [position, decision.rule_id, decision.rule_version, decision.reason, details]
            )
            continue
        reached = levels.get(decision.rule_id)
        if reached:
            details = {**details, "levels_reached": [level.record() for level in reached]}
        rows.append(
            {
                "event_id": event_id,
                "position": position,
                "rule_id": decision.rule_id,
                "rule_version": decision.rule_version,
                "outcome": decision.outcome,
                "reason": decision.reason,
                "effects": _encode(decision.effects()),
                "details": _encode(details),
            }
        )
    insert_all(conn, tables.decisions, rows)
    return _json(skipped) if skipped else None


def _encode(value: Any) -> str:
    # Most decisions are skips refuted by their condition: nothing to encode for those.
    if not value:
        return "[]" if type(value) is list else "{}"
    if type(value) is dict and len(value) == 1 and value.get("when") is False:
        return '{"when": false}'
    return _json(value)
