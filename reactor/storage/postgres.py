"""PostgreSQL in production: a connection pool, lock timeouts, and members locked row by row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Table, bindparam, create_engine, select

from reactor.storage import tables


def postgres_engine(url: str, lock_timeout_ms: int, **kwargs: Any) -> Engine:
    """An engine whose lock waits give up after ``lock_timeout_ms`` with an OperationalError,
    which the worker treats as transient and retries with backoff."""
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        # Custom plans always: psycopg prepares a statement after its fifth run, and Postgres
        # then may settle on a generic plan made while the tables were small. For the limit
        # usage query (a member's events joined to their decisions) that plan came to cost
        # 1.2 ms a run against 0.05 ms planned with the values; leaving the other statements
        # to generic plans halved a full benchmark run on a fresh database
        # (benchmarks/README.md). tests/test_worker_batches.py checks the setting.
        connect_args={
            "options": f"-c lock_timeout={lock_timeout_ms} -c plan_cache_mode=force_custom_plan"
        },
        **kwargs,
    )


# Built once; ``with_for_update`` renders nothing on SQLite, silently, so it is used here only.
_LOCK_MEMBERS = (
    select(tables.members.c.id)
    .where(tables.members.c.id.in_(bindparam("member_ids", expanding=True)))
    .order_by(tables.members.c.id)
    # FOR NO KEY UPDATE: it serialises the members' workers as FOR UPDATE would, but does not
    # block the FOR KEY SHARE lock that the receiver's insert of a new event for a member
    # takes on the member's row (the foreign key): with FOR UPDATE, webhooks waited for the
    # whole of a worker's transaction.
    .with_for_update(key_share=True)
)


def lock_members(conn: Connection, member_ids: list[str]) -> None:
    """Hold the members' rows until the transaction ends, taken in id order in one statement
    (Postgres locks the rows as the sort emits them), so that two workers locking overlapping
    sets cannot deadlock on each other's members."""
    conn.execute(_LOCK_MEMBERS, {"member_ids": sorted(member_ids)}).all()


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """Many rows in one ``INSERT … SELECT FROM unnest(…)``: one array per column, so the SQL is
    the same whatever the number of rows (psycopg converts and Postgres plans it once, where a
    multi-row VALUES list is new text for every size: psycopg's Python parse of a 32-row one
    was the receiver's largest cost). With ``returning``, ``ON CONFLICT DO NOTHING`` and those
    columns of the rows stored; without, a conflict raises.

    On the driver, inside SQLAlchemy's transaction: values must be what the column types bind
    to already (aware datetimes, strings, numbers); the tables' own types need no processing
    on Postgres.
    """
    if not rows:
        return []
    columns = tuple(rows[0])
    sql = _unnest_insert(table, columns, conn.dialect, returning)
    params = {name: [row[name] for row in rows] for name in columns}
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.execute(sql, params)
    return [tuple(row) for row in cursor.fetchall()] if returning else []


@cache
def _unnest_insert(
    table: Table, columns: tuple[str, ...], dialect: Dialect, returning: tuple[str, ...]
) -> str:
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(
        f"%({name})s::{table.c[name].type.compile(dialect=dialect)}[]" for name in columns
    )
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in columns)}) "
        f"SELECT * FROM unnest({arrays})"
    )
    if returning:
        sql += f" ON CONFLICT DO NOTHING RETURNING {', '.join(quote(n) for n in returning)}"
    return sql
