"""Statement: the driver path on SQLite gives what SQLAlchemy's execute gives, errors included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, exists, insert, literal, select, update
from sqlalchemy.exc import IntegrityError, MultipleResultsFound, NoResultFound, SQLAlchemyError

from benchmarks.simulate import generate
from reactor.rules import load_rules
from reactor.sandbox import Sandbox
from reactor.storage import Statement, tables
from reactor.strictjson import parse_json

NOW = datetime(2026, 11, 22, 9, 30, 15, 123456, tzinfo=UTC)
_events = tables.events

# Shaped like the hot statements: literals inside, a label, a boolean, datetimes both ways.
EVENTS = Statement(
    select(
        _events.c.id,
        _events.c.occurred_at,
        _events.c.deleted_at,
        exists().where(_events.c.status == "processed").label("any_processed"),
        (literal("key ") + _events.c.id).label("key"),
    )
    .where(_events.c.member_id == bindparam("member_id"))
    .order_by(_events.c.id)
)
BY_TYPES = Statement(  # an expanding IN is rendered per execution: SQLAlchemy runs it
    select(_events.c.id).where(_events.c.type.in_(bindparam("types", expanding=True)))
)
MARK = Statement(
    update(_events).where(_events.c.id == bindparam("event_id")).values(status="processed")
)
ADD_MEMBER = Statement(
    insert(tables.members)
    .values(id=bindparam("id"), created_at=bindparam("at"))
    .returning(tables.members.c.id)
)


def _event(event_id: str, occurred: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "interaction.created",
        "member_id": "m1",
        "interaction_id": None,
        "dedupe_key": None,
        "body_hash": "x",
        "payload": "{}",
        "status": "pending",
        "received_at": NOW,
        "occurred_at": occurred,
        "enqueued_at": NOW,
    }


@pytest.fixture
def filled(engine: sa.Engine) -> sa.Engine:
    with engine.begin() as conn:
        conn.execute(insert(tables.members), {"id": "m1", "created_at": NOW})
        conn.execute(
            insert(tables.events),
            [_event("e1", NOW), _event("e2", NOW - timedelta(days=400, microseconds=7))],
        )
    return engine


def test_rows_read_like_sqlalchemys_rows(filled: sa.Engine) -> None:
    """Same values, same types (aware UTC datetimes, bools), attribute and index access."""
    with filled.begin() as conn:
        ours = EVENTS.rows(conn, {"member_id": "m1"})
        theirs = conn.execute(EVENTS.clause, {"member_id": "m1"}).all()
    assert [tuple(row) for row in ours] == [tuple(row) for row in theirs]
    assert ours[1].occurred_at == NOW - timedelta(days=400, microseconds=7)
    assert ours[1].occurred_at.tzinfo is UTC
    assert ours[0].deleted_at is None
    assert ours[0].any_processed is False
    assert ours[0].key == ours[0][4] == "key e1"


class EventRow(NamedTuple):
    id: str
    occurred_at: datetime
    deleted_at: datetime | None
    any_processed: bool
    key: str


TYPED = Statement(EVENTS.clause, EventRow)


def test_typed_rows_come_back_as_their_named_tuple(filled: sa.Engine) -> None:
    """A Statement with a row type gives instances of it, on both paths."""
    with filled.begin() as conn:
        rows = TYPED.rows(conn, {"member_id": "m1"})
    assert [type(row) for row in rows] == [EventRow, EventRow]
    assert rows[0] == EventRow("e1", NOW, None, False, "key e1")


class Misnamed(NamedTuple):
    id: str
    occurred: datetime


def test_a_row_type_that_does_not_match_the_columns_is_refused_when_built() -> None:
    """Fields must be the statement's columns in order: a mismatch fails at import, not later."""
    with pytest.raises(TypeError, match=r"Misnamed has fields \('id', 'occurred'\)"):
        Statement(select(_events.c.id, _events.c.occurred_at), Misnamed)
    with pytest.raises(TypeError, match="EventRow has fields"):
        Statement(select(_events.c.occurred_at, _events.c.id), EventRow)


