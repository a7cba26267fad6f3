"""The sweeper (I1): events left pending past a timeout are enqueued again.

Redis is only the doorbell. A flushed Redis, a lost message or a killed worker leaves an
accepted event pending in the database; this finds it. Dramatiq's own requeue of a dead
worker's messages happens only by chance (pitfalls.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import Engine, select, update

from reactor import tables
from reactor.db import reader

log = structlog.get_logger(__name__)


def sweep(
    engine: Engine,
    enqueue: Callable[[str], None],
    older_than: timedelta,
    *,
    now: datetime | None = None,
    batch: int = 1000,
) -> int:
    """Enqueue pending events last enqueued before ``now - older_than``; return how many.

    Each event is claimed by moving its ``enqueued_at`` forward only if it still holds the value
    we read, so several sweepers (one per worker process) do not all enqueue the same event.
    """
    now = now or datetime.now(UTC)
    events = tables.events
    with reader(engine).connect() as conn:
        stale = conn.execute(
            select(events.c.id, events.c.enqueued_at)
            .where(events.c.status == "pending", events.c.enqueued_at < now - older_than)
            .order_by(events.c.enqueued_at)
            .limit(batch)
        ).all()
    if not stale:
        return 0
    claimed = []
    with engine.begin() as conn:
        for event_id, enqueued_at in stale:
            moved = conn.execute(
                update(events)
                .where(
                    events.c.id == event_id,
                    events.c.status == "pending",
                    events.c.enqueued_at == enqueued_at,
                )
                .values(enqueued_at=now)
            )
            if moved.rowcount == 1:
                claimed.append(event_id)
    for event_id in claimed:
        enqueue(event_id)
    log.info("swept stale events", count=len(claimed))
    return len(claimed)


def requeue_all(engine: Engine, enqueue: Callable[[str], None]) -> int:
    """Put failed events back to pending and enqueue every pending event (``reactor requeue``)."""
    now = datetime.now(UTC)
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
