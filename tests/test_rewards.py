"""Rewards members can see, through the real pipeline: benefits, levels, reversals, identities."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from reactor import tables
from reactor.app import create_app
from reactor.runtime import Runtime
from reactor.signatures import WebhookVerifier
from tests.conftest import make_settings
from tests.support import encode, interaction, post, serve_app, wait_for

RULES = """
benefits:
  - id: coffee-voucher
    name: Free coffee
    expires_after: 30d
  - id: welcome-gift
    name: Welcome gift

achievements:
  - id: prolific-reviewer
    name: Prolific reviewer
    levels:
      - {at: 3, name: Bronze, then: [{points: 100}, {benefit: coffee-voucher}]}
      - {at: 5, name: Silver}

rules:
  - id: review
    on: interaction.created
    when: action == "feedback"
    then:
      - points: 10
      - achievement: prolific-reviewer
  - id: first-review-gift
    on: interaction.created
    when: action == "feedback" and count(action="feedback") == 1
    then:
      - benefit: welcome-gift
  - id: loyalty-bonus
    on: interaction.created
    when: action == "feedback"
    on_revoke: keep
    then:
      - points: 1
"""


@pytest.fixture
def rules_path(tmp_path: Path) -> Path:
    path = tmp_path / "reward-rules"
    path.mkdir()
    (path / "rewards.yaml").write_text(RULES)
    return path


@pytest.fixture
def app(sqlite_url: str, rules_path: Path) -> Iterator[tuple[str, httpx.Client]]:
    runtime = Runtime(make_settings(database_url=sqlite_url, rules_path=rules_path))
    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=10) as client:
        yield base, client


def send(base: str, client: httpx.Client, document: dict[str, Any]) -> dict[str, Any]:
    response = post(client, base, encode(document))
    assert response.status_code in (200, 202), response.text

    def done() -> dict[str, Any] | None:
        event = client.get(f"{base}/events/{document['id']}").json()
        return event if event["status"] == "processed" else None

    return wait_for(done, timeout=20, what=f"{document['id']} to be processed")  # type: ignore[no-any-return]


def review(n: int, day: int) -> dict[str, Any]:
    return interaction(
        f"evt_{n}", interaction_id=f"int_{n}", interacted_at=f"2026-11-{day:02d}T10:00:00Z"
    )


def deletion(event_id: str, interaction_id: str) -> dict[str, Any]:
    data = {**interaction("x")["data"], "id": interaction_id}
    return {"id": event_id, "type": "interaction.deleted", "data": data}


def test_a_members_full_story(app: tuple[str, httpx.Client]) -> None:
    """Reviews → points → Bronze → level reward and benefit → a review deleted → reversal."""
    base, client = app
    for n in (1, 2, 3):
        send(base, client, review(n, n))
    third = client.get(f"{base}/events/evt_3").json()
    fired = {d["rule_id"]: d for d in third["decisions"]}
    assert fired["review"]["values"]["levels_reached"] == [
        {"achievement": "prolific-reviewer", "level": 1, "name": "Bronze"}
    ]
    member = client.get(f"{base}/members/m1").json()
    assert member["points"] == 3 * 10 + 3 * 1 + 100
    assert member["achievements"] == [
        {
            "id": "prolific-reviewer",
            "name": "Prolific reviewer",
            "period": "lifetime",
            "progress": 3,
            "level": "Bronze",
            "level_number": 1,
            "next_level_at": 5,
        }
    ]
    benefits = {b["benefit"]: b for b in member["benefits"]}
    assert benefits["welcome-gift"]["status"] == "active"
    assert benefits["coffee-voucher"]["issued_at"] == "2026-11-03T10:00:00+00:00"
    assert benefits["coffee-voucher"]["expires_at"] == "2026-12-03T10:00:00+00:00"

    removed = send(base, client, deletion("del_1", "int_1"))
    reversal = next(d for d in removed["decisions"] if d["rule_id"] == "reactor.reversal")
    assert reversal["outcome"] == "fired"
    reversed_ = reversal["values"]["reversed"]
    assert {"points": -10, "reverses": reversed_[0]["reverses"], "rule_id": "review"} in reversed_
    assert {"achievement": "prolific-reviewer", "by": -1} in reversed_

    member = client.get(f"{base}/members/m1").json()
    # The review's 10 points go; the kept bonus, Bronze and its rewards stay.
    assert member["points"] == 2 * 10 + 3 * 1 + 100
    [achievement] = member["achievements"]
    assert (achievement["progress"], achievement["level"], achievement["next_level_at"]) == (
        2,
        "Bronze",
        5,
    )
    statuses = {b["benefit"]: b["status"] for b in member["benefits"]}
    assert statuses == {"welcome-gift": "revoked", "coffee-voucher": "active"}
    ledger = client.get(f"{base}/members/m1/ledger").json()["entries"]
    reversals = [e for e in ledger if e["kind"] == "reversal"]
    assert [(e["points"], e["rule_id"], e["event_id"]) for e in reversals] == [
        (-10, "review", "evt_1")
    ]
    assert sum(e["points"] for e in ledger) == member["points"]


def test_a_deletion_delivered_twice_reverses_once(app: tuple[str, httpx.Client]) -> None:
    """The same deletion again is a duplicate; a redelivered one finds the reversal done."""
    base, client = app
    send(base, client, review(1, 1))
    send(base, client, deletion("del_1", "int_1"))
    again = post(client, base, encode(deletion("del_1", "int_1")))
    assert again.json()["status"] == "duplicate"
    other_id = post(client, base, encode(deletion("del_2", "int_1")))
    assert other_id.json()["status"] == "duplicate"
    assert client.get(f"{base}/members/m1").json()["points"] == 1


def test_a_deletion_before_its_creation_leaves_no_phantom(app: tuple[str, httpx.Client]) -> None:
    """Deleted first, created later: the late creation earns nothing and counts nowhere."""
    base, client = app
    first = send(base, client, deletion("del_1", "int_1"))
    assert [d["reason"] for d in first["decisions"]] == ["nothing_to_reverse"]
    late = send(base, client, review(1, 1))
    assert {d["reason"] for d in late["decisions"]} == {"deleted"}
    member = client.get(f"{base}/members/m1").json()
    assert (member["points"], member["achievements"], member["benefits"]) == (0, [], [])
    # And it is not history: the next review is the member's first.
    send(base, client, review(2, 2))
    statuses = [b["benefit"] for b in client.get(f"{base}/members/m1").json()["benefits"]]
    assert statuses == ["welcome-gift"]


def test_one_event_jumping_several_levels_reaches_each_once(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Progress by an expression that jumps past two levels gives both levels' rewards once."""
    path = tmp_path / "jump"
    path.mkdir()
    (path / "r.yaml").write_text(
        "achievements:\n"
        "  - id: distance\n    levels:\n"
        "      - {at: 1000, name: Bronze, then: [{points: 10}]}\n"
        "      - {at: 5000, name: Silver, then: [{points: 50}]}\n"
        "      - {at: 10000, name: Gold, then: [{points: 100}]}\n"
        "rules:\n  - id: swim\n    on: swim.completed\n"
        "    then: [{achievement: {id: distance, by: 'data.metres'}}]\n"
    )
    runtime = Runtime(make_settings(database_url=sqlite_url, rules_path=path))
    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=10) as client:
        swim = {"id": "s1", "type": "swim.completed", "data": {"profile_id": "m1", "metres": 6000}}
        decision = send(base, client, swim)["decisions"][0]
        assert [lvl["name"] for lvl in decision["values"]["levels_reached"]] == ["Bronze", "Silver"]
        member = client.get(f"{base}/members/m1").json()
        assert member["points"] == 60
        assert member["achievements"][0]["next_level_at"] == 10000


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
        wait_for(
            lambda: client.get(f"{base}/members/{members[0]}").json()["points"] == 100,
            timeout=60,
            what="all 100 events to be processed",
        )


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
                send(base, client, review(n, n))
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


