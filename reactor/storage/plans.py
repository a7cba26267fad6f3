"""The driver path for hot statements: compiled once, run on the driver's connection.

SQLAlchemy's ``Connection.execute`` spends 20 to 60 µs of Python on every statement (cache
key, parameter and result set-up, events) where SQLite needs 1 to 5 µs and psycopg about 15 µs
of its own. A ``Plan`` is a statement compiled once for the connection's dialect (on Postgres
with positional ``%s`` parameters) and run on the driver's connection with SQLAlchemy's own
type processors, so values go in and come out exactly as ``execute`` gives them, and driver
errors are raised as SQLAlchemy's exception classes. It runs no SQLAlchemy execution events
(``before_cursor_execute`` and the like): nothing in Reactor listens to them, and a listener
added one day would not see these statements.
"""

from __future__ import annotations

import copy
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Select

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """A compiled statement: its SQL, how to bind it and how to read its rows."""

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
            cursor = driver.cursor()
            cursor.executemany(self.sql, arguments)
            cursor.close()
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
    compiled = clause.compile(dialect=_positional(dialect))
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


def _positional(dialect: Dialect) -> Dialect:
    """The dialect itself when its parameters are positional (SQLite's ``?``); otherwise a copy
    that renders psycopg's ``%s``, so a plan binds a sequence, in order, like SQLite's."""
    if dialect.positional:
        return dialect
    render = copy.copy(dialect)
    render.paramstyle = "format"
    render.positional = True
    return render


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
