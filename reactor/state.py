"""The engine's ``State`` answered from the database, inside the event's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, CursorResult, Executable, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from reactor import tables
from reactor.context import EventFacts
from reactor.db import is_unavailable
from reactor.engine import Usage
from reactor.errors import PermanentError, TransientError
from reactor.history import Past


class DatabaseState:
    """History, limit usage and budgets for one member and one event.

    Every query is bounded by the member (or, for budgets, one row), so its cost does not grow
    with other members' events.
    """

    def __init__(self, conn: Connection, event: EventFacts) -> None:
        self.conn = conn
        self.event = event

    def history(self, types: frozenset[str], since: datetime | None) -> Sequence[Past]:
        """Seen events: processed ones by event time, plus the current one; deleted excluded."""
        events = tables.events
        query = (
            select(events.c.id, events.c.type, events.c.occurred_at, events.c.payload)
            .where(
                events.c.member_id == self.event.member_id,
                events.c.type.in_(sorted(types)),
                events.c.occurred_at <= self.event.occurred_at,
                events.c.deleted_at.is_(None),
                or_(events.c.status == "processed", events.c.id == self.event.id),
            )
            .order_by(events.c.occurred_at, events.c.id)
        )
        if since is not None:
            query = query.where(events.c.occurred_at >= since)
        rows = self._run(query).all()
        return [Past(row.id, row.type, row.occurred_at, _data(row.id, row.payload)) for row in rows]

    def member_usage(self, rule_id: str, start: datetime, end: datetime) -> Usage:
        """Times ``rule_id`` fired for this member and points it gave, by event time."""
        events, decisions, ledger = tables.events, tables.decisions, tables.ledger
        in_period = and_(
            events.c.member_id == self.event.member_id,
            events.c.occurred_at >= start,
            events.c.occurred_at < end,
        )
        fired = self._run(
            select(func.count())
            .select_from(decisions.join(events, events.c.id == decisions.c.event_id))
            .where(in_period, decisions.c.rule_id == rule_id, decisions.c.outcome == "fired")
        ).scalar_one()
        points = self._run(
            select(func.coalesce(func.sum(ledger.c.points), 0))
            .select_from(ledger.join(events, events.c.id == ledger.c.event_id))
            .where(
                in_period, ledger.c.member_id == self.event.member_id, ledger.c.rule_id == rule_id
            )
        ).scalar_one()
        return Usage(int(fired), int(points))

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        """The budget's row, locked until this transaction ends so no other worker overspends."""
        budgets = tables.budgets
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        self._run(
            dialect.insert(budgets)
            .values(rule_id=rule_id, period=period, count=0, points=0)
            .on_conflict_do_nothing()
        )
        row = self._run(
            select(budgets.c.count.label("times"), budgets.c.points)
            .where(budgets.c.rule_id == rule_id, budgets.c.period == period)
            .with_for_update()
        ).one()
        return Usage(int(row.times), int(row.points))

    def _run(self, statement: Executable) -> CursorResult[Any]:
        # Called from inside expression evaluation: a database failure must reach the worker
        # as retryable, not be recorded as the rule's own error.
        try:
            return self.conn.execute(statement)
        except DBAPIError as exc:
            if is_unavailable(exc):
                raise TransientError(f"database unavailable: {exc.orig}") from exc
            raise PermanentError(f"history query failed: {exc.orig}") from exc


def _data(event_id: str, payload: str) -> dict[str, object]:
    try:
        data = json.loads(payload)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"stored payload of {event_id} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise PermanentError(f"stored payload of {event_id} has no data object")
    return data
