"""Achievement progress: ``- achievement: id`` (by 1) or ``{id, by}``, and the levels it reaches.

Every change of progress is an ``achievement_steps`` row keyed by its event, rule and effect
(I2), and ``achievement_progress`` holds their running sum per member, achievement and period.
Levels are reached in order, each once, even when one step jumps several; a level's row is
keyed by member, achievement, period and level, and its rewards are given only when that row is
new. Reversing a step takes the progress back; levels already reached stay reached, with their
rewards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import StrictInt
from sqlalchemy import bindparam, select, update

from reactor.effects import benefits, points
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
from reactor.shapes import RuleId, Strict
from reactor.storage import Statement, insert_once, tables

if TYPE_CHECKING:  # the rules compile effects, so effects take only the types from there
    from reactor.rules import Achievement

_steps = tables.achievement_steps
_progress = tables.achievement_progress


class AchievementStep(Strict):
    """``achievement: {id: ..., by: 3}``: progress by an int or an expression."""

    id: RuleId
    by: StrictInt | str = 1


@dataclass(frozen=True, slots=True)
class Progress(EffectSpec):
    """``- achievement: id`` (by 1) or ``{id, by}`` with an int or an expression."""

    achievement: str
    by: int | Expression

    def plan(self, index: int, amount: Amount) -> Step | None:
        # Progress by 0 (say, a distance of nothing) is no step at all, not an error.
        by = amount(self.by, f"progress of '{self.achievement}'", 0)
        return Step(index, self.achievement, by) if by else None

    def expressions(self) -> tuple[Expression, ...]:
        return (self.by,) if isinstance(self.by, Expression) else ()


@dataclass(frozen=True, slots=True)
class Step(Grant):
    """Progress a fired rule makes on an achievement."""

    effect_index: int
    achievement: str
    by: int

    def record(self) -> dict[str, Any]:
        return {"achievement": self.achievement, "by": self.by}

    def apply(self, ctx: EffectContext, rule_id: str, version: str) -> Sequence[LevelReached]:
        achievement = ctx.rules.achievements[self.achievement]
        period = period_key(ctx.event.occurred_at, achievement.period, achievement.timezone)
        row = _step(ctx, achievement.id, period, self.by, "step", rule_id, self.effect_index)
        if insert_once(ctx.conn, _steps, row) is None:
            return ()
        progress, level = _move(ctx, achievement.id, period, self.by)
        ctx.tell(
            "achievement.progressed",
            f"{ctx.event.id} {rule_id} {self.effect_index}",
            achievement=achievement.id,
            period=period,
            by=self.by,
            progress=progress,
        )
        reached = achievement.levels_reached(progress)
        found = [
            LevelReached(rule_id, achievement.id, number, achievement.levels[number - 1].name)
            for number in range(level + 1, reached + 1)
            if _reach(ctx, achievement, period, number)
        ]
        if reached > level:
            key = _key(ctx.event.member_id, achievement.id, period)
            _SET_LEVEL.run(ctx.conn, {**key, "new_level": reached})
        return found


def _reach(ctx: EffectContext, achievement: Achievement, period: str, number: int) -> bool:
    """Reach level ``number`` and give its rewards, unless it was reached already."""
    member = ctx.event.member_id
    reached = insert_once(
        ctx.conn,
        tables.achievement_levels,
        {
            "member_id": member,
            "achievement_id": achievement.id,
            "period": period,
            "level": number,
            "event_id": ctx.event.id,
            "reached_at": ctx.event.occurred_at,
        },
    )
    if reached is None:
        return False
    level = achievement.levels[number - 1]
    ctx.tell(
        "achievement.level_reached",
        f"level {member} {achievement.id} {period} {number}",
        achievement=achievement.id,
        period=period,
        level=number,
        name=level.name,
    )
    rewarder = f"achievement:{achievement.id}:{period}:{number}"
    for index, amount in enumerate(level.points):
        points.give(ctx, rewarder, achievement.version, index, amount)
    for index, benefit in enumerate(level.benefits):
        source = f"level {member} {achievement.id} {period} {number} {index}"
        benefits.issue(ctx, benefit, source, rewarder, achievement.version)
    return True


def _step(
    ctx: EffectContext,
    achievement: str,
    period: str,
    amount: int,
    kind: str,
    rule_id: str,
    effect_index: int,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One ``achievement_steps`` row: a step of this event's, or (``event_id`` given) the
    reversal of a step of that event's."""
    return {
        "member_id": ctx.event.member_id,
        "achievement_id": achievement,
        "period": period,
        "amount": amount,
        "kind": kind,
        "event_id": event_id or ctx.event.id,
        "rule_id": rule_id,
        "effect_index": effect_index,
        "created_at": ctx.now,
    }


