"""Group commit at the receiver (I1, I9): many webhooks, one transaction, one doorbell; each
still answered for itself, and none answered 202 unless its commit happened."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from reactor import inbox
from reactor.app import create_app
from reactor.envelope import validate_envelope
from reactor.errors import InputError
from reactor.inbox import Delivery, Receipt, accept_many
from reactor.runtime import Runtime
from reactor.storage import tables
from tests.conftest import make_settings
from tests.support import interaction

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def delivery(document: dict[str, Any]) -> Delivery:
    envelope, member = validate_envelope(document, None)
    return Delivery.of(envelope, member, document, NOW)


def answers(found: list[inbox.Answer]) -> list[str]:
    """Each answer as the HTTP status it becomes."""
    return [
        str(a.status) if isinstance(a, InputError) else ("202" if a.is_new else "200")
        for a in found
    ]


def stored(engine: sa.Engine) -> dict[str, str]:
    events = tables.events
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(events.c.id, events.c.member_id)).all())


def test_a_batch_is_answered_per_delivery_against_the_inbox_and_itself(
    engine: sa.Engine,
) -> None:
    """New, resent, reused ids and repeated interactions, in the inbox and within the batch."""
    first = accept_many(engine, [delivery(interaction("old", interaction_id="int_old"))])
    assert answers(first) == ["202"]
    batch = [
        delivery(interaction("a", member="m1")),
        delivery(interaction("old", interaction_id="int_old")),  # resent: duplicate
        delivery(interaction("old", member="m9")),  # the id reused for another body: 409
        delivery(interaction("b", member="m2", interaction_id="int_b")),
        delivery(interaction("a", member="m1")),  # resent within the batch
        delivery(interaction("a", member="m3")),  # reused within the batch: 409
        delivery(interaction("c", member="m2", interaction_id="int_b")),  # same interaction
        delivery(interaction("d", member="m2", interaction_id="int_old")),  # seen interaction
    ]
    assert answers(accept_many(engine, batch)) == [
        "202", "200", "409", "202", "200", "409", "200", "200"
    ]  # fmt: skip
    assert stored(engine) == {"old": "m1", "a": "m1", "b": "m2"}
    with engine.connect() as conn:
        members = set(conn.execute(sa.select(tables.members.c.id)).scalars())
    assert members == {"m1", "m2"}, "a delivery that was not stored created no member"


def test_identity_members_are_resolved_within_the_batch(engine: sa.Engine) -> None:
    """Two first events for one new email, in one batch, make one member."""
    by_email = {"identity": {"type": "email", "value": "Ana@Example.com"}}
    documents = [interaction(f"e{i}", **by_email) for i in range(2)]
    for document in documents:
        del document["data"]["profile_id"]
    found = accept_many(engine, [delivery(d) for d in documents])
    assert answers(found) == ["202", "202"]
    assert len(set(stored(engine).values())) == 1


def test_a_batch_that_races_another_writer_is_stored_one_by_one(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the multi-row insert meets a row the batch's read did not see (another receiver
    committed it meanwhile), the batch is rolled back and stored delivery by delivery."""
    accept_many(engine, [delivery(interaction("taken"))])
    blind = inbox._Seen({}, set())
    monkeypatch.setattr(inbox, "_seen", lambda conn, rows: blind)  # as if read before it landed
    batch = [
        delivery(interaction("new", member="m2")),
        delivery(interaction("taken")),
        delivery(interaction("taken", member="m7")),
    ]
    assert answers(accept_many(engine, batch)) == ["202", "200", "409"]
    assert stored(engine) == {"taken": "m1", "new": "m2"}


@pytest.fixture
def app_runtime(tmp_path: Path, rules_dir: Path) -> Iterator[Runtime]:
    """A runtime on SQLite whose group commit waits 250 ms, so concurrent requests share it
    even on a slow machine."""
    settings = make_settings(
        database_url=f"sqlite:///{tmp_path / 'batch.db'}",
        rules_path=rules_dir,
        intake_window_ms=250,
    )
    from reactor.storage import migrations

    migrations.upgrade(settings.database_url)
    runtime = Runtime(settings)
    yield runtime
    runtime.stop()


