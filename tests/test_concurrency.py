"""Exactly once under concurrency (I2, I3) on real Postgres: racing deliveries and redeliveries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from reactor.app import create_app
from reactor.processor import process_event
from reactor.runtime import Runtime
from reactor.signatures import signed_headers
from reactor.storage import tables
from tests.conftest import make_settings
from tests.support import encode, interaction, post, serve_app, store, wait_for

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def runtime(database_url: str, rules_dir: Path) -> Iterator[Runtime]:
    runtime = Runtime(make_settings(database_url=database_url, rules_path=rules_dir))
    yield runtime
    runtime.engine.dispose()


def ledger_rows(runtime: Runtime) -> list[tuple[str, int]]:
    with runtime.engine.connect() as conn:
        return [
            (r.event_id, r.points)
            for r in conn.execute(sa.select(tables.ledger.c.event_id, tables.ledger.c.points))
        ]


def race(count: int, work: object) -> list[object]:
    """Run ``work`` on ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def run(_: int) -> object:
        barrier.wait()
        return work()  # type: ignore[operator]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.postgres
def test_fifty_concurrent_deliveries_of_one_signed_event_make_one_ledger_entry(
    postgres_url: str, rules_dir: Path
) -> None:
    """50 racing HTTP deliveries of the same signed event: one 202, 49 duplicates, one award."""
    settings = make_settings(
        database_url=postgres_url, rules_path=rules_dir, webhook_secrets=SECRET
    )
    runtime = Runtime(settings)
    body = encode(interaction("evt_1"))
    headers = signed_headers(SECRET, "msg_1", body)
    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=30) as client:
        statuses = race(50, lambda: post(client, base, body, **headers).status_code)
        assert sorted(statuses) == [200] * 49 + [202]
        wait_for(
            lambda: client.get(f"{base}/events/evt_1").json()["status"] == "processed",
            timeout=20,
            what="the event to be processed",
        )
        # And 50 racing redeliveries of the processed event change nothing.
        race(50, lambda: runtime.enqueue("evt_1"))
        runtime.broker.join("events", timeout=20_000)
        assert client.get(f"{base}/members/m1").json()["points"] == 1
    assert ledger_rows(runtime) == [("evt_1", 1)]


def test_racing_workers_on_one_pending_event_award_once(runtime: Runtime) -> None:
    """Concurrent processing of the same pending event: one processes it, the rest do nothing."""
    store(runtime.engine, "evt_1")
    results = race(
        16,
        lambda: process_event(runtime.engine, runtime.rules, "evt_1", clock=runtime.clock).result,
    )
    assert results.count("processed") == 1
    assert set(results) <= {"processed", "already_processed"}
    assert ledger_rows(runtime) == [("evt_1", 1)]


def test_one_members_events_processed_concurrently_all_count(runtime: Runtime) -> None:
    """Events of one member racing on many threads are serialised; the balance is exact."""
    ids = [f"evt_{i}" for i in range(40)]
    for event_id in ids:
        store(runtime.engine, event_id)
    pending = iter(ids)
    lock = threading.Lock()

    def next_event() -> None:
        while True:
            with lock:
                event_id = next(pending, None)
            if event_id is None:
                return
            process_event(runtime.engine, runtime.rules, event_id, clock=runtime.clock)

    race(8, next_event)
    assert sorted(ledger_rows(runtime)) == sorted((i, 1) for i in ids)


def test_the_ledger_refuses_updates_and_deletes(runtime: Runtime) -> None:
    """I8: the database itself refuses to change or remove a ledger row."""
    store(runtime.engine, "evt_1")
    process_event(runtime.engine, runtime.rules, "evt_1", clock=runtime.clock)
    for statement in (sa.update(tables.ledger).values(points=1000), sa.delete(tables.ledger)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), runtime.engine.begin() as conn:
            conn.execute(statement)
    assert ledger_rows(runtime) == [("evt_1", 1)]
