"""Real Dramatiq worker processes on Redis + Postgres: throughput, crashes, flushed Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis
import sqlalchemy as sa

from reactor.app import create_app
from reactor.runtime import Runtime
from reactor.storage import tables
from tests.support import Workers, encode, interaction, post, serve_app, wait_for
from tests.support import store as store_event

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def runtime(redis_runtime: Runtime) -> Runtime:
    return redis_runtime


def counts(engine: sa.Engine) -> dict[str, int]:
    events, ledger = tables.events, tables.ledger
    with engine.connect() as conn:
        by_status = dict(
            conn.execute(
                sa.select(events.c.status, sa.func.count()).group_by(events.c.status)
            ).all()
        )
        entries = conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one()
        total = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(ledger.c.points), 0))
        ).scalar_one()
        per_event_counts = (
            sa.select(sa.func.count().label("n"))
            .select_from(ledger)
            .group_by(ledger.c.event_id)
            .subquery()
        )
        per_event = conn.execute(sa.select(sa.func.max(per_event_counts.c.n))).scalar_one()
    return {
        "processed": by_status.get("processed", 0),
        "pending": by_status.get("pending", 0),
        "failed": by_status.get("failed", 0),
        "entries": entries,
        "points": int(total),
        "max_per_event": int(per_event or 0),
    }


def store(runtime: Runtime, count: int, members: int) -> list[str]:
    """Accept ``count`` events straight into the inbox (no enqueue), spread over ``members``."""
    ids = [f"evt_{i}" for i in range(count)]
    for i, event_id in enumerate(ids):
        store_event(runtime.engine, event_id, member=f"m{i % members}")
    return ids


def test_two_hundred_events_over_four_worker_processes_award_exactly_two_hundred(
    runtime: Runtime, worker_env: dict[str, str]
) -> None:
    """200 events for one member through HTTP and 4 worker processes: balance 200, ledger 200."""
    workers = Workers(worker_env, processes=4, threads=2)
    try:
        with (
            serve_app(create_app(runtime, run_workers=False)) as base,
            httpx.Client(timeout=10) as client,
        ):
            started = time.monotonic()
            for i in range(200):
                assert post(client, base, encode(interaction(f"evt_{i}"))).status_code == 202
            wait_for(
                lambda: counts(runtime.engine)["processed"] == 200, timeout=120, what="200 events"
            )
            elapsed = time.monotonic() - started
            assert client.get(f"{base}/members/m1").json()["points"] == 200
        print(f"\n4 worker processes: 200 events in {elapsed:.2f}s = {200 / elapsed:.0f} events/s")
    finally:
        workers.stop()
    assert counts(runtime.engine) == {
        "processed": 200,
        "pending": 0,
        "failed": 0,
        "entries": 200,
        "points": 200,
        "max_per_event": 1,
    }


@pytest.mark.parametrize("doorbell", [1, 50], ids=["a-message-per-event", "batches-of-50"])
def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(
    runtime: Runtime, worker_env: dict[str, str], doorbell: int
) -> None:
    """SIGKILL the workers mid-batch, start new ones: every event processed exactly once; with
    one message per event, and with the receiver's doorbells (one message per stored batch,
    processed in one transaction each)."""
    total = 1500
    ids = store(runtime, total, members=5)
    first = Workers(worker_env, processes=2, threads=4)
    try:
        for start in range(0, total, doorbell):
            runtime.enqueue_many(ids[start : start + doorbell])
        wait_for(
            lambda: counts(runtime.engine)["processed"] >= 100,
            timeout=60,
            what="processing to start",
        )
        first.kill()
    finally:
        first.stop()
    at_kill = counts(runtime.engine)
    assert at_kill["processed"] < total, "the batch finished before the kill; nothing was tested"
    second = Workers(worker_env, processes=2, threads=4)
    try:
        wait_for(
            lambda: counts(runtime.engine)["processed"] == total, timeout=180, what="every event"
        )
    finally:
        second.stop()
    assert counts(runtime.engine) == {
        "processed": total,
        "pending": 0,
        "failed": 0,
        "entries": total,
        "points": total,
        "max_per_event": 1,
    }


def test_events_survive_a_flushed_redis(
    runtime: Runtime, worker_env: dict[str, str], redis_url: str
) -> None:
    """Accepted events whose queue messages were flushed away are swept back and processed once."""
    ids = store(runtime, 100, members=3)
    for event_id in ids:
        runtime.enqueue(event_id)
    client = redis.Redis.from_url(redis_url)
    namespace = worker_env["REACTOR_QUEUE_NAMESPACE"]
    keys = list(client.scan_iter(match=f"{namespace}*"))
    assert keys, "the messages were never in Redis"
    client.delete(*keys)  # FLUSHDB, limited to this test's namespace so parallel runs survive
    workers = Workers(worker_env, processes=1, threads=4)
    try:
        wait_for(lambda: counts(runtime.engine)["processed"] == 100, timeout=60, what="the sweeper")
    finally:
        workers.stop()
    assert counts(runtime.engine) == {
        "processed": 100,
        "pending": 0,
        "failed": 0,
        "entries": 100,
        "points": 100,
        "max_per_event": 1,
    }


def test_two_receiver_processes_and_the_workers_award_exactly_once(
    runtime: Runtime, worker_env: dict[str, str]
) -> None:
    """`reactor serve --processes 2` shares one port; what both receive is processed once."""
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "reactor", "serve", "--port", str(port), "--processes", "2"],
        env=worker_env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    workers = Workers(worker_env, processes=1, threads=4)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base), timeout=30, what="two receiver processes")
        with httpx.Client(timeout=10) as client:
            for i in range(60):
                body = encode(interaction(f"evt_{i}", member=f"m{i % 6}"))
                assert post(client, base, body).status_code == 202
        wait_for(lambda: counts(runtime.engine)["processed"] == 60, timeout=60, what="60 events")
    finally:
        workers.stop()
        os.killpg(serve.pid, signal.SIGTERM)
        serve.wait(timeout=30)
    assert counts(runtime.engine) == {
        "processed": 60,
        "pending": 0,
        "failed": 0,
        "entries": 60,
        "points": 60,
        "max_per_event": 1,
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_bursts_posted_by_many_clients_newest_first_are_evaluated_in_event_time_order(
    runtime: Runtime, worker_env: dict[str, str], rules_dir: Path
) -> None:
    """I3 through the whole pipeline: 8 clients post two members' 20 reviews each at once,
    newest first, through group commit; then 2 worker processes take the doorbells. Every
    member's fifth review by event time, and only it, earns the 50 of `count() == 5`."""
    (rules_dir / "fifth.yaml").write_text(
        "rules:\n  - id: fifth\n    on: interaction.created\n    when: count() == 5\n"
        "    then: [{points: 50}]\n"
    )
    base_time = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    documents = [
        interaction(
            f"evt_{m}_{i}", member=m, interacted_at=(base_time + timedelta(minutes=i)).isoformat()
        )
        for m in ("m1", "m2")
        for i in range(20)
    ]
    documents.sort(key=lambda d: d["data"]["interacted_at"], reverse=True)
    with (
        serve_app(create_app(runtime, run_workers=False)) as base,
        ThreadPoolExecutor(8) as pool,
    ):

        def send(document: dict[str, object]) -> int:
            with httpx.Client(timeout=10) as client:
                return post(client, base, encode(document)).status_code

        assert set(pool.map(send, documents)) == {202}
    workers = Workers(worker_env, processes=2, threads=4)
    try:
        wait_for(lambda: counts(runtime.engine)["processed"] == 40, timeout=60, what="40 events")
    finally:
        workers.stop()
    with runtime.engine.connect() as conn:
        fired = conn.execute(
            sa.select(tables.decisions.c.event_id).where(
                tables.decisions.c.rule_id == "fifth", tables.decisions.c.outcome == "fired"
            )
        ).scalars()
        assert sorted(fired) == ["evt_m1_4", "evt_m2_4"]
        points = dict(conn.execute(sa.select(tables.members.c.id, tables.members.c.points)).all())
    assert points == {"m1": 70, "m2": 70}
