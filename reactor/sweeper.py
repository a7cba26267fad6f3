"""The sweeper (I1): events left pending past a timeout are enqueued again.

Redis is only the doorbell. A flushed Redis, a lost message or a killed worker leaves an
accepted event pending in the database; this finds it. Dramatiq's own requeue of a dead
worker's messages happens only by chance (docs/dependencies.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Column, ColumnElement, Engine, Table, select, update

from reactor.storage import reader, tables

log = structlog.get_logger(__name__)


def sweep(
    engine: Engine,
    enqueue: Callable[[str], None],
    older_than: timedelta,
    *,
    now: datetime,
    batch: int = 1000,
) -> int:
    """Enqueue pending events last enqueued before ``now - older_than``; return how many.

    Each event is claimed by moving its ``enqueued_at`` forward only if it still holds the value
    we read, so several sweepers (one per worker process) do not all enqueue the same event.
    """
    events = tables.events
    clock = events.c.enqueued_at
    claimed = claim_pending(engine, events, clock, clock < now - older_than, now, batch)
    if not claimed:
        return 0
    for event_id in claimed:
        enqueue(event_id)
    log.info("swept stale events", count=len(claimed))
    return len(claimed)


def claim_pending(
    engine: Engine,
    table: Table,
    clock: Column[datetime],
    due: ColumnElement[bool],
    moved_to: datetime,
    batch: int,
) -> list[str]:
    """Claim up to ``batch`` pending rows that are ``due``, oldest ``clock`` first.

    Each row is claimed by moving its ``clock`` to ``moved_to`` only if it still holds the value
    we read (a compare-and-set), so several sweepers never all claim the same row.
    """
    with reader(engine).connect() as conn:
        ready = conn.execute(
            select(table.c.id, clock)
            .where(table.c.status == "pending", due)
            .order_by(clock, table.c.id)
            .limit(batch)
        ).all()
    claimed = []
    if ready:
        with engine.begin() as conn:
            for row_id, seen in ready:
                moved = conn.execute(
                    update(table)
                    .where(table.c.id == row_id, table.c.status == "pending", clock == seen)
                    .values({clock.name: moved_to})
                )
                if moved.rowcount == 1:
                    claimed.append(row_id)
    return claimed


def requeue_all(engine: Engine, enqueue: Callable[[str], None], *, now: datetime) -> int:
    """Put failed events back to pending and enqueue every pending event (``reactor requeue``)."""
    events = tables.events
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.status == "failed")
            .values(status="pending", error=None, processed_at=None)
        )
        conn.execute(update(events).where(events.c.status == "pending").values(enqueued_at=now))
        ids = conn.execute(select(events.c.id).where(events.c.status == "pending")).scalars().all()
    for event_id in ids:
        enqueue(event_id)
    return len(ids)


class Periodic:
    """Runs ``work`` every ``interval`` seconds on a daemon thread until stopped."""

    def __init__(self, name: str, interval: float, work: Callable[[], object]) -> None:
        self._name = name
        self._interval = interval
        self._work = work
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"reactor-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._work()
            except Exception:
                # The database or broker may be down for a while; the next pass tries again.
                log.exception("periodic work failed", work=self._name)
