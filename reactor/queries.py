"""Read models for the HTTP API and the CLI: events with decisions, members, the ledger.

The read side: it reads the tables the write side (inbox, processor) fills, and imports
nothing of it; what both need of a member is in ``reactor.members``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, select

from reactor.members import Progress, balance, member_exists, progress
from reactor.periods import period_key
from reactor.rules import Achievement, RuleSet
from reactor.storage import Statement, reader, tables


def event_view(engine: Engine, event_id: str) -> dict[str, Any] | None:
    """``GET /events/{id}``: status and decision record, or None for an unknown event."""
    events, decisions = tables.events, tables.decisions
    with reader(engine).connect() as conn:
        row = conn.execute(select(events).where(events.c.id == event_id)).one_or_none()
        if row is None:
            return None
        rows = conn.execute(
            select(decisions).where(decisions.c.event_id == event_id).order_by(decisions.c.position)
        ).all()
    return {
        "id": row.id,
        "type": row.type,
        "member_id": row.member_id,
        "status": row.status,
        "error": row.error,
        "received_at": row.received_at.isoformat(),
        "occurred_at": row.occurred_at.isoformat(),
        "processed_at": row.processed_at.isoformat() if row.processed_at else None,
        "rules_version": row.rules_version,
        "decisions": record(rows, row.skipped),
    }


def record(rows: Sequence[Any], skipped: str | None) -> list[dict[str, Any]]:
    """The whole decision record of an event, in order, from its ``decisions`` rows and its
    compact ``skipped`` array: ``[position, rule_id, rule_version, reason, values]`` for each
    skip, as ``decisions.write_decisions`` writes it."""
    found = [
        (
            d.position,
            {
                "rule_id": d.rule_id,
                "rule_version": d.rule_version,
                "outcome": d.outcome,
                "reason": d.reason,
                "effects": json.loads(d.effects),
                "values": json.loads(d.details),
            },
        )
        for d in rows
    ]
    for position, rule_id, version, reason, details in json.loads(skipped) if skipped else ():
        found.append(
            (
                position,
                {
                    "rule_id": rule_id,
                    "rule_version": version,
                    "outcome": "skipped",
                    "reason": reason,
                    "effects": [],
                    "values": details,
                },
            )
        )
    return [decision for _, decision in sorted(found, key=lambda pair: pair[0])]


def member_view(
    engine: Engine, member_id: str, rules: RuleSet, now: datetime
) -> dict[str, Any] | None:
    """``GET /members/{id}``: balance, achievements in their current period, benefits."""
    params = {"member_id": member_id}
    with reader(engine).begin() as conn:
        if not member_exists(conn, member_id):
            return None
        points = balance(conn, member_id)
        progress_rows = progress(conn, member_id)
        benefit_rows = _BENEFITS.rows(conn, params)
    return {
        "id": member_id,
        "points": points,
        "achievements": _achievements(progress_rows, rules, now),
        "benefits": [_benefit(row, rules, now) for row in benefit_rows],
    }


def _achievements(rows: Sequence[Progress], rules: RuleSet, now: datetime) -> list[dict[str, Any]]:
    shown = []
    for row in rows:
        achievement = rules.achievements.get(row.achievement_id)
        if achievement is None:
            continue  # removed from the rules; its history stays in the database
        # A recurring challenge shows its current period only: last month's progress is over.
        if row.period != period_key(now, achievement.period, achievement.timezone):
            continue
        progress = int(row.progress)
        level = int(row.level)
        shown.append(
            {
                "id": achievement.id,
                "name": achievement.name,
                "period": row.period,
                "progress": progress,
                "level": achievement.levels[level - 1].name if level else None,
                "level_number": level,
                "next_level_at": achievement.next_level_at(max(progress, _at(achievement, level))),
            }
        )
    return sorted(shown, key=lambda a: a["id"])


def _at(achievement: Achievement, level: int) -> int:
    # After a reversal progress can sit below a level already reached; the next one is above it.
    return achievement.levels[level - 1].at if level else 0


def _benefit(row: Any, rules: RuleSet, now: datetime) -> dict[str, Any]:
    if row.revoked_at is not None:
        status = "revoked"
    elif row.expires_at is not None and row.expires_at <= now:
        status = "expired"
    else:
        status = "active"
    offer = rules.benefits.get(row.benefit_id)
    return {
        "id": row.id,
        "benefit": row.benefit_id,
        "name": offer.name if offer else row.benefit_id,
        "issued_at": row.issued_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "status": status,
    }


def ledger_page(
    engine: Engine, member_id: str, after: int | None, limit: int
) -> dict[str, Any] | None:
    """``GET /members/{id}/ledger``: entries oldest first; ``next`` is the cursor for more."""
    ledger = tables.ledger
    query = select(ledger).where(ledger.c.member_id == member_id)
    if after is not None:
        query = query.where(ledger.c.id > after)
    with reader(engine).connect() as conn:
        if not member_exists(conn, member_id):
            return None
        rows = conn.execute(query.order_by(ledger.c.id).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "entries": [
            {
                "id": r.id,
                "points": r.points,
                "kind": r.kind,
                "reverses": r.reverses_id,
                "rule_id": r.rule_id,
                "rule_version": r.rule_version,
                "event_id": r.event_id,
                "created_at": r.created_at.isoformat(),
            }
            for r in page
        ],
        "next": str(page[-1].id) if len(rows) > limit else None,
    }


# Prebuilt: `reactor simulate` reads every member at the end (see reactor.storage.statements).
_BENEFITS = Statement(
    select(tables.benefits_issued)
    .where(tables.benefits_issued.c.member_id == bindparam("member_id"))
    .order_by(tables.benefits_issued.c.issued_at, tables.benefits_issued.c.id)
)