async def post_all(runtime: Runtime, documents: list[dict[str, Any]]) -> list[httpx.Response]:
    app = create_app(runtime, run_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://reactor") as client:
        return await asyncio.gather(
            *(
                client.post(
                    "/webhooks",
                    content=json.dumps(d),
                    headers={"content-type": "application/json"},
                )
                for d in documents
            )
        )


def test_concurrent_webhooks_share_one_commit_and_one_doorbell(
    app_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rung: list[list[str]] = []
    monkeypatch.setattr(app_runtime, "enqueue_many", lambda ids: rung.append(list(ids)))
    documents = [interaction(f"evt_{i}", member=f"m{i % 3}") for i in range(12)]
    documents.append(interaction("evt_0", member="m0"))  # a resend, in the same batch
    responses = asyncio.run(post_all(app_runtime, documents))
    assert [r.status_code for r in responses] == [202] * 12 + [200]
    assert [r.json()["status"] for r in responses[-2:]] == ["accepted", "duplicate"]
    assert len(rung) == 1, "one doorbell for the batch"
    assert sorted(rung[0]) == sorted(f"evt_{i}" for i in range(12))
    assert len(stored(app_runtime.engine)) == 12


def test_a_failed_commit_answers_503_to_every_request_of_its_batch(
    app_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit of the batch fails: all its requests get 503 with Retry-After, nothing of it
    is stored, no doorbell rings; the same requests sent again are all accepted."""
    rung: list[list[str]] = []
    monkeypatch.setattr(app_runtime, "enqueue_many", lambda ids: rung.append(list(ids)))
    engine = app_runtime.engine

    def refuse(conn: sa.Connection) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa.event.listen(engine, "commit", refuse)
    documents = [interaction(f"evt_{i}", member=f"m{i % 4}") for i in range(10)]
    responses = asyncio.run(post_all(app_runtime, documents))
    assert [r.status_code for r in responses] == [503] * 10
    assert {r.headers["retry-after"] for r in responses} == {"5"}
    assert stored(engine) == {} and rung == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.members)).scalar() == 0
    sa.event.remove(engine, "commit", refuse)
    again = asyncio.run(post_all(app_runtime, documents))
    assert [r.status_code for r in again] == [202] * 10
    assert len(stored(engine)) == 10


def test_invalid_requests_are_answered_alone_and_never_join_a_batch(
    app_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app_runtime, "enqueue_many", lambda ids: None)
    good = interaction("good")
    bad = interaction("bad")
    bad["data"]["signal"] = 7
    responses = asyncio.run(post_all(app_runtime, [good, bad]))
    assert [r.status_code for r in responses] == [202, 422]
    assert stored(app_runtime.engine) == {"good": "m1"}


def test_a_receipt_is_what_a_sync_caller_gets(app_runtime: Runtime) -> None:
    """``Receiver.receive`` stores one webhook in a batch of its own."""
    from reactor.receiver import Receiver

    rung: list[list[str]] = []
    receiver = Receiver(
        app_runtime.engine, None, lambda ids: rung.append(list(ids)), app_runtime.clock
    )
    body = json.dumps(interaction("solo")).encode()
    assert receiver.receive(body, {}) == Receipt("solo", "accepted")
    assert receiver.receive(body, {}) == Receipt("solo", "duplicate")
    with pytest.raises(InputError) as conflict:
        receiver.receive(json.dumps(interaction("solo", member="m2")).encode(), {})
    assert conflict.value.status == 409
    assert rung == [["solo"]]


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (sa.exc.ProgrammingError("INSERT", {}, Exception("no such column")), 500),
        (RuntimeError("a bug"), 500),
        (OperationalError("INSERT", {}, Exception("connection refused")), 503),
    ],
    ids=["a-query-error", "a-bug", "database-down"],
)
def test_what_goes_wrong_while_storing_is_answered_in_the_error_format(
    app_runtime: Runtime, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int
) -> None:
    """Through the fast path: a bug or a broken query is a logged 500, a database that is down
    a 503; each in the error format, nothing stored."""

    def fail(engine: sa.Engine, deliveries: object) -> list[inbox.Answer]:
        raise failure

    monkeypatch.setattr("reactor.receiver.accept_many", fail)
    (response,) = asyncio.run(post_all(app_runtime, [interaction("evt_x")]))
    assert response.status_code == status
    assert set(response.json()) == {"error", "message", "details"}
    assert stored(app_runtime.engine) == {}


def test_the_fast_path_takes_only_post_webhooks(app_runtime: Runtime) -> None:
    """Any other method or path goes on to FastAPI's routes."""

    async def other() -> list[httpx.Response]:
        app = create_app(app_runtime, run_workers=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://reactor") as client:
            return [await client.get("/webhooks"), await client.get("/events/nope")]

    wrong_method, unknown = asyncio.run(other())
    assert wrong_method.status_code == 405
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"


def test_a_client_that_leaves_mid_body_gets_no_answer_and_stores_nothing(
    app_runtime: Runtime,
) -> None:
    from reactor.app import WebhookFastPath

    sent: list[object] = []

    async def take(headers: object, stream: Any) -> Any:
        async for _ in stream:
            pass
        raise AssertionError("the body never ended")

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: object) -> None:
        sent.append(message)

    async def never(scope: object, receive: object, send: object) -> None:
        raise AssertionError("a webhook went on to FastAPI")

    scope = {"type": "http", "path": "/webhooks", "method": "POST", "headers": []}
    asyncio.run(WebhookFastPath(never, take)(scope, receive, send))
    assert sent == []
