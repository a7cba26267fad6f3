"""The outbox (spec §7): one row per effect, signed delivery with backoff, claimed once by due()."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse

from reactor import outbox
from reactor.outbox import Deliverer, DeliveryFailed
from reactor.signatures import WebhookVerifier
from reactor.storage import tables
from reactor.strictjson import canonical_json
from tests.support import serve_app

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
SECRET = "whsec_c2VjcmV0LWtleS1mb3Itb3V0Ym91bmQtdGVzdHM="


@dataclass
class Receiver:
    """What a test receiver saw: every request's headers and body, and how often it failed."""

    url: str
    fail_first: int = 0
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[str]:
        return [h["webhook-id"] for h, _, status in self.requests if status == 204]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on loopback: /hooks fails each id's first ``fail_first`` tries."""
    app = FastAPI()
    state = Receiver(url="")

    @app.post("/hooks")
    async def hooks(request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        with state.lock:
            tries = sum(1 for h, _, _ in state.requests if h["webhook-id"] == headers["webhook-id"])
            status = 503 if tries < state.fail_first else 204
            state.requests.append((headers, body, status))
        return Response(status_code=status)

    @app.post("/moved")
    async def moved() -> Response:
        return RedirectResponse("/hooks", status_code=307)

    @app.post("/slow")
    async def slow() -> Response:
        await asyncio.sleep(1)
        return Response(status_code=204)

    with serve_app(app) as base:
        state.url = base
        yield state


def _write(engine: sa.Engine, key: str, now: datetime = T0, **data: object) -> str:
    with engine.begin() as conn:
        return outbox.write(
            conn, type="points.awarded", member_id="m1", key=key, data=data, now=now
        )


def _row(engine: sa.Engine, ntf_id: str) -> sa.Row[tuple[object, ...]]:
    with engine.connect() as conn:
        return conn.execute(sa.select(tables.outbox).where(tables.outbox.c.id == ntf_id)).one()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def test_writing_the_same_effect_twice_leaves_one_row_with_the_same_id(engine: sa.Engine) -> None:
    """A retried effect writes its notification again: the first row and its id stay."""
    first = _write(engine, "points.awarded ledger:1", points=5)
    second = _write(engine, "points.awarded ledger:1", T0 + timedelta(hours=1), points=7)
    assert first == second == "ntf_" + hashlib.sha256(b"points.awarded ledger:1").hexdigest()[:24]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.outbox)).scalar() == 1
    assert json.loads(str(_row(engine, first).payload))["data"]["points"] == 5


def test_the_payload_is_canonical_json_of_type_utc_timestamp_and_data(engine: sa.Engine) -> None:
    """The stored body is the Standard Webhooks shape with the member id inside data."""
    local = T0.astimezone(timezone(timedelta(hours=11)))
    ntf_id = _write(engine, "points.awarded ledger:2", local, points=5, rule_id="r")
    row = _row(engine, ntf_id)
    expected = {
        "type": "points.awarded",
        "timestamp": "2026-11-22T10:00:00Z",
        "data": {"points": 5, "rule_id": "r", "member_id": "m1"},
    }
    assert row.payload == canonical_json(expected)
    assert (row.status, row.attempts, row.type, row.member_id) == (
        "pending",
        0,
        "points.awarded",
        "m1",
    )
    assert row.next_attempt_at == row.created_at == T0
    assert row.delivered_at is None


def test_a_flaky_receiver_gets_every_notification_once_signed_under_a_stable_id(
    engine: sa.Engine, receiver: Receiver
) -> None:
    """Three 503s then success: retries reuse the id, every request verifies, none is lost."""
    receiver.fail_first = 3
    ids = [_write(engine, f"points.awarded ledger:{i}", points=i) for i in range(10)]
    with Deliverer(engine, f"{receiver.url}/hooks", SECRET) as deliverer:
        for ntf_id in ids:
            for _ in range(10):  # as the actor would: call again after each DeliveryFailed
                try:
                    assert deliverer.deliver(ntf_id) == "delivered"
                    break
                except DeliveryFailed:
                    continue
    verifier = WebhookVerifier([SECRET])
    for headers, body, _ in receiver.requests:
        verifier.verify(headers, body)
        assert body == str(_row(engine, headers["webhook-id"]).payload).encode()
    assert Counter(receiver.accepted()) == Counter(ids)
    tries = Counter(h["webhook-id"] for h, _, _ in receiver.requests)
    assert tries == {ntf_id: 4 for ntf_id in ids}
    for ntf_id in ids:
        row = _row(engine, ntf_id)
        assert (row.status, row.attempts, row.last_error) == ("delivered", 4, "HTTP 503")
        assert row.delivered_at is not None


