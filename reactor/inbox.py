"""The durable inbox (I1): an event is committed, deduplicated, before the receiver says 2xx."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, Engine, bindparam, select

from reactor.envelope import Envelope, MemberRef, occurred_at
from reactor.errors import InputError
from reactor.members import member_exists
from reactor.storage import insert_once, tables
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
    body_hash = hashlib.sha256(payload.encode()).hexdigest()
    interaction_id = envelope.data.get("id") if envelope.is_interaction else None
    dedupe_key = f"{envelope.type} {interaction_id}" if isinstance(interaction_id, str) else None
    member_id = resolve_member(conn, member, received_at)
    values = {
        "id": envelope.id,
        "type": envelope.type,
        "member_id": member_id,
        "interaction_id": interaction_id if isinstance(interaction_id, str) else None,
        "dedupe_key": dedupe_key,
        "body_hash": body_hash,
        "payload": payload,
        "status": "pending",
        "received_at": received_at,
        "occurred_at": occurred_at(envelope, member, received_at),
        "enqueued_at": received_at,
    }
    if insert_once(conn, tables.events, values) is not None:
        return Receipt(envelope.id, "accepted")
    found = _existing(conn, envelope.id, dedupe_key, body_hash)  # raises 409, rolling back
    assert found is not None, "an insert conflicted with a row that is not there"
    raise Duplicate(found)


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
            raise InputError(
                409,
                "conflict",
                f"event {event_id!r} was already received with a different body",
                [{"loc": ["id"], "msg": "id reused for a different event"}],
            )
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
