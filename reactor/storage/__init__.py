"""Storage: the schema, engines for SQLite and PostgreSQL, prebuilt statements, migrations.

Everything that differs between the two databases stays behind this package's interface
(``sqlite.py``, ``postgres.py``); the rest of Reactor imports from here only.
"""

from reactor.storage import tables
from reactor.storage.engines import (
    is_unavailable,
    lock_member,
    lock_members,
    make_engine,
    normalise_url,
    ping,
    reader,
    savepoint,
    unavailable_is_transient,
)
from reactor.storage.statements import Statement, insert_all, insert_many_once, insert_once

__all__ = [
    "Statement",
    "insert_all",
    "insert_many_once",
    "insert_once",
    "is_unavailable",
    "lock_member",
    "lock_members",
    "make_engine",
    "normalise_url",
    "ping",
    "reader",
    "savepoint",
    "tables",
    "unavailable_is_transient",
]
# Migrations are ``reactor.storage.migrations.upgrade``, imported where they run (the CLI, the
# tests): alembic takes a seventh of a second to import, which no worker needs to pay.
