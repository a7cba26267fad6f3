"""The durable inbox (I1): an event is committed, deduplicated, before the receiver says 2xx."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Engine, bindparam, select

from reactor.envelope import Envelope, MemberRef, occurred_at
from reactor.errors import InputError
from reactor.members import member_exists
from reactor.storage import insert_many_once, insert_once, savepoint, tables
from reactor.strictjson import canonical_json


@dataclass(frozen=True)
class Receipt:
    """What the inbox did with one envelope."""

    event_id: str
    status: Literal["accepted", "duplicate"]

    @property
    def is_new(self) -> bool:
        return self.status == "accepted"


def accept(
    engine: Engine, envelope: Envelope, member: MemberRef, document: object, received_at: datetime
) -> Receipt:
    """Store the event as pending, or recognise it as a duplicate; one transaction either way.

    Raises ``InputError`` (409) when the id was seen with a different body; nothing is written.
    """
    try:
        with engine.begin() as conn:
            return store(conn, envelope, member, document, received_at)
    except Duplicate as seen:
        return seen.receipt


@dataclass(frozen=True)
class Delivery:
    """One validated webhook waiting to be stored with others (see ``accept_many``)."""

    envelope: Envelope
    member: MemberRef
    #: The canonical JSON of the body, as stored.
    payload: str
    received_at: datetime

    @classmethod
    def of(
        cls, envelope: Envelope, member: MemberRef, document: object, received_at: datetime
    ) -> Delivery:
        return cls(envelope, member, canonical_json(document), received_at)


Answer = Receipt | InputError


def accept_many(engine: Engine, deliveries: Sequence[Delivery]) -> list[Answer]:
    """Store many deliveries in one transaction and one commit (group commit, I1): for each,
    in order, its receipt, or the ``InputError`` (409) to answer it with.

    Nothing is stored if the commit fails: the exception reaches the caller, which answers every
    delivery of the batch with it. Deduplication is as for ``accept``, against the inbox and
    within the batch. The common case takes a few statements for the whole batch; when a
    concurrent writer stored one of the same events meanwhile, the batch is stored again one
    delivery at a time, each under a savepoint.
    """
    try:
        with engine.begin() as conn:
            return _store_together(conn, deliveries)
    except _Raced:
        with engine.begin() as conn:
            return [_store_alone(conn, delivery) for delivery in deliveries]


class _Raced(Exception):
    """A multi-row insert met a row that was not there when the batch looked."""


def _store_alone(conn: Connection, delivery: Delivery) -> Answer:
    try:
        with savepoint(conn):
            return _insert(
                conn, delivery.envelope, delivery.member, delivery.received_at, delivery.payload
            )
    except Duplicate as seen:
        return seen.receipt
    except InputError as conflict:
        return conflict


def _store_together(conn: Connection, deliveries: Sequence[Delivery]) -> list[Answer]:
    rows = [_row(d.envelope, d.member, d.received_at, d.payload) for d in deliveries]
    answers: list[Answer | None] = [None] * len(rows)
    seen = _seen(conn, rows)
    first_of_id: dict[str, dict[str, Any]] = {}
    first_of_key: set[str] = set()
    new: list[tuple[int, dict[str, Any]]] = []
    for i, row in enumerate(rows):
        event_id, key = row["id"], row["dedupe_key"]
        earlier = first_of_id.get(event_id)
        body_hash = seen.hashes.get(event_id, earlier["body_hash"] if earlier else None)
        if body_hash is not None:
            answers[i] = (
                Receipt(event_id, "duplicate")
                if body_hash == row["body_hash"]
                else _reused(event_id)
            )
        elif key is not None and (key in seen.keys or key in first_of_key):
            answers[i] = Receipt(event_id, "duplicate")
        else:
            first_of_id[event_id] = row
            if key is not None:
                first_of_key.add(key)
            new.append((i, row))
    # In id order: two receivers storing the same events at once then wait for each other in
    # the same order rather than deadlock.
    new.sort(key=lambda pair: pair[1]["id"])
    _with_members(conn, [(deliveries[i], row) for i, row in new])
    stored = _insert_many(conn, [row for _, row in new])
    if len(stored) != len(new):
        raise _Raced()  # rolls the whole batch back; ``accept_many`` stores it one by one
    for i, row in new:
        answers[i] = Receipt(row["id"], "accepted")
    return [answer for answer in answers if answer is not None]


@dataclass(frozen=True)
class _Seen:
    hashes: dict[str, str]
    keys: set[str]


def _seen(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> _Seen:
    """What the inbox already holds of these ids and dedupe keys: two reads for the batch."""
    events = tables.events
    ids = sorted({row["id"] for row in rows})
    hashes = {
        r.id: r.body_hash
        for r in conn.execute(select(events.c.id, events.c.body_hash).where(events.c.id.in_(ids)))
    }
    wanted = sorted({row["dedupe_key"] for row in rows if row["dedupe_key"] is not None})
    keys: set[str] = set()
    if wanted:
        keys = set(
            conn.execute(
                select(events.c.dedupe_key).where(events.c.dedupe_key.in_(wanted))
            ).scalars()
        )
    return _Seen(hashes, keys)


def _with_members(conn: Connection, new: Sequence[tuple[Delivery, dict[str, Any]]]) -> None:
    """Give each new row its member id, creating the members that are new, in a few statements
    (profile ids) or one by one (identities, which need a lookup)."""
    first_seen: dict[str, datetime] = {}
    for delivery, row in new:
        if delivery.member.profile_id is not None and delivery.member.identity is None:
            first_seen.setdefault(delivery.member.profile_id, row["received_at"])
    if first_seen:
        members = tables.members
        wanted = sorted(first_seen)
        known = set(conn.execute(select(members.c.id).where(members.c.id.in_(wanted))).scalars())
        missing = [{"id": m, "created_at": first_seen[m]} for m in wanted if m not in known]
        insert_many_once(conn, members, missing)
    for delivery, row in new:
        if delivery.member.profile_id is not None and delivery.member.identity is None:
            row["member_id"] = delivery.member.profile_id
        else:
            row["member_id"] = resolve_member(conn, delivery.member, row["received_at"])


def _insert_many(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """One multi-row ``INSERT … ON CONFLICT DO NOTHING``: the ids it stored."""
    stored = insert_many_once(conn, tables.events, rows)
    return {event_id for event_id in stored if event_id is not None}


def _reused(event_id: str) -> InputError:
    return InputError(
        409,
        "conflict",
        f"event {event_id!r} was already received with a different body",
        [{"loc": ["id"], "msg": "id reused for a different event"}],
    )


class Duplicate(Exception):
    """Raised by ``store`` for an event already in the inbox; it must roll back its transaction
    (which undoes a member the duplicate would have created)."""

    def __init__(self, receipt: Receipt) -> None:
        self.receipt = receipt


def store(
    conn: Connection, envelope: Envelope, member: MemberRef, document: object, received_at: datetime
) -> Receipt:
    """``accept`` inside the caller's transaction, which the caller commits (or, on
    ``Duplicate`` or ``InputError``, rolls back)."""
    return _insert(conn, envelope, member, received_at, canonical_json(document))


def _insert(
    conn: Connection,
    envelope: Envelope,
    member: MemberRef,
    received_at: datetime,
    payload: str,
) -> Receipt:
    # Insert first: the common case is a new event, and a conflict is then the one check.
    # Under Postgres a racing delivery of the same id waits here for the first to commit.
    values = _row(envelope, member, received_at, payload)
    values["member_id"] = resolve_member(conn, member, received_at)
    if insert_once(conn, tables.events, values) is not None:
        return Receipt(envelope.id, "accepted")
    found = _existing(conn, envelope.id, values["dedupe_key"], values["body_hash"])  # 409 raises
    assert found is not None, "an insert conflicted with a row that is not there"
    raise Duplicate(found)


def _row(
    envelope: Envelope, member: MemberRef, received_at: datetime, payload: str
) -> dict[str, Any]:
    """The event's row, but for its member id."""
    interaction_id = envelope.data.get("id") if envelope.is_interaction else None
    if not isinstance(interaction_id, str):
        interaction_id = None
    return {
        "id": envelope.id,
        "type": envelope.type,
        "interaction_id": interaction_id,
        "dedupe_key": None if interaction_id is None else f"{envelope.type} {interaction_id}",
        "body_hash": hashlib.sha256(payload.encode()).hexdigest(),
        "payload": payload,
        "status": "pending",
        "received_at": received_at,
        "occurred_at": occurred_at(envelope, member, received_at),
        "enqueued_at": received_at,
    }


