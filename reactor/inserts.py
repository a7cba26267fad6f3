"""``INSERT … ON CONFLICT DO NOTHING``: how Reactor writes anything that must exist once (I2)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite

from reactor.statements import Statement


def insert_once(conn: Connection, table: Table, values: Mapping[str, Any]) -> Any | None:
    """Insert unless a unique key already holds the row; the new primary key, or None."""
    statement = _statement(conn.dialect.name, table, tuple(sorted(values)))
    row = statement.first(conn, values)
    return None if row is None else row[0]


@cache
def _statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Statement:
    # Built once per table and column set: building it per row cost more than running it.
    # Only the postgresql and sqlite dialects have on_conflict_do_nothing.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {column: bindparam(column) for column in columns}
    statement = insert(table).values(values).on_conflict_do_nothing()
    # rowcount is -1 for inserts under psycopg 3; RETURNING says for sure.
    return Statement(statement.returning(*table.primary_key.columns))
