"""Points: ``- points: 50`` (or an expression), written to the append-only ledger (I2, I8).

An award is a ``ledger`` row keyed by its event, rule and effect; a reversal is a row of its own
pointing at the award, keyed by the same, so a second deletion cannot reverse twice. Reversing
also gives a rule's budget back what the award took: budgets count what members still hold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import StrictInt
from sqlalchemy import select

from reactor import caps
from reactor.effects.base import (
    Amount,
    Compiling,
    EffectContext,
    EffectKind,
    EffectSpec,
    Grant,
    LevelReached,
    Original,
    Path,
    whole_or_expression,
)
from reactor.expressions import Expression
from reactor.periods import period_key
from reactor.storage import insert_many_once, insert_once, tables

_ledger = tables.ledger


@dataclass(frozen=True, slots=True)
class GivePoints(EffectSpec):
    """``- points: 50`` or an expression."""

    value: int | Expression

    def plan(self, index: int, amount: Amount) -> Award:
        return Award(index, amount(self.value, "points", 1))

    def expressions(self) -> tuple[Expression, ...]:
        return (self.value,) if isinstance(self.value, Expression) else ()


@dataclass(frozen=True, slots=True)
class Award(Grant):
    """Points a fired rule gives, one per ``points`` effect (cut to a limit or budget)."""

    effect_index: int
    points: int

    def record(self) -> dict[str, Any]:
        return {"points": self.points}

    def apply(self, ctx: EffectContext, rule_id: str, version: str) -> Sequence[LevelReached]:
        give(ctx, rule_id, version, self.effect_index, self.points)
        return ()


def give(ctx: EffectContext, rule_id: str, version: str, effect_index: int, points: int) -> None:
    """Award ``points`` to the event's member, once per event, rule and effect: kept in
    ``ctx.awards`` until ``settle`` writes the event's awards together."""
    ctx.awards.append(
        _entry(ctx, "award", rule_id, version, ctx.event.id, effect_index, points, None)
    )


#: What tells an event's awards apart (with the event): the ledger's unique key.
_AWARD_KEY = ("rule_id", "effect_index", "kind")


def settle(ctx: EffectContext) -> None:
    """Write the event's awards, one statement for all of them (and, on Postgres, one update
    of the member's balance by the ledger's statement trigger), then announce each."""
    if not ctx.awards:
        return
    entries = insert_many_once(ctx.conn, _ledger, ctx.awards, key=_AWARD_KEY)
    for row, entry in zip(ctx.awards, entries, strict=True):
        if entry is not None:
            points, rule_id = row["points"], row["rule_id"]
            ctx.tell(
                "points.awarded", f"ledger {entry}", entry_id=entry, points=points, rule_id=rule_id
            )
    ctx.awards.clear()


def _entry(
    ctx: EffectContext,
    kind: str,
    rule_id: str,
    version: str,
    event_id: str,
    effect_index: int,
    points: int,
    reverses: int | None,
) -> dict[str, Any]:
    """One ledger row: an award, or (``reverses`` given) the reversal of one."""
    row = {
        "member_id": ctx.event.member_id,
        "points": points,
        "kind": kind,
        "rule_id": rule_id,
        "rule_version": version,
        "event_id": event_id,
        "effect_index": effect_index,
        "created_at": ctx.now,
    }
    if reverses is not None:
        row["reverses_id"] = reverses
    return row


class Points(EffectKind):
    """Points in the ledger."""

    key = "points"
    value_type = StrictInt | str
    description = (
        "Points to award: a positive whole number, or an expression such as "
        '"data.distance_m // 100".'
    )

    def compile(self, value: int | str, at: Compiling) -> GivePoints | None:
        compiled = whole_or_expression(value, at, "points")
        return None if compiled is None else GivePoints(compiled)

    def expression_sources(self, value: Any) -> Iterable[tuple[Path, str]]:
        return [((), value)] if isinstance(value, str) else []

    def json_schema(self, expression: dict[str, Any]) -> dict[str, Any]:
        # Integer amounts must be positive when the rule loads; expressions are checked when run.
        return {"anyOf": [{"type": "integer", "minimum": 1}, expression, {"type": "null"}]}

    def reverse(self, ctx: EffectContext, original: Original) -> list[dict[str, Any]]:
        done = []
        awards = ctx.conn.execute(
            select(_ledger).where(_ledger.c.event_id == original.id, _ledger.c.kind == "award")
        ).all()
        for award in awards:
            if ctx.kept(award.rule_id):
                continue
            row = _entry(
                ctx,
                "reversal",
                award.rule_id,
                award.rule_version,
                # The original's event and effect: a second deletion finds the unique key taken.
                original.id,
                award.effect_index,
                -award.points,
                award.id,
            )
            entry = insert_once(ctx.conn, _ledger, row)
            if entry is None:
                continue
            done.append({"points": -award.points, "reverses": award.id, "rule_id": award.rule_id})
            ctx.tell(
                "points.reversed",
                f"{original.id} {award.rule_id} {award.effect_index}",
                entry_id=entry,
                reverses=award.id,
                points=-award.points,
                rule_id=award.rule_id,
            )
        return done

    def after_reversal(
        self, ctx: EffectContext, reversed_: Sequence[tuple[Original, list[dict[str, Any]]]]
    ) -> None:
        """Refund each budget a reversed award spent from: one firing per original event and
        rule, and the points, in the budget period of the original's time."""
        refunds: dict[tuple[str, str], caps.Usage] = {}
        for original, records in reversed_:
            by_rule: dict[str, int] = {}
            for record in records:
                by_rule[record["rule_id"]] = by_rule.get(record["rule_id"], 0) - record["points"]
            for rule_id, points in by_rule.items():
                key = _budget_period(ctx, rule_id, original.occurred_at)
                if key is not None:
                    held = refunds.get(key, caps.Usage(0, 0))
                    refunds[key] = caps.Usage(held.count + 1, held.points + points)
        caps.refund(ctx.conn, refunds)

    def describe(self, record: dict[str, Any]) -> str:
        return f"+{record['points']} points"


def _budget_period(ctx: EffectContext, rule_id: str, moment: datetime) -> tuple[str, str] | None:
    rule = ctx.rules.rule(rule_id)
    if rule is None or rule.budget is None:
        return None
    return rule_id, period_key(moment, rule.budget.per, rule.timezone)
