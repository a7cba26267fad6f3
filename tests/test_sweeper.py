"""The sweeper (I1): stale pending events are enqueued again, once per sweep, by one sweeper."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reactor.runtime import Runtime
from reactor.storage import make_engine, tables
from reactor.sweeper import sweep
from tests.conftest import make_settings
from tests.support import store, wait_for

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_only_events_pending_past_the_timeout_are_enqueued(engine: sa.Engine) -> None:
    """Old pending events are swept; recent ones and processed ones are left alone."""
    store(engine, "old", at=T0)
    store(engine, "recent", at=T0 + timedelta(seconds=50))
    store(engine, "done", at=T0)
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.events).where(tables.events.c.id == "done").values(status="processed")
        )
    sent: list[str] = []
    now = T0 + timedelta(seconds=60)
    assert sweep(engine, sent.append, timedelta(seconds=30), now=now) == 1
    assert sent == ["old"]
    # The sweep restarted the old event's clock: the next sweep leaves it alone.
    assert sweep(engine, sent.append, timedelta(seconds=30), now=now + timedelta(seconds=1)) == 0


def test_racing_sweepers_enqueue_each_stale_event_once(engine: sa.Engine) -> None:
    """One sweeper per worker process: the compare-and-set on enqueued_at picks one of them."""
    for i in range(30):
        store(engine, f"evt_{i}", at=T0)
    sent: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def enqueue(event_id: str) -> None:
        with lock:
            sent.append(event_id)

    def run() -> None:
        barrier.wait()
        sweep(engine, enqueue, timedelta(seconds=30), now=T0 + timedelta(minutes=5))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == sorted(f"evt_{i}" for i in range(30))


def test_a_restarted_embedded_reactor_processes_what_a_crash_left_pending(
    sqlite_url: str, rules_dir: Path
) -> None:
    """Events accepted by a process that died before processing them are picked up on restart."""
    settings = make_settings(
        database_url=sqlite_url,
        rules_path=rules_dir,
        sweep_after_seconds=0.5,
        sweep_interval_seconds=0.2,
    )
    engine = make_engine(sqlite_url)
    for i in range(5):
        store(engine, f"evt_{i}", at=datetime.now(UTC))  # stored, never enqueued: the "crash"
    runtime = Runtime(settings)
    runtime.start_embedded_worker()
    try:

        def processed() -> bool:
            with engine.connect() as conn:
                statuses = conn.execute(sa.select(tables.events.c.status)).scalars().all()
            return set(statuses) == {"processed"}

        wait_for(processed, timeout=20, what="the sweeper to bring the events back")
    finally:
        runtime.stop()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.ledger)).scalar() == 5
    engine.dispose()


def test_a_sweep_waits_while_a_backlog_is_queued(sqlite_url: str, rules_dir: Path) -> None:
    """With more messages waiting than one sweep sends, stale events are not sent again."""
    from reactor.runtime import SWEEP_BATCH

    runtime = Runtime(
        make_settings(database_url=sqlite_url, rules_path=rules_dir, sweep_after_seconds=0.01)
    )
    try:
        store(runtime.engine, "stale", at=T0)
        for n in range(SWEEP_BATCH + 1):
            runtime.enqueue(f"queued-{n}")  # nobody consumes: a backlog
        assert runtime.sweep_once() == 0
        runtime.broker.flush_all()  # the backlog is gone (worked off, or lost)
        assert runtime.sweep_once() == 1
    finally:
        runtime.stop()


@pytest.mark.redis
def test_the_redis_backlog_is_measured(
    redis_url: str, queue_namespace: str, sqlite_url: str, rules_dir: Path
) -> None:
    """On Redis the waiting count is the length of Dramatiq's queue list."""
    from reactor.broker import waiting

    runtime = Runtime(
        make_settings(
            database_url=sqlite_url,
            rules_path=rules_dir,
            broker_url=redis_url,
            queue_namespace=queue_namespace,
        )
    )
    try:
        for n in range(3):
            runtime.enqueue(f"queued-{n}")
        assert waiting(runtime.broker, "events") == 3
    finally:
        runtime.stop()