class Achievements(EffectKind):
    """Progress on the achievements of the rule set's catalog."""

    key = "achievement"
    value_type = RuleId | AchievementStep
    description = (
        "An achievement id to progress by 1, or {id, by} to progress it by a number or an "
        "expression."
    )

    def compile(self, value: str | AchievementStep, at: Compiling) -> Progress | None:
        target, by = (value, 1) if isinstance(value, str) else (value.id, value.by)
        at.refer("achievement", target)
        compiled = whole_or_expression(by, at, "by", "by")
        return None if compiled is None else Progress(target, compiled)

    def expression_sources(self, value: Any) -> Iterable[tuple[Path, str]]:
        by = value.get("by") if isinstance(value, dict) else None
        return [(("by",), by)] if isinstance(by, str) else []

    def reverse(self, ctx: EffectContext, original: Original) -> list[dict[str, Any]]:
        done = []
        rows = ctx.conn.execute(
            select(_steps).where(_steps.c.event_id == original.id, _steps.c.kind == "step")
        ).all()
        for row in rows:
            if ctx.kept(row.rule_id):
                continue
            taken = _step(
                ctx,
                row.achievement_id,
                row.period,
                -row.amount,
                "reversal",
                row.rule_id,
                row.effect_index,
                # The original's event and effect: a second deletion finds the unique key taken.
                event_id=original.id,
            )
            if insert_once(ctx.conn, _steps, taken) is None:
                continue
            progress, _ = _move(ctx, row.achievement_id, row.period, -row.amount)
            done.append({"achievement": row.achievement_id, "by": -row.amount})
            ctx.tell(
                "achievement.progressed",
                f"{original.id} {row.rule_id} {row.effect_index} reversal",
                achievement=row.achievement_id,
                period=row.period,
                by=-row.amount,
                progress=progress,
            )
        return done

    def describe(self, record: dict[str, Any]) -> str:
        return f"{record['achievement']} +{record['by']}"


# Bind names differ from column names: UPDATE … SET reserves those.
_KEY = (
    (_progress.c.member_id == bindparam("key_member"))
    & (_progress.c.achievement_id == bindparam("key_achievement"))
    & (_progress.c.period == bindparam("key_period"))
)


class _ProgressRow(NamedTuple):
    progress: int
    level: int


_READ = Statement(select(_progress.c.progress, _progress.c.level).where(_KEY), _ProgressRow)
_ADD = Statement(
    update(_progress)
    .where(_KEY)
    .values(progress=_progress.c.progress + bindparam("by"), updated_at=bindparam("now"))
)
_SET_LEVEL = Statement(update(_progress).where(_KEY).values(level=bindparam("new_level")))


def _key(member_id: str, achievement_id: str, period: str) -> dict[str, str]:
    return {"key_member": member_id, "key_achievement": achievement_id, "key_period": period}


def _move(ctx: EffectContext, achievement_id: str, period: str, by: int) -> tuple[int, int]:
    """Add ``by`` to the member's progress; the new progress and the level reached before."""
    key = _key(ctx.event.member_id, achievement_id, period)
    row = _READ.one_or_none(ctx.conn, key)
    if row is None:
        values = {
            "member_id": ctx.event.member_id,
            "achievement_id": achievement_id,
            "period": period,
            "progress": by,
            "level": 0,
            "updated_at": ctx.now,
        }
        insert_once(ctx.conn, _progress, values)
        return by, 0
    _ADD.run(ctx.conn, {**key, "by": by, "now": ctx.now})
    return int(row.progress) + by, int(row.level)
