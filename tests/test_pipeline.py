"""The embedded default end to end: webhook → inbox → in-process Dramatiq worker → ledger."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from reactor.app import create_app
from reactor.runtime import QUEUE, Runtime
from tests.conftest import make_settings
from tests.support import encode, interaction, post, serve_app

RULES = """
rules:
  - id: review
    name: Points for a review
    on: interaction.created
    when: action == "feedback" and interacted_type == "rating"
    then:
      - points: 10
  - id: stars
    on: interaction.created
    when: meta.stars is not None
    then:
      - points: "meta.stars * 2"
  - id: broken-division
    on: interaction.created
    then:
      - points: "10 // (signal - 1)"
  - id: swims
    on: swim.completed
    then:
      - points: "data.distance_m // 100"
"""


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path) -> Runtime:
    rules = tmp_path / "pipeline-rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES)
    return Runtime(make_settings(database_url=sqlite_url, rules_path=rules))


@pytest.fixture
def app_url(runtime: Runtime) -> Iterator[str]:
    with serve_app(create_app(runtime)) as url:
        yield url


def processed(client: httpx.Client, base: str, runtime: Runtime, event_id: str) -> dict:
    """The event's view once the in-process worker has emptied the queue."""
    runtime.broker.join(QUEUE, timeout=20_000)
    event = client.get(f"{base}/events/{event_id}").json()
    assert event["status"] != "pending", event
    return event


def test_a_review_earns_points_with_a_decision_for_every_matching_rule(
    app_url: str, runtime: Runtime
) -> None:
    """Each triggered rule leaves a decision; one rule's run-time error does not stop the others."""
    with httpx.Client(timeout=10) as client:
        assert post(client, app_url, encode(interaction("evt_1"))).status_code == 202
        event = processed(client, app_url, runtime, "evt_1")
        assert event["status"] == "processed"
        outcomes = {
            d["rule_id"]: (d["outcome"], d["reason"], d["effects"]) for d in event["decisions"]
        }
        assert outcomes == {
            "broken-division": ("error", "division by zero", []),
            "review": ("fired", None, [{"points": 10}]),
            "stars": ("fired", None, [{"points": 10}]),
        }
        assert all(len(d["rule_version"]) == 12 for d in event["decisions"])
        member = client.get(f"{app_url}/members/m1").json()
        assert member["points"] == 20
        ledger = client.get(f"{app_url}/members/m1/ledger").json()
        assert sorted((e["rule_id"], e["points"], e["kind"]) for e in ledger["entries"]) == [
            ("review", 10, "award"),
            ("stars", 10, "award"),
        ]
        assert {e["event_id"] for e in ledger["entries"]} == {"evt_1"}


def test_a_condition_that_is_false_is_recorded_as_skipped(app_url: str, runtime: Runtime) -> None:
    """A rule whose trigger matched but whose condition was false is skipped: condition_false."""
    with httpx.Client(timeout=10) as client:
        document = interaction(
            "evt_v", action="view", interacted_type="product", meta={"stars": 2}, signal=0
        )
        post(client, app_url, encode(document))
        event = processed(client, app_url, runtime, "evt_v")
        review = next(d for d in event["decisions"] if d["rule_id"] == "review")
        assert (review["outcome"], review["reason"]) == ("skipped", "condition_false")
        assert review["values"] == {"when": False}
        assert client.get(f"{app_url}/members/m1").json()["points"] == 4


def test_rules_for_other_event_types_are_not_consulted(app_url: str, runtime: Runtime) -> None:
    """A swim event is decided only by swim rules; its free-form data is reachable as data."""
    with httpx.Client(timeout=10) as client:
        document = {
            "id": "evt_s",
            "type": "swim.completed",
            "data": {"profile_id": "m2", "distance_m": 1550},
        }
        post(client, app_url, encode(document))
        event = processed(client, app_url, runtime, "evt_s")
        assert [(d["rule_id"], d["effects"]) for d in event["decisions"]] == [
            ("swims", [{"points": 15}])
        ]
        assert client.get(f"{app_url}/members/m2").json()["points"] == 15


def test_the_ledger_is_paginated_with_a_cursor(app_url: str, runtime: Runtime) -> None:
    """GET /members/{id}/ledger pages through entries oldest first with a next cursor."""
    with httpx.Client(timeout=10) as client:
        for i in range(3):
            post(client, app_url, encode(interaction(f"evt_{i}", meta=None)))
        for i in range(3):
            processed(client, app_url, runtime, f"evt_{i}")
        first = client.get(f"{app_url}/members/m1/ledger", params={"limit": 2}).json()
        assert len(first["entries"]) == 2 and first["next"]
        rest = client.get(
            f"{app_url}/members/m1/ledger", params={"limit": 2, "cursor": first["next"]}
        ).json()
        assert len(rest["entries"]) == 1 and rest["next"] is None
        ids = [e["id"] for e in first["entries"] + rest["entries"]]
        assert ids == sorted(ids) and len(set(ids)) == 3


def test_unknown_members_are_404(app_url: str) -> None:
    """GET /members/{id} answers 404 for a member never seen."""
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{app_url}/members/ghost").status_code == 404
        assert client.get(f"{app_url}/members/ghost/ledger").status_code == 404


def test_rules_health_and_metrics_are_served(app_url: str) -> None:
    """GET /rules lists rules with versions; /healthz and /metrics answer."""
    with httpx.Client(timeout=10) as client:
        rules = client.get(f"{app_url}/rules").json()
        assert [r["id"] for r in rules["rules"]] == ["broken-division", "review", "stars", "swims"]
        assert rules["version"]
        assert client.get(f"{app_url}/healthz").json()["status"] == "ok"
        assert "reactor_webhooks_total" in client.get(f"{app_url}/metrics").text
        assert client.get(f"{app_url}/openapi.json").status_code == 200


HISTORY_RULES = """
rules:
  - id: first-review-this-month
    name: First product review this month
    on: interaction.created
    when: action == "feedback" and count(period="month", action="feedback") == 1
    limit: {count: 1, per: month}
    timezone: Australia/Melbourne
    then:
      - points: 50
"""


def test_history_and_limits_work_through_the_real_pipeline(sqlite_url: str, tmp_path: Path) -> None:
    """Webhook → worker → GET /events/{id}: the decision shows the history call and the limit."""
    rules = tmp_path / "history-rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(HISTORY_RULES)
    runtime = Runtime(make_settings(database_url=sqlite_url, rules_path=rules))
    with serve_app(create_app(runtime)) as base, httpx.Client(timeout=10) as client:
        # 23:30 UTC on Nov 30 is already December 1st in Melbourne.
        times = ["2026-11-10T10:00:00Z", "2026-11-20T10:00:00Z", "2026-11-30T23:30:00Z"]
        for i, moment in enumerate(times):
            post(client, base, encode(interaction(f"evt_{i}", interacted_at=moment)))
            processed(client, base, runtime, f"evt_{i}")
        first, second, third = (
            client.get(f"{base}/events/evt_{i}").json()["decisions"][0] for i in range(3)
        )
        assert (first["outcome"], first["effects"]) == ("fired", [{"points": 50}])
        assert first["values"]["history"] == {"count(period='month', action='feedback')": 1}
        assert first["values"]["limit"] == {"period": "2026-11", "count": {"used": 0, "of": 1}}
        assert (second["outcome"], second["reason"]) == ("skipped", "condition_false")
        assert second["values"]["history"] == {"count(period='month', action='feedback')": 2}
        assert (third["outcome"], third["values"]["limit"]["period"]) == ("fired", "2026-12")
        assert client.get(f"{base}/members/m1").json()["points"] == 100
