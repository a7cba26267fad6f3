"""PostgreSQL in production: a connection pool, lock timeouts, and members locked row by row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, select

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
        # 1.2 ms a run against 0.05 ms planned with the values (benchmarks/README.md).
        connect_args={
            "options": f"-c lock_timeout={lock_timeout_ms} -c plan_cache_mode=force_custom_plan"
        },
        **kwargs,
    )


# Built once; ``with_for_update`` renders nothing on SQLite, silently, so it is used here only.
_LOCK_MEMBER = (
    select(tables.members.c.id)
    .where(tables.members.c.id == bindparam("member_id"))
    # FOR NO KEY UPDATE: it serialises the member's workers as FOR UPDATE would, but does not
    # block the FOR KEY SHARE lock that the receiver's insert of a new event for the member
    # takes on the member's row (the foreign key): with FOR UPDATE, webhooks waited for the
    # whole of a worker's transaction.
    .with_for_update(key_share=True)
)


def lock_member(conn: Connection, member_id: str) -> None:
    """Hold the member's row until the transaction ends: their events go one at a time (I3)."""
    conn.execute(_LOCK_MEMBER, {"member_id": member_id}).one()


_LOCK_MEMBERS = (
    select(tables.members.c.id)
    .where(tables.members.c.id.in_(bindparam("member_ids", expanding=True)))
    .order_by(tables.members.c.id)
    .with_for_update(key_share=True)  # FOR NO KEY UPDATE, as above
)


def lock_members(conn: Connection, member_ids: list[str]) -> None:
    """Hold the members' rows until the transaction ends, taken in id order in one statement
    (Postgres locks the rows as the sort emits them), so that two workers locking overlapping
    sets cannot deadlock on each other's members."""
    conn.execute(_LOCK_MEMBERS, {"member_ids": sorted(member_ids)}).all()
