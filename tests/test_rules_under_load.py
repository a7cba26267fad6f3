"""Rules that depend on shared state, raced by 4 real worker processes on Redis + Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reactor.storage import make_engine, tables
from tests.support import Workers, store, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

FIRST_REVIEW = """
rules:
  - id: first-review-this-month
    on: interaction.created
    when: action == "feedback" and count(period="month", action="feedback") == 1
    limit: {count: 1, per: month}
    then: [{points: 50}]
"""

DAILY_LIMIT = """
rules:
  - id: review
    on: interaction.created
    when: action == "feedback"
    limit: {count: 3, per: day}
    then: [{points: 10}]
"""

BUDGET = """
rules:
  - id: launch-bonus
    on: interaction.created
    budget: {points: 1000}
    then: [{points: 7}]
"""


def run(
    worker_env: dict[str, str],
    rules: str,
    members: int,
    per_member: int,
    *,
    newest_first: bool = False,
) -> sa.Engine:
    """Store the events, start 4 worker processes, enqueue everything (in event-time order, or
    newest first), wait until processed."""
    Path(worker_env["REACTOR_RULES_PATH"], "one.yaml").write_text(rules)
    engine = make_engine(worker_env["REACTOR_DATABASE_URL"])
    from reactor.runtime import Runtime
    from tests.conftest import make_settings

    runtime = Runtime(
        make_settings(
            database_url=worker_env["REACTOR_DATABASE_URL"],
            broker_url=worker_env["REACTOR_BROKER_URL"],
            queue_namespace=worker_env["REACTOR_QUEUE_NAMESPACE"],
            rules_path=Path(worker_env["REACTOR_RULES_PATH"]),
        )
    )
    base = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    ids = []
    for m in range(members):
        for i in range(per_member):
            event_id = f"evt_{m}_{i}"
            store(engine, event_id, member=f"m{m}", occurred=base + timedelta(minutes=i))
            ids.append(event_id)
    workers = Workers(worker_env, processes=4, threads=2)
    try:
        for event_id in reversed(ids) if newest_first else ids:
            runtime.enqueue(event_id)

        def done() -> bool:
            with engine.connect() as conn:
                pending = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(tables.events)
                    .where(tables.events.c.status != "processed")
                ).scalar_one()
            return pending == 0

        wait_for(done, timeout=120, what="every event to be processed")
    finally:
        workers.stop()
        runtime.stop()
    return engine


def awards(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tables.ledger.c.member_id, tables.ledger.c.points)).all()
    engine.dispose()
    return sorted((r.member_id, r.points) for r in rows)


def test_twenty_concurrent_reviews_earn_first_review_of_the_month_once(
    worker_env: dict[str, str],
) -> None:
    """20 reviews by one member on 4 worker processes: exactly one award."""
    assert awards(run(worker_env, FIRST_REVIEW, members=1, per_member=20)) == [("m0", 50)]


def test_twenty_concurrent_reviews_with_a_daily_limit_of_three_earn_three(
    worker_env: dict[str, str],
) -> None:
    """The same 20 reviews against limit {count: 3, per: day}: exactly three awards."""
    assert awards(run(worker_env, DAILY_LIMIT, members=1, per_member=20)) == [("m0", 10)] * 3


def test_a_thousand_point_budget_raced_by_a_hundred_members_is_never_exceeded(
    worker_env: dict[str, str],
) -> None:
    """100 members, 2 events each at 7 points (1,400 asked): exactly 1,000 awarded."""
    given = awards(run(worker_env, BUDGET, members=100, per_member=2))
    assert sum(points for _, points in given) == 1000
    assert sorted(points for _, points in given)[0] == 1000 - 7 * (len(given) - 1)


LEVELS = """
benefits:
  - id: voucher
achievements:
  - id: reviewer
    levels:
      - {at: 5, name: Bronze, then: [{points: 100}, {benefit: voucher}]}
rules:
  - id: review
    on: interaction.created
    then:
      - achievement: reviewer
"""


def test_events_crossing_a_level_concurrently_reward_it_once(worker_env: dict[str, str]) -> None:
    """20 reviews on 4 worker processes cross level 5 together: its reward is given once."""
    engine = run(worker_env, LEVELS, members=1, per_member=20)
    with engine.connect() as conn:
        levels = conn.execute(sa.select(tables.achievement_levels)).all()
        benefits = conn.execute(sa.select(tables.benefits_issued)).all()
        progress = conn.execute(sa.select(tables.achievement_progress.c.progress)).scalar_one()
    assert (len(levels), len(benefits), progress) == (1, 1, 20)
    assert awards(engine) == [("m0", 100)]


FIFTH_REVIEW = """
rules:
  - id: fifth-review-this-month
    on: interaction.created
    when: count(period="month", action="feedback") == 5
    then: [{points: 50}]
"""


def test_bursts_enqueued_newest_first_are_evaluated_in_event_time_order(
    worker_env: dict[str, str],
) -> None:
    """I3: 20 members' 10 reviews each, all pending at once and enqueued newest first, on 4
    worker processes: every member's count reaches 5 exactly once, on its fifth review."""
    engine = run(worker_env, FIFTH_REVIEW, members=20, per_member=10, newest_first=True)
    with engine.connect() as conn:
        fired = conn.execute(
            sa.select(tables.decisions.c.event_id).where(tables.decisions.c.outcome == "fired")
        ).scalars()
        assert sorted(fired) == sorted(f"evt_{m}_4" for m in range(20))
    assert awards(engine) == sorted((f"m{m}", 50) for m in range(20))
