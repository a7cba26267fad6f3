"""SQLite, the embedded default: one writer at a time.

Every writing transaction begins with ``BEGIN IMMEDIATE`` in WAL mode with a busy timeout:
pysqlite's default deferred transactions let eight racing workers all award "first this
month" (docs/dependencies.md). That writer lock is also what serialises a member's events
(I3) here; read-only work takes a deferred ``BEGIN`` that neither waits for nor blocks writers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

READ_ONLY = "reactor_read_only"
"""The execution option that makes a transaction begin deferred (see ``engines.reader``)."""


def sqlite_engine(url: str, lock_timeout_ms: int, **kwargs: Any) -> Engine:
    """An engine whose writing transactions take the writer lock as they begin."""
    engine = create_engine(
        url,
        connect_args={"timeout": lock_timeout_ms / 1000, "check_same_thread": False},
        **kwargs,
    )

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

    return engine


@contextmanager
def savepoint(conn: Connection) -> Iterator[None]:
    """Undo what the block wrote if it raises; on the driver, as SQLAlchemy's ``begin_nested()``
    costs two executes of its own per use."""
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute("SAVEPOINT block")
    try:
        yield
    except BaseException:
        driver.execute("ROLLBACK TO block")
        raise
    finally:
        driver.execute("RELEASE block")
