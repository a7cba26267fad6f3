"""The engine's ``State`` answered from the database, inside the event's transaction."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Select, and_, bindparam, func, literal, or_, select
from sqlalchemy.exc import DBAPIError

from reactor import caps
from reactor.caps import Usage
from reactor.errors import PermanentError
from reactor.facts import EventFacts
from reactor.history import Past
from reactor.rules import Rule
from reactor.storage import Statement, tables, unavailable_is_transient

_events, _decisions, _ledger = tables.events, tables.decisions, tables.ledger
_T = TypeVar("_T")


class _Seen(NamedTuple):
    id: str
    type: str
    occurred_at: datetime
    payload: str


class _Used(NamedTuple):
    fired: int
    given: int


def _history(one_type: bool, since: bool) -> Select[Any]:
    # An expanding IN is rendered again for every execution; most calls want one type.
    of_type = (
        _events.c.type == bindparam("type")
        if one_type
        else _events.c.type.in_(bindparam("types", expanding=True))
    )
    statement = (
        select(_events.c.id, _events.c.type, _events.c.occurred_at, _events.c.payload)
        .where(
            _events.c.member_id == bindparam("member_id"),
            of_type,
            _events.c.occurred_at <= bindparam("until"),
            _events.c.deleted_at.is_(None),
            or_(_events.c.status == tables.PROCESSED, _events.c.id == bindparam("event_id")),
        )
        .order_by(_events.c.occurred_at, _events.c.id)
    )
    return statement.where(_events.c.occurred_at >= bindparam("since")) if since else statement


# Prebuilt (see reactor.storage.statements): these run for nearly every event.
_HISTORY = {
    (one, since): Statement(_history(one, since), _Seen)
    for one in (True, False)
    for since in (True, False)
}
_IN_PERIOD = and_(
    _events.c.occurred_at >= bindparam("start"),
    _events.c.occurred_at < bindparam("end"),
)
_FIRED = (
    select(func.count())
    .select_from(_decisions.join(_events, _events.c.id == _decisions.c.event_id))
    .where(
        # From the member's events in the period (an index), to their decisions.
        _events.c.member_id == bindparam("member_id"),
        _IN_PERIOD,
        _decisions.c.rule_id == bindparam("rule_id"),
        _decisions.c.outcome == "fired",
        # Caps count what the member still holds: a reversed award frees its place.
        or_(_events.c.deleted_at.is_(None), bindparam("kept")),
    )
)
_GIVEN = (
    select(func.coalesce(func.sum(_ledger.c.points), 0))
    .select_from(_ledger.join(_events, _events.c.id == _ledger.c.event_id))
    .where(
        # From the member's entries for the rule (an index), to their events: a member's
        # ledger rows are for their own events, so the member is not asked of the events.
        _ledger.c.member_id == bindparam("member_id"),
        _ledger.c.rule_id == bindparam("rule_id"),
        _IN_PERIOD,
    )
)


def _usage(count: bool, points: bool) -> Statement[_Used]:
    """What a limit caps, in one trip: times fired, points given, or both (the other is 0)."""
    fired = _FIRED.scalar_subquery() if count else literal(0)
    given = _GIVEN.scalar_subquery() if points else literal(0)
    return Statement(select(fired.label("fired"), given.label("given")), _Used)


_USAGE = {capped: _usage(*capped) for capped in ((True, False), (False, True), (True, True))}


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
        params: dict[str, Any] = {
            "member_id": self.event.member_id,
            "until": self.event.occurred_at,
            "event_id": self.event.id,
        }
        if since is not None:
            params["since"] = since
        if len(types) == 1:
            (params["type"],) = types
        else:
            params["types"] = sorted(types)
        rows = self._ask(_HISTORY[len(types) == 1, since is not None].rows, params)
        return [Past(row.id, row.type, row.occurred_at, _data(row.id, row.payload)) for row in rows]

    def member_usage(self, rule: Rule, start: datetime, end: datetime) -> Usage:
        """Times ``rule`` fired for this member and points it gave (net of reversals), by
        event time. Firings for deleted interactions count only if the rule keeps them. Only
        what the rule's limit caps is counted; the other is 0."""
        assert rule.limit is not None, "member_usage is asked for rules with a limit"
        capped = (rule.limit.count is not None, rule.limit.points is not None)
        params = {
            "member_id": self.event.member_id,
            "start": start,
            "end": end,
            "rule_id": rule.id,
            "kept": rule.on_revoke == "keep",
        }
        row = self._ask(_USAGE[capped].one, params)
        return Usage(int(row.fired), int(row.given))

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        """The budget's row, locked until this transaction ends so no other worker overspends."""
        key = {"rule_id": rule_id, "period": period}
        return self._ask(lambda conn, params: caps.budget_usage(conn, **params), key)

    def _ask(self, query: Callable[[Connection, dict[str, Any]], _T], params: dict[str, Any]) -> _T:
        # Called from inside expression evaluation: a database failure must reach the worker
        # as retryable, not be recorded as the rule's own error.
        try:
            with unavailable_is_transient():
                return query(self.conn, params)
        except DBAPIError as exc:
            raise PermanentError(f"history query failed: {exc.orig}") from exc


@lru_cache(maxsize=100_000)
def _data(event_id: str, payload: str) -> dict[str, object]:
    """The event's data, parsed once per process: a stored payload never changes, and history
    reads the same events again for every later event of the member. Read-only by contract:
    history functions only read it (expressions see frozen copies)."""
    try:
        data = json.loads(payload)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"stored payload of {event_id} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise PermanentError(f"stored payload of {event_id} has no data object")
    return data
