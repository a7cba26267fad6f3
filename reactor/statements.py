"""The statements every event runs, compiled once and, on SQLite, run on the driver's cursor.

SQLAlchemy's ``Connection.execute`` spends about 20 µs of Python on every statement (cache key,
parameter and result set-up, events): 19 µs for a one-row select by key that takes SQLite
1.3 µs on its own driver. With ten statements an event, that was over half of
``reactor simulate``'s time. A ``Statement`` keeps
the Core construct (one schema, one source of SQL) and, on SQLite inside a transaction, runs its
compiled SQL directly with SQLAlchemy's own type processors, so values go in and come out
exactly as ``execute`` would give them; driver errors are raised as SQLAlchemy's exceptions.
Everywhere else (PostgreSQL, where a round trip costs far more than the Python, or outside a
transaction) it simply calls ``execute``.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Select

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Plan:
    """The statement compiled for SQLite: its SQL, how to bind it and how to read its rows."""

    sql: str
    #: The parameter values in placeholder order, from the caller's params and ``constants``.
    values: Callable[[Params], Sequence[Any]]
    #: Values the statement itself holds (``status == "processed"``), by bind name.
    constants: dict[str, Any]
    binds: tuple[tuple[int, Callable[[Any], Any]], ...]  # (placeholder, type processor)
    #: Builds a row from a tuple (``_make``), with attribute access like SQLAlchemy's.
    row: Callable[[Sequence[Any]], Any] | None
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, type processor)


class Statement:
    """One Core statement (a select, or DML with or without RETURNING), built at import."""

    def __init__(self, clause: Select[Any] | UpdateBase) -> None:
        self.clause = clause
        self._columns = [(str(c.key), c.type) for c in clause.exported_columns]
        # Per dialect instance (its type processors); weak, as tests make many engines.
        self._plans: WeakKeyDictionary[Dialect, _Plan | None] = WeakKeyDictionary()

    def rows(self, conn: Connection, params: Params) -> Sequence[Any]:
        """Every row the statement returns."""
        plan = self._plan(conn)
        if plan is None:
            return conn.execute(self.clause, dict(params)).all()
        make = plan.row
        assert make is not None, "rows() of a statement that returns none"
        fetched = self._run(conn, plan, params).fetchall()
        if not plan.results:
            return list(map(make, fetched))
        found = []
        for row in fetched:
            values = list(row)
            for index, process in plan.results:
                values[index] = process(values[index])
            found.append(make(values))
        return found

    def one(self, conn: Connection, params: Params) -> Any:
        """The only row; raises ``NoResultFound`` or ``MultipleResultsFound`` otherwise."""
        row = self.one_or_none(conn, params)
        if row is None:
            raise NoResultFound("no row was found when one was required")
        return row

    def one_or_none(self, conn: Connection, params: Params) -> Any | None:
        found = self.rows(conn, params)
        if len(found) > 1:
            raise MultipleResultsFound("multiple rows were found when one or none was required")
        return found[0] if found else None

    def first(self, conn: Connection, params: Params) -> Any | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: Params) -> None:
        """Execute a statement that returns nothing."""
        plan = self._plan(conn)
        if plan is None:
            conn.execute(self.clause, dict(params))
        else:
            self._run(conn, plan, params)

    def run_many(self, conn: Connection, many: Sequence[Params]) -> None:
        """Execute a statement that returns nothing once per parameter set (executemany)."""
        plan = self._plan(conn)
        if plan is None:
            conn.execute(self.clause, [dict(params) for params in many])
            return
        arguments = [_arguments(plan, params) for params in many]
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            driver.executemany(plan.sql, arguments)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, plan, arguments, exc) from exc

    def _run(self, conn: Connection, plan: _Plan, params: Params) -> Any:
        arguments = _arguments(plan, params)
        driver = conn.connection.driver_connection
        assert driver is not None
        try:
            return driver.execute(plan.sql, arguments)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, plan, arguments, exc) from exc

    def _plan(self, conn: Connection) -> _Plan | None:
        # Outside a transaction execute() would begin one (our BEGIN IMMEDIATE); let it.
        dialect = conn.dialect
        if dialect.name != "sqlite" or not conn.in_transaction():
            return None
        try:
            return self._plans[dialect]
        except KeyError:
            plan = self._plans[dialect] = self._compile(dialect)
            return plan

    def _compile(self, dialect: Dialect) -> _Plan | None:
        compiled = self.clause.compile(dialect=dialect)
        names = compiled.positiontup
        if names is None or compiled.literal_execute_params or compiled.post_compile_params:
            return None  # rendered again per execution (an expanding IN): leave it to execute()
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
        row = _row_type([key for key, _ in self._columns]) if self._columns else None
        results = []
        for index, (_, type_) in enumerate(self._columns):
            process = type_.dialect_impl(dialect).result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        return _Plan(compiled.string, _getter(names), constants, tuple(binds), row, tuple(results))


def _row_type(keys: list[str]) -> Callable[[Sequence[Any]], Any]:
    """Rows that read like SQLAlchemy's: ``row.status``, ``row[0]``."""
    make: Callable[[Sequence[Any]], Any] = namedtuple("Row", keys)._make  # type: ignore[attr-defined]
    return make


def _getter(names: Sequence[str]) -> Callable[[Params], Sequence[Any]]:
    if not names:
        return lambda params: ()
    if len(names) == 1:
        (name,) = names
        return lambda params: (params[name],)
    return itemgetter(*names)  # one C call for every value


def _arguments(plan: _Plan, params: Params) -> Sequence[Any]:
    merged = {**plan.constants, **params} if plan.constants else params
    try:
        values = plan.values(merged)
    except KeyError as exc:
        raise InvalidRequestError(
            f"A value is required for bind parameter {exc.args[0]!r}"
        ) from None
    if not plan.binds:
        return values
    processed = list(values)
    for index, process in plan.binds:
        processed[index] = process(processed[index])
    return processed


def _wrapped(conn: Connection, plan: _Plan, arguments: Any, exc: Exception) -> BaseException:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError...)."""
    return DBAPIError.instance(
        plan.sql, arguments, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
    )
