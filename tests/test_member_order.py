"""I3 in the processor: a member's events pending at the same time are evaluated in event-time
order, whichever of them a worker is handed first; on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reactor.clock import SystemClock
from reactor.errors import PermanentError
from reactor.processor import process_event
from reactor.rules import RuleSet, load_rules
from reactor.storage import tables
from tests.support import store

NOON = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
CLOCK = SystemClock()
THIRD = "rules:\n  - id: third\n    on: interaction.created\n    when: count() == 3\n"


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    path = tmp_path / "order.yaml"
    path.write_text(THIRD + "    then: [{points: 30}]\n")
    return load_rules(path)


def burst(engine: sa.Engine, count: int, member: str = "m1") -> list[str]:
    """``count`` events of one member, a minute apart in event time, all left pending."""
    ids = [f"evt_{member}_{i}" for i in range(count)]
    for i, event_id in enumerate(ids):
        store(engine, event_id, member=member, occurred=NOON + timedelta(minutes=i))
    return ids


def fired(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.select(tables.decisions.c.event_id).where(tables.decisions.c.outcome == "fired")
            ).scalars()
        )


def statuses(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(tables.events.c.id, tables.events.c.status)).all())


def test_the_newest_event_first_processes_the_earlier_ones_before_it(
    engine: sa.Engine, rules: RuleSet
) -> None:
    """Handed the last of five, the worker evaluates all five oldest first: the third fires."""
    ids = burst(engine, 5)
    done = process_event(engine, rules, ids[-1], clock=CLOCK)
    assert (done.result, done.earlier) == ("processed", tuple(ids[:-1]))
    assert fired(engine) == [ids[2]]
    assert set(statuses(engine).values()) == {"processed"}
    # Their own messages, arriving later, find them done.
    assert process_event(engine, rules, ids[0], clock=CLOCK).result == "already_processed"


def test_later_events_and_other_members_are_left_to_their_own_messages(
    engine: sa.Engine, rules: RuleSet
) -> None:
    """Only what happened before the event, and only its member's, goes first."""
    ids = burst(engine, 4)
    others = burst(engine, 2, member="m2")
    assert process_event(engine, rules, ids[1], clock=CLOCK).earlier == (ids[0],)
    status = statuses(engine)
    assert [status[i] for i in ids] == ["processed", "processed", "pending", "pending"]
    assert {status[i] for i in others} == {"pending"}


def test_an_earlier_event_that_cannot_be_processed_fails_alone(
    engine: sa.Engine, rules: RuleSet
) -> None:
    """An unreadable earlier event is skipped, untouched; its own message parks it as failed."""
    ids = burst(engine, 3)
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.events).where(tables.events.c.id == ids[0]).values(payload="{")
        )
    done = process_event(engine, rules, ids[2], clock=CLOCK)
    assert (done.result, done.earlier) == ("processed", (ids[1],))
    assert statuses(engine)[ids[0]] == "pending"
    with pytest.raises(PermanentError, match="unreadable"):
        process_event(engine, rules, ids[0], clock=CLOCK)


def test_a_long_backlog_is_taken_oldest_first_and_the_event_deferred(
    engine: sa.Engine, rules: RuleSet
) -> None:
    """With more earlier events waiting than one transaction takes, the oldest go first and the
    event asked for is deferred (the runtime enqueues it again)."""
    ids = burst(engine, 5)
    first = process_event(engine, rules, ids[-1], clock=CLOCK, most=3)
    assert (first.result, first.earlier) == ("deferred", tuple(ids[:3]))
    second = process_event(engine, rules, ids[-1], clock=CLOCK, most=3)
    assert (second.result, second.earlier) == ("processed", (ids[3],))
    assert fired(engine) == [ids[2]]
