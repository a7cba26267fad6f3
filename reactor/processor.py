"""Processing one event: lock the member, evaluate, write effects and decisions, commit (I2, I3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from reactor import tables
from reactor.context import EventFacts, MemberFacts
from reactor.db import unavailable_is_transient
from reactor.engine import Decision, evaluate
from reactor.errors import PermanentError, TransientError
from reactor.reversals import is_tombstoned, reverse
from reactor.rewards import Effects
from reactor.ruleset import RuleSet
from reactor.state import DatabaseState

log = structlog.get_logger(__name__)

Result = Literal["processed", "already_processed", "already_failed", "unknown"]


@dataclass(frozen=True)
class Processed:
    """The result of one processing attempt."""

    result: Result
    member_id: str | None = None
    decisions: tuple[Decision, ...] = ()
    #: Outbox notifications the event's effects wrote, to deliver now that it is committed.
    notifications: tuple[str, ...] = ()
    occurred_at: datetime | None = None


def process_event(
    engine: Engine, rules: RuleSet, event_id: str, *, notify: bool = False
) -> Processed:
    """Apply the rules to one stored event, exactly once, in one transaction.

    A redelivered, retried or concurrently delivered event finds the event no longer pending
    once it holds the member's lock and does nothing. Raises ``TransientError`` when trying
    again may help and ``PermanentError`` when it cannot.
    """
    try:
        # _process binds the member id once it knows it; leaving this block unbinds it.
        with (
            unavailable_is_transient(),
            structlog.contextvars.bound_contextvars(member_id=None),
            engine.begin() as conn,
        ):
            return _process(conn, rules, event_id, notify)
    except IntegrityError as exc:
        # Only a racing writer can trip a unique key here; the retry will find the event done.
        raise TransientError(f"concurrent write: {exc.orig}") from exc


# Built once: constructing and compiling a statement per call cost more than running it.
_events = tables.events
_EVENT = select(_events).where(_events.c.id == bindparam("event_id"))
_LOCK = (
    select(tables.members.c.id)
    .where(tables.members.c.id == bindparam("member_id"))
    .with_for_update()
)
_BALANCE = select(func.coalesce(func.sum(tables.ledger.c.points), 0)).where(
    tables.ledger.c.member_id == bindparam("member_id")
)
_DONE = (
    update(_events)
    .where(_events.c.id == bindparam("event_id"))
    .values(
        status="processed",
        processed_at=bindparam("done_at"),
        rules_version=bindparam("version"),
        error=None,
    )
)
_DELETED = (
    update(_events).where(_events.c.id == bindparam("event_id")).values(deleted_at=bindparam("at"))
)
_PROGRESS = select(
    tables.achievement_progress.c.achievement_id,
    tables.achievement_progress.c.period,
    tables.achievement_progress.c.progress,
).where(tables.achievement_progress.c.member_id == bindparam("member_id"))
_INSERT_DECISIONS = insert(tables.decisions)


def _process(conn: Connection, rules: RuleSet, event_id: str, notify: bool) -> Processed:
    row = conn.execute(_EVENT, {"event_id": event_id}).one_or_none()
    if row is None:
        return Processed("unknown")
    if row.status != "pending":
        return Processed(f"already_{row.status}")  # type: ignore[arg-type]
    structlog.contextvars.bind_contextvars(member_id=row.member_id)
    if conn.dialect.name != "sqlite":
        # Serialise the member's events (I3) with a row lock, then read again under it: another
        # worker may have finished this event meanwhile. SQLite's BEGIN IMMEDIATE already holds
        # the writer lock, so there the first read was under it.
        conn.execute(_LOCK, {"member_id": row.member_id}).one()
        row = conn.execute(_EVENT, {"event_id": event_id}).one()
        if row.status != "pending":
            return Processed(f"already_{row.status}")  # type: ignore[arg-type]
    event = _facts(row)
    now = datetime.now(UTC)
    effects = Effects(conn, rules, event, now, notify)
    interaction = row.interaction_id
    if (
        interaction is not None
        and event.type != "interaction.deleted"
        and (row.deleted_at is not None or is_tombstoned(conn, row.member_id, interaction))
    ):
        # Deleted before it was processed (or before it arrived): it earns nothing.
        decisions = [
            Decision(rule.id, rule.version, "skipped", "deleted")
            for rule in rules.for_event(event.type)
        ]
        conn.execute(_DELETED, {"event_id": event_id, "at": now})
    else:
        # The balance and achievements are read only when an expression will look at them.
        reads = rules.reads_member(event.type)
        member = MemberFacts(
            id=row.member_id,
            points=balance(conn, row.member_id) if reads else 0,
            achievements=_achievements(conn, row.member_id) if reads else {},
        )
        decisions = evaluate(rules, event, member, DatabaseState(conn, event))
        effects.apply(decisions)
        if event.type == "interaction.deleted" and interaction is not None:
            decisions.append(reverse(effects, interaction))
    _write_decisions(conn, event, decisions)
    conn.execute(_DONE, {"event_id": event_id, "done_at": now, "version": rules.version})
    return Processed(
        "processed",
        row.member_id,
        tuple(decisions),
        tuple(effects.notifications),
        event.occurred_at,
    )


def _achievements(conn: Connection, member_id: str) -> dict[str, dict[str, int]]:
    """The member's achievement progress, by achievement and period."""
    rows = conn.execute(_PROGRESS, {"member_id": member_id}).all()
    found: dict[str, dict[str, int]] = {}
    for row in rows:
        found.setdefault(row.achievement_id, {})[row.period] = int(row.progress)
    return found


def _facts(row: Row[Any]) -> EventFacts:
    try:
        document = json.loads(row.payload)
        data = document["data"]
        created_at = document.get("created_at")
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentError(f"stored payload is unreadable: {exc}") from exc
    return EventFacts(
        id=row.id,
        type=row.type,
        member_id=row.member_id,
        data=data,
        created_at=created_at,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
    )


def balance(conn: Connection, member_id: str) -> int:
    """A member's points: always the sum of their ledger (I8)."""
    return int(conn.execute(_BALANCE, {"member_id": member_id}).scalar_one())


def _write_decisions(conn: Connection, event: EventFacts, decisions: list[Decision]) -> None:
    if not decisions:
        return
    conn.execute(
        _INSERT_DECISIONS,
        [
            {
                "event_id": event.id,
                "position": position,
                "rule_id": d.rule_id,
                "rule_version": d.rule_version,
                "outcome": d.outcome,
                "reason": d.reason,
                "effects": json.dumps(d.effects()),
                "details": json.dumps(d.details, default=str),
            }
            for position, d in enumerate(decisions)
        ],
    )


def mark_failed(engine: Engine, event_id: str, reason: str) -> None:
    """Park an event that can never be processed, with the reason, instead of retrying forever."""
    with engine.begin() as conn:
        conn.execute(
            update(tables.events)
            .where(tables.events.c.id == event_id, tables.events.c.status == "pending")
            .values(status="failed", error=reason[:2000], processed_at=datetime.now(UTC))
        )
