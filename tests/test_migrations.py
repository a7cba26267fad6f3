"""Migrations and the schema the code declares stay the same schema."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

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
