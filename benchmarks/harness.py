"""What every benchmark shares: a throwaway migrated Postgres database and timing summaries."""

from __future__ import annotations

import argparse
import math
import os
import statistics
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from reactor import migrations
from reactor.db import normalise_url

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def add_postgres_option(parser: argparse.ArgumentParser) -> None:
    """``--postgres-url``: an admin URL on which the benchmark may create and drop a database."""
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REACTOR_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        help="admin URL (default: $REACTOR_BENCH_POSTGRES_URL or %(default)s)",
    )


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
