"""Limits, budgets and history in the event's transaction (I2, I3, I4, I7), on both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reactor.clock import SystemClock
from reactor.envelope import validate_envelope
from reactor.inbox import accept
from reactor.members import balance
from reactor.processor import process_event
from reactor.queries import event_view
from reactor.rules import load_rules
from reactor.storage import tables
from tests.support import interaction

NOON = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)  # a Monday


class Feed:
    """Stores and processes events for members, like the receiver and a worker would."""

    def __init__(self, engine: sa.Engine, rule_file: Path, text: str) -> None:
        rule_file.write_text(text)
        self.engine = engine
        self.rules = load_rules(rule_file)
        self.count = 0
        self.clock = SystemClock()

    def store(self, member: str = "m1", at: datetime = NOON, **data: Any) -> str:
        self.count += 1
        event_id = f"evt_{self.count}"
        document = interaction(event_id, member, interacted_at=at.isoformat(), **data)
        envelope, ref = validate_envelope(document, None)
        accept(self.engine, envelope, ref, document, datetime.now(UTC))
        return event_id

    def send(self, member: str = "m1", at: datetime = NOON, **data: Any) -> dict[str, Any]:
        """Store and process one event; its decision record."""
        event_id = self.store(member, at, **data)
        process_event(self.engine, self.rules, event_id, clock=self.clock)
        view = event_view(self.engine, event_id)
        assert view is not None
        return view

    def delete(self, interaction_id: str, member: str = "m1") -> None:
        """Store and process an interaction.deleted for ``interaction_id``."""
        self.count += 1
        document = {
            "id": f"del_{self.count}",
            "type": "interaction.deleted",
            "data": {**interaction("x", member)["data"], "id": interaction_id},
        }
        envelope, ref = validate_envelope(document, None)
        accept(self.engine, envelope, ref, document, datetime.now(UTC))
        process_event(self.engine, self.rules, document["id"], clock=self.clock)

    def points(self, member: str = "m1") -> int:
        """The member's balance, checked against the sum of their ledger (I8)."""
        with self.engine.connect() as conn:
            ledger = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(tables.ledger.c.points), 0)).where(
                    tables.ledger.c.member_id == member
                )
            ).scalar_one()
            kept = balance(conn, member)
        assert kept == ledger
        return int(kept)


MakeFeed = Callable[[str], Feed]


@pytest.fixture
def make_feed(engine: sa.Engine, tmp_path: Path) -> MakeFeed:
    """``make_feed(rule_file_text)``: a Feed over the rules in that text, on this test's
    database (SQLite, then Postgres)."""
    return lambda text: Feed(engine, tmp_path / "limit-rules.yaml", text)


def decision(view: dict[str, Any], rule_id: str = "r") -> tuple[str, str | None, list[Any]]:
    found = next(d for d in view["decisions"] if d["rule_id"] == rule_id)
    return found["outcome"], found["reason"], [e["points"] for e in found["effects"]]


def test_a_count_limit_per_day_resets_the_next_local_day(make_feed: MakeFeed) -> None:
    """limit {count: 2, per: day} in Melbourne: the third review that day is limit_reached."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n    timezone: Australia/Melbourne\n"
        "    limit: {count: 2, per: day}\n    then: [{points: 10}]\n",
    )
    melbourne_evening = datetime(2026, 11, 16, 12, 59, 59, tzinfo=UTC)  # 23:59:59 local
    assert decision(feed.send(at=melbourne_evening - timedelta(hours=1))) == ("fired", None, [10])
    assert decision(feed.send(at=melbourne_evening)) == ("fired", None, [10])
    view = feed.send(at=melbourne_evening)
    assert decision(view) == ("skipped", "limit_reached", [])
    assert view["decisions"][0]["values"]["limit"] == {
        "period": "2026-11-16",
        "count": {"used": 2, "of": 2},
    }
    # One second later it is 00:00:00 on the 17th in Melbourne: a new day, a new allowance.
    assert decision(feed.send(at=melbourne_evening + timedelta(seconds=1))) == ("fired", None, [10])
    assert feed.points() == 30


def test_a_points_limit_cuts_the_last_award_to_what_remains(make_feed: MakeFeed) -> None:
    """limit {points: 25, per: month}: 10, 10, then 5 (cut), then limit_reached."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n"
        "    limit: {points: 25, per: month}\n    then: [{points: 10}]\n",
    )
    outcomes = [decision(feed.send(at=NOON + timedelta(days=i))) for i in range(4)]
    assert outcomes == [
        ("fired", None, [10]),
        ("fired", None, [10]),
        ("fired", None, [5]),
        ("skipped", "limit_reached", []),
    ]
    assert feed.points() == 25


