"""Database engines for SQLite (embedded) and PostgreSQL, tuned for one writer per member."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.exc import DBAPIError, OperationalError

from reactor import tables
from reactor.errors import TransientError


def normalise_url(url: str) -> str:
    """Spell a plain ``postgres://`` URL the way SQLAlchemy wants it (psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, lock_timeout_ms: int = 10_000, **kwargs: Any) -> Engine:
    """An engine whose transactions serialise writers the way the invariants need.

    On SQLite every transaction starts with ``BEGIN IMMEDIATE`` in WAL mode with a busy
    timeout: pysqlite's default deferred transactions let eight racing workers all award
    "first this month" (see pitfalls.md). On Postgres, members are locked row by row instead.
    Waiting for a lock gives up after ``lock_timeout_ms`` with an ``OperationalError``, which
    the worker treats as transient and retries with backoff.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"timeout": lock_timeout_ms / 1000, "check_same_thread": False},
            **kwargs,
        )
        _make_sqlite_serial(engine, lock_timeout_ms)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"options": f"-c lock_timeout={lock_timeout_ms}"},
        **kwargs,
    )


def _make_sqlite_serial(engine: Engine, lock_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own deferred BEGIN; we issue ours below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Readers take no lock in WAL mode, so they neither wait for writers nor block them.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


READ_ONLY = "reactor_read_only"


def reader(engine: Engine) -> Engine:
    """The same engine for transactions that only read (on SQLite: a deferred ``BEGIN``)."""
    return engine.execution_options(**{READ_ONLY: True})


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


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


def create_all(engine: Engine) -> None:
    """Create the schema directly (tests only; real databases use ``reactor db upgrade``)."""
    tables.metadata.create_all(engine)
