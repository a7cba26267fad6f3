"""The process_event actor: retries transient failures, parks permanent ones, logs with ids."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from structlog.testing import capture_logs

from reactor.runtime import QUEUE, Runtime
from reactor.storage import reader, tables
from reactor.sweeper import requeue_all
from tests.conftest import make_settings
from tests.support import store, wait_for


@pytest.fixture
def runtime(database_url: str, rules_dir: Path) -> Iterator[Runtime]:
    """An embedded runtime whose lock waits are short and whose retries come quickly."""
    settings = make_settings(
        database_url=database_url,
        rules_path=rules_dir,
        lock_timeout_ms=200,
        min_backoff_ms=100,
        max_backoff_ms=200,
    )
    runtime = Runtime(settings)
    runtime.start_embedded_worker()
    yield runtime
    runtime.stop()


def status(runtime: Runtime, event_id: str) -> tuple[str, str | None]:
    with reader(runtime.engine).connect() as conn:
        row = conn.execute(
            sa.select(tables.events.c.status, tables.events.c.error).where(
                tables.events.c.id == event_id
            )
        ).one()
    return row.status, row.error


def test_a_member_locked_elsewhere_is_retried_until_the_lock_is_free(runtime: Runtime) -> None:
    """A lock timeout is transient: the actor retries with backoff and then processes once."""
    store(runtime.engine, "evt_1")
    holder = runtime.engine.connect()
    transaction = holder.begin()  # BEGIN IMMEDIATE on SQLite takes the writer lock
    holder.execute(
        sa.select(tables.members).where(tables.members.c.id == "m1").with_for_update()
    ).all()
    try:
        with capture_logs() as logs:
            runtime.enqueue("evt_1")
            wait_for(
                lambda: sum(e["event"] == "event will be retried" for e in logs) >= 2,
                timeout=20,
                what="two retries",
            )
        assert status(runtime, "evt_1") == ("pending", None)
    finally:
        transaction.rollback()
        holder.close()
    runtime.broker.join(QUEUE, timeout=20_000)
    assert status(runtime, "evt_1")[0] == "processed"
    with runtime.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.ledger)).scalar() == 1


def test_a_doorbell_whose_member_is_locked_elsewhere_is_retried_whole(runtime: Runtime) -> None:
    """The receiver's doorbell (several events in one message) retries as one, then processes
    every event once."""
    store(runtime.engine, "evt_1")
    store(runtime.engine, "evt_2", member="m2")
    holder = runtime.engine.connect()
    transaction = holder.begin()
    holder.execute(
        sa.select(tables.members).where(tables.members.c.id == "m1").with_for_update()
    ).all()
    try:
        with capture_logs() as logs:
            runtime.enqueue_many(["evt_1", "evt_2"])
            wait_for(
                lambda: any(e["event"] == "events will be retried" for e in logs),
                timeout=20,
                what="a retry",
            )
        assert status(runtime, "evt_2") == ("pending", None), "the batch is one transaction"
    finally:
        transaction.rollback()
        holder.close()
    runtime.broker.join(QUEUE, timeout=20_000)
    assert [status(runtime, e)[0] for e in ("evt_1", "evt_2")] == ["processed", "processed"]
    with runtime.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.ledger)).scalar() == 2


def test_an_event_that_cannot_be_processed_is_marked_failed_with_its_reason(
    runtime: Runtime,
) -> None:
    """A permanent error parks the event as failed, not retried forever; requeue brings it back."""
    store(runtime.engine, "evt_bad")
    with runtime.engine.begin() as conn:
        # Only corruption outside Reactor can do this; the receiver stores canonical JSON.
        conn.execute(
            sa.update(tables.events).where(tables.events.c.id == "evt_bad").values(payload="{")
        )
    runtime.enqueue("evt_bad")
    runtime.broker.join(QUEUE, timeout=20_000)
    assert status(runtime, "evt_bad")[0] == "failed"
    assert "stored payload is unreadable" in (status(runtime, "evt_bad")[1] or "")
    with runtime.engine.begin() as conn:
        conn.execute(
            sa.update(tables.events)
            .where(tables.events.c.id == "evt_bad")
            .values(payload='{"data": {"profile_id": "m1"}}')
        )
    assert requeue_all(runtime.engine, runtime.enqueue, now=runtime.clock.now()) == 1
    runtime.broker.join(QUEUE, timeout=20_000)
    assert status(runtime, "evt_bad")[0] == "processed"


def test_log_lines_while_processing_carry_the_event_and_member_ids(runtime: Runtime) -> None:
    """structlog contextvars bind event_id and member_id for the duration of one event only."""
    store(runtime.engine, "evt_1", member="m7")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        runtime.enqueue("evt_1")
        runtime.broker.join(QUEUE, timeout=20_000)
    handled = next(e for e in logs if e["event"] == "event handled")
    assert (handled["event_id"], handled["member_id"], handled["result"]) == (
        "evt_1",
        "m7",
        "processed",
    )
    assert structlog.contextvars.get_contextvars() == {}


def test_a_deferred_event_is_enqueued_again_until_its_member_catches_up(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more earlier events waiting than one transaction takes, the actor processes the
    oldest, sends the event again, and in the end every event of the member is processed."""
    monkeypatch.setattr(
        runtime, "settings", runtime.settings.model_copy(update={"worker_batch": 1})
    )
    base = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    ids = [f"evt_{i}" for i in range(5)]
    for i, event_id in enumerate(ids):
        store(runtime.engine, event_id, occurred=base + timedelta(minutes=i))
    with capture_logs() as logs:
        runtime.enqueue(ids[-1])  # only the newest rings the doorbell
        runtime.broker.join(QUEUE, timeout=20_000)
    assert [status(runtime, event_id)[0] for event_id in ids] == ["processed"] * 5
    results = [e["result"] for e in logs if e["event"] == "event handled"]
    assert results == ["deferred", "deferred", "deferred", "deferred", "processed"]