def test_a_delivered_notification_is_not_delivered_again(
    engine: sa.Engine, receiver: Receiver
) -> None:
    """A redelivered message for a delivered row answers already_delivered and sends nothing."""
    ntf_id = _write(engine, "benefit.issued b1", benefit_id="b1")
    with Deliverer(engine, f"{receiver.url}/hooks", SECRET) as deliverer:
        assert deliverer.deliver(ntf_id) == "delivered"
        assert deliverer.deliver(ntf_id) == "already_delivered"
        assert deliverer.deliver("ntf_missing") == "unknown"
    assert len(receiver.requests) == 1
    assert _row(engine, ntf_id).attempts == 1


def test_a_receiver_that_is_down_is_retried_with_exponential_backoff(engine: sa.Engine) -> None:
    """Connection refused counts an attempt and waits 1s, 2s, 4s … up to the cap."""
    ntf_id = _write(engine, "points.reversed ledger:3", points=-5)
    now = T0
    with Deliverer(engine, _closed_port_url(), SECRET, max_backoff_seconds=5) as deliverer:
        for attempt, wait in enumerate([1, 2, 4, 5, 5], start=1):
            with pytest.raises(DeliveryFailed):
                deliverer.deliver(ntf_id, now=now)
            row = _row(engine, ntf_id)
            assert (row.status, row.attempts) == ("pending", attempt)
            assert row.next_attempt_at == now + timedelta(seconds=wait)
            assert "ConnectError" in str(row.last_error)
            now += timedelta(seconds=wait)


@pytest.mark.parametrize(
    ("path", "error"), [("/moved", "HTTP 307"), ("/slow", "ReadTimeout")], ids=["3xx", "timeout"]
)
def test_a_redirect_or_a_timeout_is_a_failed_attempt(
    engine: sa.Engine, receiver: Receiver, path: str, error: str
) -> None:
    """A redirect is not followed and a slow receiver times out: both are retried later."""
    ntf_id = _write(engine, "achievement.progressed a1", progress=1)
    deliverer = Deliverer(engine, receiver.url + path, SECRET, timeout=0.2)
    with deliverer, pytest.raises(DeliveryFailed):
        deliverer.deliver(ntf_id, now=T0)
    row = _row(engine, ntf_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert str(row.last_error).startswith(error)
    assert receiver.requests == []


def test_due_claims_only_due_pending_notifications(engine: sa.Engine) -> None:
    """Pending rows whose time has come are claimed, most overdue first, and then left alone."""
    early = _write(engine, "k early", T0 - timedelta(seconds=5))
    on_time = _write(engine, "k on time", T0)
    _write(engine, "k later", T0 + timedelta(seconds=1))
    done = _write(engine, "k done", T0 - timedelta(seconds=10))
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.outbox).where(tables.outbox.c.id == done).values(status="delivered")
        )
    assert outbox.due(engine, now=T0) == [early, on_time]
    assert _row(engine, early).next_attempt_at == T0 + outbox.CLAIM
    assert outbox.due(engine, now=T0 + timedelta(seconds=30)) == [outbox.notification_id("k later")]


def test_racing_due_calls_claim_each_notification_once(engine: sa.Engine) -> None:
    """Several sweepers at once: the compare-and-set on next_attempt_at picks one of them."""
    ids = [_write(engine, f"k {i}") for i in range(30)]
    claimed: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        mine = outbox.due(engine, now=T0 + timedelta(minutes=5))
        with lock:
            claimed.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(claimed) == sorted(ids)
