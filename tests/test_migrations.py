"""Migrations and the schema the code declares stay the same schema."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
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


@pytest.mark.postgres
def test_postgres_keeps_the_balance_per_statement_after_0007(
    postgres_template: tuple[sa.Engine, str],
) -> None:
    """0006's row trigger, then 0007's statement trigger (one multi-row insert for two
    members), then back down to the row trigger: the balance is the ledger's sum throughout."""
    admin, _ = postgres_template
    name = f"reactor_mig_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    ledger_row = (
        "INSERT INTO ledger (member_id, points, kind, rule_id, rule_version, event_id, "
        "effect_index, created_at) VALUES "
    )

    def sums(engine: sa.Engine) -> dict[str, int]:
        with engine.connect() as conn:
            balances = dict(conn.execute(sa.text("SELECT id, points FROM members")).all())
            ledger = dict(
                conn.execute(
                    sa.text("SELECT member_id, SUM(points) FROM ledger GROUP BY member_id")
                ).all()
            )
        assert balances == {m: int(p) for m, p in ledger.items()}
        return {m: int(p) for m, p in balances.items()}

    try:
        migrations.upgrade(url, "0006")
        engine = make_engine(url)
        with engine.begin() as conn:
            for member in ("m1", "m2"):
                conn.execute(
                    sa.text("INSERT INTO members (id, created_at) VALUES (:m, :at)"),
                    {"m": member, "at": at},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO events (id, type, member_id, body_hash, payload, status, "
                        "received_at, occurred_at, enqueued_at) VALUES "
                        "(:m, 'x.y', :m, 'h', '{}', 'processed', :at, :at, :at)"
                    ),
                    {"m": member, "at": at},
                )
            conn.execute(
                sa.text(ledger_row + "('m1', 10, 'award', 'r', 'v', 'm1', 0, :at)"), {"at": at}
            )
        engine.dispose()
        migrations.upgrade(url)
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    ledger_row + "('m1', 5, 'award', 'r', 'v', 'm1', 1, :at), "
                    "('m1', 3, 'award', 'r', 'v', 'm1', 2, :at), "
                    "('m2', 7, 'award', 'r', 'v', 'm2', 0, :at)"
                ),
                {"at": at},
            )
        assert sums(engine) == {"m1": 18, "m2": 7}
        engine.dispose()
        migrations.downgrade(url, "0006")
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(ledger_row + "('m2', 1, 'award', 'r', 'v', 'm2', 1, :at)"), {"at": at}
            )
        assert sums(engine) == {"m1": 18, "m2": 8}
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