MONTHLY = """
benefits:
  - id: swim-cap
    name: Swim cap
    expires_after: 30d
achievements:
  - id: monthly-distance
    name: 10 km this month
    per: month
    levels:
      - {at: 10000, name: Done, then: [{benefit: swim-cap}]}
rules:
  - id: swim
    on: swim.completed
    timezone: Australia/Melbourne
    then:
      - achievement: {id: monthly-distance, by: "data.metres"}
  - id: already-halfway
    on: swim.completed
    timezone: Australia/Melbourne
    when: member.achievements["monthly-distance"] is not None
    then:
      - points: 1
"""


def test_a_recurring_achievement_restarts_each_month_in_the_rules_zone(
    sqlite_url: str, tmp_path: Path
) -> None:
    """per: month: progress restarts on the 1st (Melbourne time); earlier progress is visible
    to expressions through member.achievements; an old benefit shows as expired."""
    path = tmp_path / "monthly"
    path.mkdir()
    (path / "r.yaml").write_text(MONTHLY)
    runtime = Runtime(make_settings(database_url=sqlite_url, rules_path=path))

    def swim(n: int, when: str, metres: int) -> dict[str, Any]:
        data = {"profile_id": "m1", "metres": metres}
        return {"id": f"s{n}", "type": "swim.completed", "created_at": when, "data": data}

    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=10) as client:
        send(base, client, swim(1, "2025-10-10T00:00:00Z", 6000))
        second = send(base, client, swim(2, "2025-10-20T00:00:00Z", 6000))
        swim_decision = next(d for d in second["decisions"] if d["rule_id"] == "swim")
        assert swim_decision["values"]["levels_reached"][0]["name"] == "Done"
        bonus = next(d for d in second["decisions"] if d["rule_id"] == "already-halfway")
        assert bonus["outcome"] == "fired"  # the first swim's progress was visible
        # 14:00 UTC on Oct 31 is already November 1st in Melbourne: a new month, from zero.
        third = send(base, client, swim(3, "2025-10-31T14:00:00Z", 6000))
        swim_decision = next(d for d in third["decisions"] if d["rule_id"] == "swim")
        assert "levels_reached" not in swim_decision["values"]
        skipped = next(d for d in third["decisions"] if d["rule_id"] == "already-halfway")
        assert skipped["reason"] == "condition_false"
        with runtime.engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    tables.achievement_progress.c.period, tables.achievement_progress.c.progress
                )
            ).all()
        assert sorted(rows) == [("2025-10", 12000), ("2025-11", 6000)]
        member = client.get(f"{base}/members/m1").json()
        # Those months are over: no current progress; the cap expired 30 days after it was won.
        assert member["achievements"] == []
        [cap] = member["benefits"]
        assert (cap["benefit"], cap["status"], cap["expires_at"]) == (
            "swim-cap",
            "expired",
            "2025-11-19T00:00:00+00:00",
        )


def test_an_event_with_profile_id_and_identity_links_them(app: tuple[str, httpx.Client]) -> None:
    """After one event names both, an identity-only event lands on the same member."""
    base, client = app
    linked = interaction("evt_1", identity={"type": "email", "value": "Ann@Example.com"})
    send(base, client, linked)
    later = interaction("evt_2", identity={"type": "email", "value": "ann@example.com"})
    del later["data"]["profile_id"]
    assert send(base, client, later)["member_id"] == "m1"
