"""``interaction.deleted``: take back what an interaction earned, exactly once (I2, I8).

Points get reversal entries pointing at the originals, benefits are revoked and achievement
steps are taken back — unless the rule says ``on_revoke: keep``. Levels already reached stay
reached, with their rewards, as in Omneo. A deletion that arrives before its creation leaves
the deletion itself as a tombstone: the late creation earns nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from reactor import tables
from reactor.engine import Decision
from reactor.inserts import insert_once
from reactor.periods import period_key
from reactor.rewards import Effects, move_progress

#: Decisions of this pseudo-rule record what a deletion reversed (rule ids cannot contain '.').
REVERSAL = "reactor.reversal"


def reverse(effects: Effects, interaction_id: str) -> Decision:
    """Reverse every effect the member's events for ``interaction_id`` had; one decision."""
    conn, event = effects.conn, effects.event
    events = tables.events
    # Found by the interaction alone, the member checked here: given the member too, SQLite
    # (which keeps no statistics) chose the member's index and read all of their events.
    found = [
        (row.id, row.occurred_at)
        for row in conn.execute(
            select(events.c.id, events.c.occurred_at, events.c.member_id).where(
                events.c.interaction_id == interaction_id,
                events.c.type != "interaction.deleted",
            )
        )
        if row.member_id == event.member_id
    ]
    originals = [original for original, _ in found]
    conn.execute(
        update(events)
        .where(events.c.id.in_(originals), events.c.deleted_at.is_(None))
        .values(deleted_at=effects.now)
    )
    reversed_: list[dict[str, Any]] = []
    for original, occurred in found:
        points = _points(effects, original)
        _refund_budgets(effects, points, occurred)
        reversed_ += points
        reversed_ += _benefits(effects, original)
        reversed_ += _steps(effects, original)
    return Decision(
        REVERSAL,
        "-",
        "fired" if reversed_ else "skipped",
        "interaction_deleted" if reversed_ else "nothing_to_reverse",
        details={
            "interaction_id": interaction_id,
            "events": list(originals),
            "reversed": reversed_,
        },
    )


def _kept(effects: Effects, rule_id: str) -> bool:
    """Level rewards are never taken back; rules keep what they award with on_revoke: keep."""
    if rule_id.startswith("achievement:"):
        return True
    rule = effects.rules.rule(rule_id)
    return rule is not None and rule.on_revoke == "keep"


def _points(effects: Effects, original: str) -> list[dict[str, Any]]:
    ledger = tables.ledger
    done = []
    awards = effects.conn.execute(
        select(ledger).where(ledger.c.event_id == original, ledger.c.kind == "award")
    ).all()
    for award in awards:
        if _kept(effects, award.rule_id):
            continue
        entry = insert_once(
            effects.conn,
            ledger,
            {
                "member_id": award.member_id,
                "points": -award.points,
                "kind": "reversal",
                "rule_id": award.rule_id,
                "rule_version": award.rule_version,
                # The original's event and effect: a second deletion finds the unique key taken.
                "event_id": original,
                "effect_index": award.effect_index,
                "reverses_id": award.id,
                "created_at": effects.now,
            },
        )
        if entry is not None:
            done.append({"points": -award.points, "reverses": award.id, "rule_id": award.rule_id})
            effects.tell(
                "points.reversed",
                f"{original} {award.rule_id} {award.effect_index}",
                entry_id=entry,
                reverses=award.id,
                points=-award.points,
                rule_id=award.rule_id,
            )
    return done


def _refund_budgets(effects: Effects, reversed_: list[dict[str, Any]], occurred: datetime) -> None:
    """Give a budget back what it paid for a reversed award: budgets count what members hold."""
    refunds: dict[str, int] = {}
    for entry in reversed_:
        refunds[entry["rule_id"]] = refunds.get(entry["rule_id"], 0) + entry["points"]
    for rule_id, points in refunds.items():
        rule = effects.rules.rule(rule_id)
        if rule is None or rule.budget is None:
            continue
        period = period_key(occurred, rule.budget.per, rule.timezone)
        effects.conn.execute(
            update(tables.budgets)
            .where(tables.budgets.c.rule_id == rule_id, tables.budgets.c.period == period)
            .values(count=tables.budgets.c.count - 1, points=tables.budgets.c.points + points)
        )


def _benefits(effects: Effects, original: str) -> list[dict[str, Any]]:
    issued = tables.benefits_issued
    done = []
    rows = effects.conn.execute(
        select(issued).where(issued.c.event_id == original, issued.c.revoked_at.is_(None))
    ).all()
    for row in rows:
        if _kept(effects, row.rule_id):
            continue
        effects.conn.execute(
            update(issued).where(issued.c.id == row.id).values(revoked_at=effects.now)
        )
        done.append({"benefit": row.benefit_id, "revoked": row.id})
        effects.tell("benefit.revoked", row.id, id=row.id, benefit=row.benefit_id)
    return done


def _steps(effects: Effects, original: str) -> list[dict[str, Any]]:
    steps = tables.achievement_steps
    done = []
    rows = effects.conn.execute(
        select(steps).where(steps.c.event_id == original, steps.c.kind == "step")
    ).all()
    for row in rows:
        if _kept(effects, row.rule_id):
            continue
        taken = insert_once(
            effects.conn,
            steps,
            {
                "member_id": row.member_id,
                "achievement_id": row.achievement_id,
                "period": row.period,
                "amount": -row.amount,
                "kind": "reversal",
                "event_id": original,
                "rule_id": row.rule_id,
                "effect_index": row.effect_index,
                "created_at": effects.now,
            },
        )
        if taken is None:
            continue
        # Progress goes back; the level reached stays reached (and keeps its rewards).
        progress, _ = move_progress(
            effects.conn, row.member_id, row.achievement_id, row.period, -row.amount, effects.now
        )
        done.append({"achievement": row.achievement_id, "by": -row.amount})
        effects.tell(
            "achievement.progressed",
            f"{original} {row.rule_id} {row.effect_index} reversal",
            achievement=row.achievement_id,
            period=row.period,
            by=-row.amount,
            progress=progress,
        )
    return done
