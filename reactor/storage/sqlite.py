"""SQLite, the embedded default: one writer at a time, and the driver path for hot statements.

Every writing transaction begins with ``BEGIN IMMEDIATE`` in WAL mode with a busy timeout:
pysqlite's default deferred transactions let eight racing workers all award "first this
month" (docs/dependencies.md). That writer lock is also what serialises a member's events
(I3) here; read-only work takes a deferred ``BEGIN`` that neither waits for nor blocks writers.

The driver path: SQLAlchemy's ``Connection.execute`` spends about 20 µs of Python on every
statement (cache key, parameter and result set-up, events) where SQLite needs 1 to 5 µs. A
``Plan`` is a statement compiled once for SQLite and run on the driver's cursor with
SQLAlchemy's own type processors, so values go in and come out exactly as ``execute`` gives
them, and driver errors are raised as SQLAlchemy's exception classes. It runs no SQLAlchemy
execution events (``before_cursor_execute`` and the like): nothing in Reactor listens to them,
and a listener added one day would not see these statements.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Select

READ_ONLY = "reactor_read_only"
"""The execution option that makes a transaction begin deferred (see ``engines.reader``)."""

Params = Mapping[str, Any]


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


@dataclass(frozen=True)
class Plan:
    """A statement compiled for SQLite: its SQL, how to bind it and how to read its rows."""

    sql: str
    #: The parameter values in placeholder order, from the caller's params and ``constants``.
    values: Callable[[Params], Sequence[Any]]
    #: Values the statement itself holds (``status == "processed"``), by bind name.
    constants: dict[str, Any]
    binds: tuple[tuple[int, Callable[[Any], Any]], ...]  # (placeholder, type processor)
    #: Builds a row from a sequence of values, with attribute access like SQLAlchemy's.
    row: Callable[[Sequence[Any]], Any] | None
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, type processor)

    def rows(self, conn: Connection, params: Params) -> list[Any]:
        """Run the plan and build its rows."""
        make = self.row
        assert make is not None, "rows() of a statement that returns none"
        fetched = self.run(conn, params).fetchall()
        if not self.results:
            return list(map(make, fetched))
        found = []
        for row in fetched:
            values = list(row)
            for index, process in self.results:
                values[index] = process(values[index])
            found.append(make(values))
        return found

    def run(self, conn: Connection, params: Params) -> Any:
        """Execute once on the driver's cursor; the cursor, for rows."""
        arguments = self._arguments(params)
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            return driver.execute(self.sql, arguments)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, self.sql, arguments, exc) from exc

    def run_many(self, conn: Connection, many: Sequence[Params]) -> None:
        """Execute once per parameter set (executemany)."""
        arguments = [self._arguments(params) for params in many]
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.executemany(self.sql, arguments)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, self.sql, arguments, exc) from exc

    def _arguments(self, params: Params) -> Sequence[Any]:
        merged = {**self.constants, **params} if self.constants else params
        try:
            values = self.values(merged)
        except KeyError as exc:
            raise InvalidRequestError(
                f"A value is required for bind parameter {exc.args[0]!r}"
            ) from None
        if not self.binds:
            return values
        processed = list(values)
        for index, process in self.binds:
            processed[index] = process(processed[index])
        return processed


def compile_plan(
    clause: Select[Any] | UpdateBase,
    dialect: Dialect,
    row: Callable[[Sequence[Any]], Any] | None,
) -> Plan | None:
    """``clause`` as a Plan, or None when SQLAlchemy must render it per execution (an
    expanding IN). ``row`` builds result rows (None: the statement returns none)."""
    compiled = clause.compile(dialect=dialect)
    names = compiled.positiontup
    if names is None or compiled.literal_execute_params or compiled.post_compile_params:
        return None
    constants: dict[str, Any] = {}
    binds = []
    for index, name in enumerate(names):
        bind = compiled.binds[name]
        if bind.expanding or bind.callable is not None:
            return None
        if not bind.required:
            constants[name] = bind.value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            binds.append((index, process))
    results = []
    for index, column in enumerate(clause.exported_columns):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            results.append((index, process))
    return Plan(compiled.string, _getter(names), constants, tuple(binds), row, tuple(results))


def row_maker(keys: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
    """Rows that read like SQLAlchemy's (``row.status``, ``row[0]``) for untyped statements."""
    make: Callable[[Sequence[Any]], Any] = cast(Any, namedtuple("Row", keys))._make
    return make


def _getter(names: Sequence[str]) -> Callable[[Params], Sequence[Any]]:
    if not names:
        return lambda params: ()
    if len(names) == 1:
        (name,) = names
        return lambda params: (params[name],)
    return itemgetter(*names)  # one C call for every value


def _wrapped(conn: Connection, sql: str, arguments: Any, exc: Exception) -> BaseException:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError...)."""
    return DBAPIError.instance(
        sql, arguments, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )
