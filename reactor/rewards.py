"""Writing one event's effects in its transaction, each exactly once (I2, I8).

Points go to the append-only ledger, benefits become instances, achievement steps move progress
and reach levels (whose rewards are given once per member, achievement, period and level).
Every write is keyed by what caused it, so a retried transaction cannot double it; with
notifications on, each effect also becomes an outbox row in the same transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from reactor import outbox, tables
from reactor.context import EventFacts
from reactor.engine import Decision, Step
from reactor.inserts import insert_once
from reactor.periods import period_key
from reactor.rules import Achievement, Rule, RuleSet
from reactor.statements import Statement


def stable_id(prefix: str, source: str) -> str:
    return f"{prefix}_{hashlib.sha256(source.encode()).hexdigest()[:24]}"


class Effects:
    """Applies fired decisions for one event and one member."""

    def __init__(
        self, conn: Connection, rules: RuleSet, event: EventFacts, now: datetime, notify: bool
    ) -> None:
        self.conn = conn
        self.rules = rules
        self.event = event
        self.now = now
        self.notify = notify
        #: Notifications written in this transaction, to be delivered once it commits.
        self.notifications: list[str] = []

    def apply(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if decision.outcome != "fired":
                continue
            rule = self.rules.rule(decision.rule_id)
            assert rule is not None, "a decision always comes from the rule set it was made with"
            for award in decision.awards:
                self.points(rule.id, rule.version, award.effect_index, award.points)
            for issue in decision.issues:
                source = f"rule {self.event.id} {rule.id} {issue.effect_index}"
                self.benefit(issue.benefit, source, rule.id, rule.version)
            for step in decision.steps:
                self.progress(rule, decision, step)
            if decision.budget_period is not None:
                self._spend(decision)

    def points(self, rule_id: str, version: str, effect_index: int, points: int) -> None:
        entry = insert_once(
            self.conn,
            tables.ledger,
            {
                "member_id": self.event.member_id,
                "points": points,
                "kind": "award",
                "rule_id": rule_id,
                "rule_version": version,
                "event_id": self.event.id,
                "effect_index": effect_index,
                "created_at": self.now,
            },
        )
        if entry is not None:
            self.tell(
                "points.awarded", f"ledger {entry}", entry_id=entry, points=points, rule_id=rule_id
            )

    def benefit(self, benefit_id: str, source: str, rule_id: str, version: str) -> None:
        benefit = self.rules.benefits[benefit_id]
        # Event time, not processing time: replaying the same events gives the same expiry (I5).
        issued_at = self.event.occurred_at
        expires_at = issued_at + benefit.expires_after if benefit.expires_after else None
        instance = insert_once(
            self.conn,
            tables.benefits_issued,
            {
                "id": stable_id("ben", source),
                "member_id": self.event.member_id,
                "benefit_id": benefit_id,
                "event_id": self.event.id,
                "source": source,
                "rule_id": rule_id,
                "rule_version": version,
                "issued_at": issued_at,
                "expires_at": expires_at,
            },
        )
        if instance is not None:
            self.tell(
                "benefit.issued",
                f"benefit {instance}",
                id=instance,
                benefit=benefit_id,
                issued_at=issued_at.isoformat(),
                expires_at=expires_at.isoformat() if expires_at else None,
            )

    def progress(self, rule: Rule, decision: Decision, step: Step) -> None:
        achievement = self.rules.achievements[step.achievement]
        period = period_key(self.event.occurred_at, achievement.period, achievement.timezone)
        stepped = insert_once(
            self.conn,
            tables.achievement_steps,
            {
                "member_id": self.event.member_id,
                "achievement_id": achievement.id,
                "period": period,
                "amount": step.by,
                "kind": "step",
                "event_id": self.event.id,
                "rule_id": rule.id,
                "effect_index": step.effect_index,
                "created_at": self.now,
            },
        )
        if stepped is None:
            return
        progress, level = move_progress(
            self.conn, self.event.member_id, achievement.id, period, step.by, self.now
        )
        reached = achievement.levels_reached(progress)
        self.tell(
            "achievement.progressed",
            f"{self.event.id} {rule.id} {step.effect_index}",
            achievement=achievement.id,
            period=period,
            by=step.by,
            progress=progress,
        )
        # Levels are reached in order, each once, even when one step jumps several.
        for number in range(level + 1, reached + 1):
            if self._reach(achievement, period, number):
                decision.details.setdefault("levels_reached", []).append(
                    {
                        "achievement": achievement.id,
                        "level": number,
                        "name": achievement.levels[number - 1].name,
                    }
                )
        if reached > level:
            set_level(self.conn, self.event.member_id, achievement.id, period, reached)

    def _reach(self, achievement: Achievement, period: str, number: int) -> bool:
        reached = insert_once(
            self.conn,
            tables.achievement_levels,
            {
                "member_id": self.event.member_id,
                "achievement_id": achievement.id,
                "period": period,
                "level": number,
                "event_id": self.event.id,
                "reached_at": self.event.occurred_at,
            },
        )
        if reached is None:
            return False
        level = achievement.levels[number - 1]
        self.tell(
            "achievement.level_reached",
            f"level {self.event.member_id} {achievement.id} {period} {number}",
            achievement=achievement.id,
            period=period,
            level=number,
            name=level.name,
        )
        rewarder = f"achievement:{achievement.id}:{period}:{number}"
        for index, points in enumerate(level.points):
            self.points(rewarder, achievement.version, index, points)
        for index, benefit in enumerate(level.benefits):
            source = f"level {self.event.member_id} {achievement.id} {period} {number} {index}"
            self.benefit(benefit, source, rewarder, achievement.version)
        return True

    def _spend(self, decision: Decision) -> None:
        # The row was locked by DatabaseState.budget_usage when the engine read it.
        params = {
            "budget_rule": decision.rule_id,
            "budget_period": decision.budget_period,
            "spent": decision.points,
        }
        _SPEND.run(self.conn, params)

    def tell(self, kind: str, key: str, **data: Any) -> None:
        if self.notify:
            data = {"event_id": self.event.id, **data}
            outbox.write(
                self.conn,
                type=kind,
                member_id=self.event.member_id,
                key=f"{kind} {key}",
                data=data,
                now=self.now,
            )


_progress = tables.achievement_progress
# Bind names differ from column names: UPDATE … SET reserves those.
_PROGRESS_KEY = (
    (_progress.c.member_id == bindparam("key_member"))
    & (_progress.c.achievement_id == bindparam("key_achievement"))
    & (_progress.c.period == bindparam("key_period"))
)
_READ_PROGRESS = Statement(select(_progress.c.progress, _progress.c.level).where(_PROGRESS_KEY))
_ADD_PROGRESS = Statement(
    update(_progress)
    .where(_PROGRESS_KEY)
    .values(progress=_progress.c.progress + bindparam("by"), updated_at=bindparam("now"))
)
_SET_LEVEL = Statement(update(_progress).where(_PROGRESS_KEY).values(level=bindparam("new_level")))
_SPEND = Statement(
    update(tables.budgets)
    .where(
        tables.budgets.c.rule_id == bindparam("budget_rule"),
        tables.budgets.c.period == bindparam("budget_period"),
    )
    .values(
        count=tables.budgets.c.count + 1,
        points=tables.budgets.c.points + bindparam("spent"),
    )
)


def move_progress(
    conn: Connection, member_id: str, achievement_id: str, period: str, by: int, now: datetime
) -> tuple[int, int]:
    """Add ``by`` to a member's progress; the new progress and the level reached before."""
    key = {"key_member": member_id, "key_achievement": achievement_id, "key_period": period}
    row = _READ_PROGRESS.one_or_none(conn, key)
    if row is None:
        values = {
            "member_id": member_id,
            "achievement_id": achievement_id,
            "period": period,
            "progress": by,
            "level": 0,
            "updated_at": now,
        }
        insert_once(conn, _progress, values)
        return by, 0
    _ADD_PROGRESS.run(conn, {**key, "by": by, "now": now})
    return int(row.progress) + by, int(row.level)


def set_level(
    conn: Connection, member_id: str, achievement_id: str, period: str, level: int
) -> None:
    key = {"key_member": member_id, "key_achievement": achievement_id, "key_period": period}
    _SET_LEVEL.run(conn, {**key, "new_level": level})
