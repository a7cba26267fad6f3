"""What the benchmarks share: a throwaway migrated Postgres database, bulk-loaded history, and
timing summaries."""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from reactor.storage import migrations, normalise_url
from reactor.strictjson import canonical_json

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = os.environ.get("REACTOR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")


def add_postgres_option(parser: argparse.ArgumentParser) -> None:
    """``--postgres-url``: an admin URL on which the benchmark may create and drop a database."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REACTOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL (default: $REACTOR_BENCH_POSTGRES_URL or %(default)s)",
    )


def add_redis_option(parser: argparse.ArgumentParser) -> None:
    """``--redis-url``: a Redis the benchmark's queues may use (their keys are removed after)."""
    parser.add_argument(
        "--redis-url", default=REDIS_URL, help="(default: $REACTOR_BENCH_REDIS_URL or %(default)s)"
    )


def command_line(
    doc: str,
    options: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    report: Callable[[argparse.Namespace, dict[str, Any]], str],
) -> None:
    """The ``main`` of a benchmark made of ``options`` and ``run`` (what ``run_all`` calls):
    parse the arguments, run, print the report, and write the result with ``--json FILE``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    options(parser)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(args)
    print(report(args, result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """Create and migrate ``bench_<random>``, yield its URL, and always drop it afterwards.

    Dispose every engine on the database before leaving the block; ``WITH (FORCE)`` ends any
    connection left over so the database goes in every case.
    """
    admin = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = admin.url.set(database=name).render_as_string(hide_password=False)
            migrations.upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver suffix, for ``psycopg.connect``."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


Row = tuple[Any, ...]
_EVENT_COLUMNS = (
    "id, type, member_id, interaction_id, dedupe_key, body_hash, payload, status, "
    "received_at, occurred_at, enqueued_at, processed_at, rules_version"
)


def processed_row(document: dict[str, Any], occurred: datetime, delay: timedelta) -> Row:
    """The ``events`` row the worker leaves for an interaction received ``delay`` after
    ``occurred`` and processed at once; ``document`` is its envelope, with ``data.id``."""
    payload = canonical_json(document)
    data = document["data"]
    received = occurred + delay
    return (
        document["id"],
        document["type"],
        data["profile_id"],
        data["id"],
        f"{document['type']} {data['id']}",
        hashlib.sha256(payload.encode()).hexdigest(),
        payload,
        "processed",
        received,
        occurred,
        received,
        received + timedelta(milliseconds=50),
        "bench",
    )


def copy_members(conn: psycopg.Connection[Any], ids: Iterable[str], created_at: datetime) -> None:
    with conn.cursor() as cur, cur.copy("COPY members (id, created_at) FROM STDIN") as copy:
        for member_id in ids:
            copy.write_row((member_id, created_at))


def copy_events(conn: psycopg.Connection[Any], rows: Iterable[Row]) -> None:
    """COPY rows made by ``processed_row`` into ``events``; the caller commits."""
    with conn.cursor() as cur, cur.copy(f"COPY events ({_EVENT_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def settle(conn: psycopg.Connection[Any]) -> None:
    """VACUUM, ANALYZE and CHECKPOINT after a bulk load.

    Otherwise autovacuum and the checkpoint the load set off would run during the measurement,
    not because of it; a table that grew over months would not have them pending either.
    """
    conn.commit()
    conn.autocommit = True
    try:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    finally:
        conn.autocommit = False


@dataclass(frozen=True)
class Summary:
    """Timings of one measured operation, in milliseconds."""

    count: int
    best: float
    median: float
    p95: float

    @classmethod
    def of(cls, timings_ms: Sequence[float]) -> Summary:
        ordered = sorted(timings_ms)
        # Nearest-rank percentile: a value that was actually measured.
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        return cls(len(ordered), ordered[0], statistics.median(ordered), p95)

    def __str__(self) -> str:
        return (
            f"median {self.median:7.2f} ms  p95 {self.p95:7.2f} ms  best {self.best:7.2f} ms"
            f"  (n={self.count})"
        )
