"""Read models for the HTTP API and the CLI: events with decisions, members, the ledger."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, Engine, select

from reactor import tables
from reactor.db import reader
from reactor.processor import balance


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
        "decisions": [
            {
                "rule_id": d.rule_id,
                "rule_version": d.rule_version,
                "outcome": d.outcome,
                "reason": d.reason,
                "effects": json.loads(d.effects),
                "values": json.loads(d.details),
            }
            for d in rows
        ],
    }


def member_view(engine: Engine, member_id: str) -> dict[str, Any] | None:
    """``GET /members/{id}``: the balance (achievements and benefits arrive with rewards)."""
    with reader(engine).connect() as conn:
        if not _member_exists(conn, member_id):
            return None
        points = balance(conn, member_id)
    return {"id": member_id, "points": points, "achievements": [], "benefits": []}


def ledger_page(
    engine: Engine, member_id: str, after: int | None, limit: int
) -> dict[str, Any] | None:
    """``GET /members/{id}/ledger``: entries oldest first; ``next`` is the cursor for more."""
    ledger = tables.ledger
    query = select(ledger).where(ledger.c.member_id == member_id)
    if after is not None:
        query = query.where(ledger.c.id > after)
    with reader(engine).connect() as conn:
        if not _member_exists(conn, member_id):
            return None
        rows = conn.execute(query.order_by(ledger.c.id).limit(limit + 1)).all()
    page = rows[:limit]
    return {
        "entries": [
            {
                "id": r.id,
                "points": r.points,
                "kind": r.kind,
                "rule_id": r.rule_id,
                "rule_version": r.rule_version,
                "event_id": r.event_id,
                "created_at": r.created_at.isoformat(),
            }
            for r in page
        ],
        "next": str(page[-1].id) if len(rows) > limit else None,
    }


def _member_exists(conn: Connection, member_id: str) -> bool:
    query = select(tables.members.c.id).where(tables.members.c.id == member_id)
    return conn.execute(query).one_or_none() is not None
