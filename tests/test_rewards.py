"""Rewards through the real pipeline (HTTP, the embedded broker, workers): a race for one new
identity, and notifications to a flaky receiver. Effects and reversals themselves are tested
through the sandbox (``tests/test_effects.py``)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reactor.app import create_app
from reactor.runtime import QUEUE, Runtime
from reactor.signatures import WebhookVerifier
from reactor.storage import tables
from tests.conftest import make_settings
from tests.support import encode, interaction, post, serve_app, wait_for
from tests.test_effects import RULES


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "reward-rules"
    path.mkdir()
    (path / "rewards.yaml").write_text(RULES)
    return path


def send(runtime: Runtime, base: str, client: httpx.Client, document: dict[str, Any]) -> None:
    """POST ``document`` and wait until the in-process worker has processed it."""
    response = post(client, base, encode(document))
    assert response.status_code in (200, 202), response.text
    runtime.broker.join(QUEUE, timeout=20_000)


def review(n: int, day: int) -> dict[str, Any]:
    return interaction(
        f"evt_{n}", interaction_id=f"int_{n}", interacted_at=f"2026-11-{day:02d}T10:00:00Z"
    )


@pytest.mark.postgres
def test_a_hundred_concurrent_first_events_for_one_email_make_one_member(
    postgres_url: str, rules_dir: Path
) -> None:
    """Identity resolution under a race: 100 first events for one new email, one member."""
    runtime = Runtime(make_settings(database_url=postgres_url, rules_path=rules_dir))
    barrier = threading.Barrier(20)
    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=30) as client:

        def first_event(n: int) -> int:
            document = interaction(
                f"evt_{n}", identity={"type": "email", "value": "New@Example.com"}
            )
            del document["data"]["profile_id"]
            if n < 20:
                barrier.wait()
            return post(client, base, encode(document)).status_code

        with ThreadPoolExecutor(20) as pool:
            assert set(pool.map(first_event, range(100))) == {202}
        with runtime.engine.connect() as conn:
            members = conn.execute(sa.select(tables.members.c.id)).scalars().all()
            links = conn.execute(sa.select(tables.identities)).all()
        assert len(members) == 1
        assert [(r.type, r.value, r.member_id) for r in links] == [
            ("email", "new@example.com", members[0])
        ]
        runtime.broker.join(QUEUE, timeout=60_000)
        assert client.get(f"{base}/members/{members[0]}").json()["points"] == 100


def test_notifications_reach_a_flaky_receiver_signed_and_once_each(
    sqlite_url: str, rules_path: Path
) -> None:
    """A receiver failing its first 3 deliveries still gets every notification, each id once."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    verifier = WebhookVerifier([secret])
    received: list[tuple[str, dict[str, Any]]] = []
    failures = {"left": 3}
    lock = threading.Lock()
    receiver = FastAPI()

    @receiver.post("/hooks")
    async def hook(request: Request) -> JSONResponse:
        body = await request.body()
        verifier.verify(request.headers, body)  # raises (500) if the signature is wrong
        with lock:
            if failures["left"] > 0:
                failures["left"] -= 1
                return JSONResponse({"error": "down"}, 503)
            import json

            received.append((request.headers["webhook-id"], json.loads(body)))
        return JSONResponse({"ok": True})

    with serve_app(receiver) as hooks:
        settings = make_settings(
            database_url=sqlite_url,
            rules_path=rules_path,
            notify_url=f"{hooks}/hooks",
            notify_secret=secret,
        )
        runtime = Runtime(settings)
        with serve_app(create_app(runtime)) as base, httpx.Client(timeout=10) as client:
            for n in (1, 2, 3):
                send(runtime, base, client, review(n, n))
            with runtime.engine.connect() as conn:
                expected = conn.execute(
                    sa.select(sa.func.count()).select_from(tables.outbox)
                ).scalar()
            wait_for(
                lambda: len({i for i, _ in received}) == expected,
                timeout=60,
                what="every notification",
            )
    ids = [i for i, _ in received]
    assert len(set(ids)) == expected
    kinds = sorted({p["type"] for _, p in received})
    assert kinds == [
        "achievement.level_reached",
        "achievement.progressed",
        "benefit.issued",
        "points.awarded",
    ]
    level = next(p for _, p in received if p["type"] == "achievement.level_reached")
    assert level["data"]["name"] == "Bronze" and level["data"]["member_id"] == "m1"
