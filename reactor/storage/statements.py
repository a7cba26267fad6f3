"""Prebuilt statements and ``insert_once``: how Reactor runs the SQL of every event.

The rule: statements that run on every event are prebuilt ``Statement``s, built once at import
with a typed row; everything else uses ``Connection.execute``. Inside a transaction a
``Statement`` runs on the driver (``plans.Plan``: no SQLAlchemy execution events fire for it);
outside one (``execute`` would begin one: on SQLite our ``BEGIN IMMEDIATE``), and for what
SQLAlchemy must render per execution (an expanding ``IN``), it calls ``execute``. Either way it
returns the same rows and raises the same SQLAlchemy exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Generic, TypeVar, cast, overload
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.expression import Select

from reactor.storage import postgres
from reactor.storage.plans import Plan, compile_plan, row_maker

Params = Mapping[str, Any]
RowT = TypeVar("RowT")


class Statement(Generic[RowT]):
    """One Core statement (a select, or DML with or without RETURNING), built at import.

    ``row`` is the NamedTuple its rows come back as; its fields must be the statement's
    columns, in order. Without one, rows are plain named tuples typed ``Any``.
    """

    @overload
    def __init__(self: Statement[Any], clause: Select[Any] | UpdateBase) -> None: ...

    @overload
    def __init__(self, clause: Select[Any] | UpdateBase, row: type[RowT]) -> None: ...

    def __init__(self, clause: Select[Any] | UpdateBase, row: type[RowT] | None = None) -> None:
        self.clause = clause
        keys = [str(column.key) for column in clause.exported_columns]
        if row is not None:
            fields = getattr(row, "_fields", None)
            if fields != tuple(keys):
                raise TypeError(f"{row.__name__} has fields {fields}, the statement {keys}")
        self._make: Any = None
        if keys:
            self._make = row_maker(keys) if row is None else row._make  # type: ignore[attr-defined]
        # Per dialect instance (its type processors); weak, as tests make many engines.
        self._plans: WeakKeyDictionary[Dialect, Plan | None] = WeakKeyDictionary()

    def rows(self, conn: Connection, params: Params) -> list[RowT]:
        """Every row the statement returns."""
        plan = self._plan(conn)
        if plan is None:
            make = self._make
            return [make(row) for row in conn.execute(self.clause, dict(params))]
        return cast(list[RowT], plan.rows(conn, params))

    def one(self, conn: Connection, params: Params) -> RowT:
        """The only row; raises ``NoResultFound`` or ``MultipleResultsFound`` otherwise."""
        row = self.one_or_none(conn, params)
        if row is None:
            raise NoResultFound("no row was found when one was required")
        return row

    def one_or_none(self, conn: Connection, params: Params) -> RowT | None:
        found = self.rows(conn, params)
        if len(found) > 1:
            raise MultipleResultsFound("multiple rows were found when one or none was required")
        return found[0] if found else None

    def first(self, conn: Connection, params: Params) -> RowT | None:
        found = self.rows(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: Params) -> None:
        """Execute a statement that returns nothing."""
        plan = self._plan(conn)
        if plan is None:
            conn.execute(self.clause, dict(params))
        else:
            plan.run(conn, params)

    def run_many(self, conn: Connection, many: Sequence[Params]) -> None:
        """Execute a statement that returns nothing once per parameter set (executemany)."""
        plan = self._plan(conn)
        if plan is None:
            conn.execute(self.clause, [dict(params) for params in many])
        else:
            plan.run_many(conn, many)

    def _plan(self, conn: Connection) -> Plan | None:
        dialect = conn.dialect
        if not conn.in_transaction():
            return None
        try:
            return self._plans[dialect]
        except KeyError:
            plan = self._plans[dialect] = compile_plan(self.clause, dialect, self._make)
            return plan


def insert_once(conn: Connection, table: Table, values: Mapping[str, Any]) -> Any | None:
    """``INSERT … ON CONFLICT DO NOTHING``, how Reactor writes anything that must exist once
    (I2): the new row's primary key (its first column), or None when a unique key already
    held the row."""
    statement = _insert(conn.dialect.name, table, tuple(sorted(values)))
    row = statement.first(conn, values)
    return None if row is None else row[0]


def insert_many_once(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: tuple[str, ...] | None = None,
) -> list[Any | None]:
    """``insert_once`` for many rows (all with the same keys) in one statement on Postgres: for
    each row, in order, its new primary key, or None when a unique key already held it.

    ``key`` names columns that tell the rows apart (by default the primary key), by which the
    stored rows are matched back to ``rows``.
    """
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        # On SQLite a prepared insert per row, on the driver, costs less than one statement.
        return [insert_once(conn, table, row) for row in rows]
    primary = next(iter(table.primary_key.columns)).name
    key = key or (primary,)
    stored = postgres.insert_rows(conn, table, rows, returning=(primary, *key))
    found = {tuple(found[1:]): found[0] for found in stored}
    return [found.get(tuple(row[name] for name in key)) for row in rows]


def insert_all(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows (all with the same keys) that must not exist yet: one statement on
    Postgres; on SQLite one prepared statement run for each row on the driver."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        postgres.insert_rows(conn, table, rows)
    else:
        _plain_insert(table, tuple(rows[0])).run_many(conn, rows)


@cache
def _plain_insert(table: Table, columns: tuple[str, ...]) -> Statement[Any]:
    return Statement(table.insert().values({column: bindparam(column) for column in columns}))


@cache
def _insert(dialect: str, table: Table, columns: tuple[str, ...]) -> Statement[Any]:
    # Built on first use, once per dialect, table and column set: building one per row cost
    # more than running it. Only the postgresql and sqlite dialects have on_conflict_do_nothing.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {column: bindparam(column) for column in columns}
    statement = insert(table).values(values).on_conflict_do_nothing()
    # rowcount is -1 for inserts under psycopg 3; RETURNING says for sure.
    return Statement(statement.returning(*table.primary_key.columns))