def test_a_budget_is_shared_by_all_members(make_feed: MakeFeed) -> None:
    """budget {points: 25}: members draw from one pot; the rest are budget_exhausted."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n"
        "    budget: {points: 25}\n    then: [{points: 10}]\n",
    )
    results = [decision(feed.send(member=f"m{i}")) for i in range(4)]
    assert results[:3] == [("fired", None, [10]), ("fired", None, [10]), ("fired", None, [5])]
    assert results[3] == ("skipped", "budget_exhausted", [])
    with feed.engine.connect() as conn:
        assert conn.execute(sa.select(tables.budgets.c.points)).scalar_one() == 25


def test_history_functions_decide_and_are_recorded(make_feed: MakeFeed) -> None:
    """ "First product review this month": count() over stored events, shown in the decision."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n"
        '    when: count(period="month", action="feedback") == 1\n'
        "    then: [{points: 50}]\n",
    )
    first = feed.send(at=NOON)
    assert decision(first) == ("fired", None, [50])
    assert first["decisions"][0]["values"]["history"] == {
        "count(period='month', action='feedback')": 1
    }
    assert decision(feed.send(at=NOON + timedelta(days=1))) == ("skipped", "condition_false", [])
    assert decision(feed.send(at=NOON + timedelta(days=1), action="view")) == (
        "skipped",
        "condition_false",
        [],
    )
    december = NOON.replace(month=12, day=3)
    assert decision(feed.send(at=december)) == ("fired", None, [50])


def test_late_events_count_by_their_own_time_and_can_complete_a_streak(make_feed: MakeFeed) -> None:
    """A late event sees only events up to its own time; a 3-day streak completed late fires."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n"
        '    when: streak(unit="day") == 3\n    then: [{points: 30}]\n',
    )
    day = timedelta(days=1)
    assert decision(feed.send(at=NOON))[0] == "skipped"  # day 1: streak 1
    assert decision(feed.send(at=NOON + day))[0] == "skipped"  # day 2: streak 2
    assert decision(feed.send(at=NOON + 4 * day))[0] == "skipped"  # day 5: streak 1
    late = feed.send(at=NOON + 2 * day)  # day 3 arrives last: 1, 2, 3 in a row
    assert decision(late) == ("fired", None, [30])
    assert late["decisions"][0]["values"]["history"] == {"streak(unit='day')": 3}


def test_deleted_interactions_no_longer_count(make_feed: MakeFeed) -> None:
    """After interaction.deleted, history functions skip the deleted interaction."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n"
        "    when: count() == 2\n    then: [{points: 1}]\n",
    )
    feed.send(at=NOON, id="int_1")
    feed.delete("int_1")
    assert decision(feed.send(at=NOON + timedelta(hours=1), id="int_2"))[0] == "skipped"
    assert decision(feed.send(at=NOON + timedelta(hours=2), id="int_3"))[0] == "fired"


@pytest.mark.postgres
def test_a_budget_holds_under_racing_threads(postgres_url: str, tmp_path: Path) -> None:
    """40 members racing on 8 threads for a 100-point budget: exactly 100 awarded."""
    from reactor.storage import make_engine

    engine = make_engine(postgres_url)
    feed = Feed(
        engine,
        tmp_path / "limit-rules.yaml",
        "rules:\n  - id: r\n    on: interaction.created\n"
        "    budget: {points: 100}\n    then: [{points: 7}]\n",
    )
    ids = [feed.store(member=f"m{i}") for i in range(40)]
    barrier = threading.Barrier(8)

    def work(chunk: list[str]) -> None:
        barrier.wait()
        for event_id in chunk:
            process_event(engine, feed.rules, event_id, clock=feed.clock)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, [ids[i::8] for i in range(8)]))
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.sum(tables.ledger.c.points))).scalar_one()
    engine.dispose()
    assert total == 100


def test_a_reversed_award_frees_its_place_under_limits_and_budgets(make_feed: MakeFeed) -> None:
    """Caps count what members still hold: after a deletion the limit and budget have room."""
    feed = make_feed(
        "rules:\n  - id: r\n    on: interaction.created\n"
        "    limit: {count: 1, per: month}\n    budget: {points: 10}\n"
        "    then: [{points: 10}]\n",
    )
    assert decision(feed.send(at=NOON, id="int_1")) == ("fired", None, [10])
    assert decision(feed.send(at=NOON + timedelta(hours=1), id="int_2"))[1] == "limit_reached"
    feed.delete("int_1")
    with feed.engine.connect() as conn:
        spent = conn.execute(sa.select(tables.budgets.c.count, tables.budgets.c.points)).one()
    assert tuple(spent) == (0, 0)
    assert decision(feed.send(at=NOON + timedelta(hours=2), id="int_3")) == ("fired", None, [10])
    assert feed.points() == 10