def test_writes_are_read_back_by_sqlalchemy_as_written(filled: sa.Engine) -> None:
    """run() and RETURNING through the driver store what SQLAlchemy reads back."""
    with filled.begin() as conn:
        MARK.run(conn, {"event_id": "e2"})
        added = ADD_MEMBER.one(conn, {"id": "m2", "at": NOW})
    with filled.connect() as conn:
        status = conn.execute(select(_events.c.status).where(_events.c.id == "e2")).scalar()
        created = conn.execute(
            select(tables.members.c.created_at).where(tables.members.c.id == "m2")
        ).scalar()
    assert (added.id, status, created) == ("m2", "processed", NOW)


def test_run_many_inserts_every_row(engine: sa.Engine) -> None:
    """executemany through the driver, one row per parameter set."""
    add = Statement(insert(tables.members).values(id=bindparam("id"), created_at=bindparam("at")))
    with engine.begin() as conn:
        add.run_many(conn, [{"id": f"m{n}", "at": NOW + timedelta(seconds=n)} for n in range(5)])
    with engine.connect() as conn:
        rows = conn.execute(select(tables.members).order_by(tables.members.c.id)).all()
    assert [(r.id, r.created_at) for r in rows] == [
        (f"m{n}", NOW + timedelta(seconds=n)) for n in range(5)
    ]


def test_a_broken_unique_key_is_sqlalchemys_integrity_error(filled: sa.Engine) -> None:
    """Callers catch SQLAlchemy's exceptions (IntegrityError, OperationalError), never the
    driver's: the processor turns a racing write into a retry by that class."""
    with pytest.raises(IntegrityError), filled.begin() as conn:
        ADD_MEMBER.one(conn, {"id": "m1", "at": NOW})


def test_one_and_one_or_none_count_the_rows(filled: sa.Engine) -> None:
    """one() wants exactly one row, one_or_none() at most one; first() takes the first."""
    with filled.begin() as conn:
        with pytest.raises(NoResultFound):
            EVENTS.one(conn, {"member_id": "nobody"})
        with pytest.raises(MultipleResultsFound):
            EVENTS.one_or_none(conn, {"member_id": "m1"})
        assert EVENTS.one_or_none(conn, {"member_id": "nobody"}) is None
        assert EVENTS.first(conn, {"member_id": "m1"}).id == "e1"


def test_a_missing_parameter_is_named(filled: sa.Engine) -> None:
    """A forgotten parameter fails loudly instead of binding NULL, as in SQLAlchemy."""
    with (
        pytest.raises(SQLAlchemyError, match="value is required for bind parameter 'member_id'"),
        filled.begin() as conn,
    ):
        EVENTS.rows(conn, {})


def test_expanding_in_and_autobegin_are_left_to_sqlalchemy(filled: sa.Engine) -> None:
    """Statements rendered per execution, and connections outside a transaction, use execute."""
    with filled.connect() as conn:
        assert [r.id for r in EVENTS.rows(conn, {"member_id": "m1"})] == ["e1", "e2"]
        assert conn.in_transaction()  # execute() began one, as SQLAlchemy always does
        found = BY_TYPES.rows(conn, {"types": ["interaction.created", "x"]})
        assert sorted(r.id for r in found) == ["e1", "e2"]


def _replay(lines: list[bytes]) -> list[Any]:
    sandbox = Sandbox(load_rules(Path("rules")))
    try:
        for line in lines:
            sandbox.feed(parse_json(line))
        with sandbox.engine.connect() as conn:
            stored = [
                [
                    {k: v for k, v in row._mapping.items() if not k.endswith("_at")}
                    for row in conn.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in (tables.decisions, tables.ledger, tables.achievement_progress)
            ]
        return stored + [sandbox.member(m) for m in sandbox.member_ids()]
    finally:
        sandbox.close()


def test_a_replay_is_the_same_through_the_driver_and_through_sqlalchemy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every decision, ledger entry and member state of 3,000 events from every world of the
    shipped rules is identical when each statement runs through SQLAlchemy's execute instead
    (I5: one engine, one result)."""
    lines = [json.dumps(e).encode() for e in generate(3000, members=60)]
    driver = _replay(lines)
    monkeypatch.setattr(Statement, "_plan", lambda self, conn: None)
    assert _replay(lines) == driver
    assert any(json.loads(d["effects"]) for d in driver[0])  # something was awarded