_BODY_HASH = select(tables.events.c.body_hash).where(tables.events.c.id == bindparam("event_id"))
_BY_DEDUPE_KEY = select(tables.events.c.id).where(
    tables.events.c.dedupe_key == bindparam("dedupe_key")
)


def _existing(
    conn: Connection, event_id: str, dedupe_key: str | None, body_hash: str
) -> Receipt | None:
    row = conn.execute(_BODY_HASH, {"event_id": event_id}).one_or_none()
    if row is not None:
        if row.body_hash != body_hash:
            raise _reused(event_id)
        return Receipt(event_id, "duplicate")
    if dedupe_key is not None:
        seen = conn.execute(_BY_DEDUPE_KEY, {"dedupe_key": dedupe_key}).one_or_none()
        if seen is not None:
            return Receipt(event_id, "duplicate")
    return None


def resolve_member(conn: Connection, member: MemberRef, now: datetime) -> str:
    """The member id an event is about, creating the member (and identity link) on first sight.

    Unique keys settle races: two first events for one new email end up with one member.
    """
    identity = member.identity
    if member.profile_id is not None:
        _ensure_member(conn, member.profile_id, now)
        if identity is not None:
            insert_once(
                conn,
                tables.identities,
                {
                    "type": identity.type,
                    "value": identity.normalised_value(),
                    "member_id": member.profile_id,
                },
            )
        return member.profile_id
    assert identity is not None, "MemberRef guarantees a profile id or an identity"
    key = (tables.identities.c.type == identity.type) & (
        tables.identities.c.value == identity.normalised_value()
    )
    found = conn.execute(select(tables.identities.c.member_id).where(key)).scalar_one_or_none()
    if found is not None:
        return str(found)
    # Derived from the identity, so racing first events all create the very same member.
    digest = hashlib.sha256(f"{identity.type}:{identity.normalised_value()}".encode()).hexdigest()
    new_id = f"mem_{digest[:24]}"
    _ensure_member(conn, new_id, now)
    insert_once(
        conn,
        tables.identities,
        {"type": identity.type, "value": identity.normalised_value(), "member_id": new_id},
    )
    return str(conn.execute(select(tables.identities.c.member_id).where(key)).scalar_one())


def _ensure_member(conn: Connection, member_id: str, now: datetime) -> None:
    # Nearly every event is from a known member: on SQLite looking costs a quarter of an
    # insert that conflicts. A member created meanwhile is still settled by the unique key.
    if not member_exists(conn, member_id):
        insert_once(conn, tables.members, {"id": member_id, "created_at": now})
