"""Database engines for SQLite (embedded) and PostgreSQL, behind one interface.

Callers never branch on the dialect: what differs between the two lives in ``sqlite.py`` and
``postgres.py``, and is reached through the functions here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import DBAPIError, OperationalError

from reactor.errors import TransientError
from reactor.storage import postgres, sqlite


def normalise_url(url: str) -> str:
    """Spell a plain ``postgres://`` URL the way SQLAlchemy wants it (psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, lock_timeout_ms: int = 10_000, **kwargs: Any) -> Engine:
    """An engine whose transactions serialise a member's writers the way the invariants need.

    Waiting for a lock gives up after ``lock_timeout_ms`` with an ``OperationalError``, which
    the worker treats as transient and retries with backoff.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return sqlite.sqlite_engine(url, lock_timeout_ms, **kwargs)
    return postgres.postgres_engine(url, lock_timeout_ms, **kwargs)


def reader(engine: Engine) -> Engine:
    """The same engine for transactions that only read (on SQLite: a deferred ``BEGIN``)."""
    return engine.execution_options(**{sqlite.READ_ONLY: True})


def lock_member(conn: Connection, member_id: str) -> bool:
    """Serialise the member's events (I3) until this transaction ends.

    True when the lock was taken just now, so what was read before it must be read again;
    False on SQLite, whose ``BEGIN IMMEDIATE`` took the writer lock before anything was read.
    """
    return lock_members(conn, [member_id])


def lock_members(conn: Connection, member_ids: list[str]) -> bool:
    """``lock_member`` for several members at once, in a fixed order (no deadlocks)."""
    if conn.dialect.name == "sqlite":
        return False
    postgres.lock_members(conn, member_ids)
    return True


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """Undo what the block wrote if it raises, keeping the rest of the transaction."""
    if conn.dialect.name == "sqlite":
        with sqlite.savepoint(conn):
            yield
    else:
        with conn.begin_nested():
            yield


def is_unavailable(exc: BaseException) -> bool:
    """True when the error means the database is down or busy, not that our query was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


@contextmanager
def unavailable_is_transient() -> Iterator[None]:
    """Turn "the database is down or busy" into ``TransientError``, which the worker retries."""
    try:
        yield
    except DBAPIError as exc:
        if is_unavailable(exc):
            raise TransientError(f"database unavailable: {exc.orig}") from exc
        raise


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with reader(engine).connect() as conn:
        conn.execute(select(1))
