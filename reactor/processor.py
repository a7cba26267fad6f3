"""Processing one event: lock the member, evaluate, write effects and decisions, commit (I2, I3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    bindparam,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from reactor import tables
from reactor.context import EventFacts, MemberFacts
from reactor.db import unavailable_is_transient
from reactor.engine import Decision, evaluate
from reactor.errors import PermanentError, TransientError
from reactor.reversals import reverse
from reactor.rewards import Effects
from reactor.ruleset import RuleSet
from reactor.state import DatabaseState
from reactor.statements import Statement

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
        with unavailable_is_transient(), engine.begin() as conn:
            return process_stored(conn, rules, event_id, notify=notify)
    except IntegrityError as exc:
        # Only a racing writer can trip a unique key here; the retry will find the event done.
        raise TransientError(f"concurrent write: {exc.orig}") from exc


# Built once: constructing and compiling a statement per call cost more than running it.
_events = tables.events
_deletion = _events.alias("deletion")
_EVENT = Statement(
    select(
        # What processing reads; every column costs a little on every event.
        _events.c.id,
        _events.c.type,
        _events.c.member_id,
        _events.c.interaction_id,
        _events.c.payload,
        _events.c.status,
        _events.c.received_at,
        _events.c.occurred_at,
        _events.c.deleted_at,
        # Whether a deletion of the event's interaction was already processed (a tombstone: the
        # deletion arrived first), read with the event, under the same member lock, in one trip.
        # Found by its unique dedupe key: given the type and status to match instead, SQLite
        # (which keeps no statistics) chose the status index and scanned every processed event.
        exists()
        .where(
            _deletion.c.dedupe_key == literal("interaction.deleted ") + _events.c.interaction_id,
            _deletion.c.member_id == _events.c.member_id,
            _deletion.c.status == "processed",
        )
        .label("tombstoned"),
    ).where(_events.c.id == bindparam("event_id"))
)
_LOCK = (
    select(tables.members.c.id)
    .where(tables.members.c.id == bindparam("member_id"))
    .with_for_update()
)
_BALANCE = Statement(
    select(func.coalesce(func.sum(tables.ledger.c.points), 0).label("points")).where(
        tables.ledger.c.member_id == bindparam("member_id")
    )
)
_DONE = Statement(
    update(_events)
    .where(_events.c.id == bindparam("event_id"))
    .values(
        status="processed",
        processed_at=bindparam("done_at"),
        rules_version=bindparam("version"),
        error=None,
    )
)
_DELETED = Statement(
    update(_events).where(_events.c.id == bindparam("event_id")).values(deleted_at=bindparam("at"))
)
_PROGRESS = Statement(
    select(
        tables.achievement_progress.c.achievement_id,
        tables.achievement_progress.c.period,
        tables.achievement_progress.c.progress,
    ).where(tables.achievement_progress.c.member_id == bindparam("member_id"))
)
_DECISION_COLUMNS = (
    "event_id",
    "position",
    "rule_id",
    "rule_version",
    "outcome",
    "reason",
    "effects",
    "details",
)
_INSERT_DECISIONS = Statement(
    insert(tables.decisions).values({name: bindparam(name) for name in _DECISION_COLUMNS})
)
# One encoder: json.dumps with any option builds a new one per call, a few µs per decision.
_json = json.JSONEncoder(default=str).encode


def _encode(value: Any) -> str:
    # Most decisions are skips refuted by their condition: nothing to encode for those.
    if not value:
        return "[]" if type(value) is list else "{}"
    if type(value) is dict and len(value) == 1 and value.get("when") is False:
        return '{"when": false}'
    return _json(value)


def process_stored(
    conn: Connection, rules: RuleSet, event_id: str, *, notify: bool = False
) -> Processed:
    """``process_event`` inside the caller's transaction, which the caller commits."""
    row = _EVENT.one_or_none(conn, {"event_id": event_id})
    if row is None:
        return Processed("unknown")
    if row.status != "pending":
        return Processed(f"already_{row.status}")  # type: ignore[arg-type]
    # Log lines while the event is processed carry its member; leaving the block unbinds it.
    with structlog.contextvars.bound_contextvars(member_id=row.member_id):
        return _process(conn, rules, row, notify)


def _process(conn: Connection, rules: RuleSet, row: Any, notify: bool) -> Processed:
    event_id = row.id
    if conn.dialect.name != "sqlite":
        # Serialise the member's events (I3) with a row lock, then read again under it: another
        # worker may have finished this event meanwhile. SQLite's BEGIN IMMEDIATE already holds
        # the writer lock, so there the first read was under it.
        conn.execute(_LOCK, {"member_id": row.member_id}).one()
        row = _EVENT.one(conn, {"event_id": event_id})
        if row.status != "pending":
            return Processed(f"already_{row.status}")  # type: ignore[arg-type]
    event = _facts(row)
    now = datetime.now(UTC)
    effects = Effects(conn, rules, event, now, notify)
    interaction = row.interaction_id
    if (
        interaction is not None
        and event.type != "interaction.deleted"
        and (row.deleted_at is not None or row.tombstoned)
    ):
        # Deleted before it was processed (or before it arrived): it earns nothing.
        decisions = [
            Decision(rule.id, rule.version, "skipped", "deleted")
            for rule in rules.for_event(event.type)
        ]
        _DELETED.run(conn, {"event_id": event_id, "at": now})
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
    _DONE.run(conn, {"event_id": event_id, "done_at": now, "version": rules.version})
    return Processed(
        "processed",
        row.member_id,
        tuple(decisions),
        tuple(effects.notifications),
        event.occurred_at,
    )


def _achievements(conn: Connection, member_id: str) -> dict[str, dict[str, int]]:
    """The member's achievement progress, by achievement and period."""
    rows = _PROGRESS.rows(conn, {"member_id": member_id})
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
    return int(_BALANCE.one(conn, {"member_id": member_id}).points)


def _write_decisions(conn: Connection, event: EventFacts, decisions: list[Decision]) -> None:
    if not decisions:
        return
    _INSERT_DECISIONS.run_many(
        conn,
        [
            {
                "event_id": event.id,
                "position": position,
                "rule_id": d.rule_id,
                "rule_version": d.rule_version,
                "outcome": d.outcome,
                "reason": d.reason,
                "effects": _encode(d.effects()),
                "details": _encode(d.details),
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
