"""Migrations and the schema the code declares stay the same schema."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from reactor.members import balance
from reactor.storage import make_engine, migrations
from reactor.storage.tables import metadata


def test_the_migrated_schema_matches_the_declared_tables(engine: sa.Engine) -> None:
    """`reactor db upgrade` builds exactly what reactor/tables.py declares."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_every_table_is_declared() -> None:
    """A guard for the test above: the declared schema is not empty."""
    assert {"events", "ledger", "decisions", "budgets", "outbox"} <= set(metadata.tables)
    assert isinstance(metadata.tables["ledger"].c.points.type, sa.BigInteger)


def test_the_running_balance_starts_from_the_ledger_already_written(tmp_path: Path) -> None:
    """Migration 0006 fills members.points from each member's ledger; later rows add to it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0005")
    engine = make_engine(url)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO members (id, created_at) VALUES ('m1', :at)"), {"at": at})
        for n, points in enumerate((10, 5, -10)):
            conn.execute(
                sa.text(
                    "INSERT INTO events (id, type, member_id, body_hash, payload, status, "
                    "received_at, occurred_at, enqueued_at) VALUES "
                    "(:id, 'x.y', 'm1', 'h', '{}', 'processed', :at, :at, :at)"
                ),
                {"id": f"e{n}", "at": at},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO ledger (member_id, points, kind, rule_id, rule_version, "
                    "event_id, effect_index, created_at) VALUES "
                    "('m1', :points, 'award', 'r', 'v', :event, 0, :at)"
                ),
                {"points": points, "event": f"e{n}", "at": at},
            )
    engine.dispose()
    migrations.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            assert balance(conn, "m1") == 5
            conn.execute(
                sa.text(
                    "INSERT INTO ledger (member_id, points, kind, rule_id, rule_version, "
                    "event_id, effect_index, created_at) VALUES "
                    "('m1', 7, 'award', 'r', 'v', 'e0', 1, :at)"
                ),
                {"at": at},
            )
            assert balance(conn, "m1") == 12
    finally:
        engine.dispose()
