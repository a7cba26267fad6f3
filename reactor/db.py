"""Database engines for SQLite (embedded) and PostgreSQL, tuned for one writer per member."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.exc import DBAPIError, OperationalError

from reactor import tables


def normalise_url(url: str) -> str:
    """Spell a plain ``postgres://`` URL the way SQLAlchemy wants it (psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose transactions serialise writers the way the invariants need.

    On SQLite every transaction starts with ``BEGIN IMMEDIATE`` in WAL mode with a busy
    timeout: pysqlite's default deferred transactions let eight racing workers all award
    "first this month" (see pitfalls.md). On Postgres, members are locked row by row instead.
    """
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _make_sqlite_serial(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def _make_sqlite_serial(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Stop pysqlite from issuing its own deferred BEGIN; we issue ours below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


def is_unavailable(exc: BaseException) -> bool:
    """True when the error means the database is down or busy, not that our query was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(select(1))


def create_all(engine: Engine) -> None:
    """Create the schema directly (tests only; real databases use ``reactor db upgrade``)."""
    tables.metadata.create_all(engine)
