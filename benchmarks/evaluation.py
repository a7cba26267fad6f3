"""How long 20 realistic rules with history functions take per event, and how much of that is
evaluation rather than database writes.

Seeds 50 members with 500 processed interactions each over 120 days (COPY), then stores 1,000
new interactions spread over those members and the following 10 days and, in event-time order,
for each one:

- times ``engine.evaluate`` against a ``DatabaseState`` in a transaction that is rolled back
  (the pure part: the engine plus the history, limit and budget queries it asks for; no lock,
  no writes), and how much of it the ``DatabaseState`` queries took;
- then times ``process_event`` on it: the whole transaction (lock, evaluate, decisions, ledger,
  budgets, commit).

It prints median and p95 of each, the rule count, and the fired / skipped / error counts.

    .venv/bin/python -m benchmarks.evaluation [--members 50] [--history 500] [--events 1000]

Needs PostgreSQL (``--postgres-url`` or ``REACTOR_BENCH_POSTGRES_URL``, an admin URL); it works
in a throwaway database that it drops at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from benchmarks.harness import (
    Summary,
    add_postgres_option,
    copy_events,
    copy_members,
    libpq_url,
    processed_row,
    scratch_database,
    settle,
)
from reactor.caps import Usage
from reactor.clock import SystemClock
from reactor.engine import evaluate
from reactor.envelope import validate_envelope
from reactor.facts import EventFacts, MemberFacts
from reactor.history import Past
from reactor.inbox import accept
from reactor.members import balance
from reactor.processor import process_event
from reactor.rules import Rule, RuleSet, load_rules
from reactor.state import DatabaseState
from reactor.storage import make_engine, tables

RULES = """\
rules:
  - id: product-review
    on: interaction.created
    when: action == "feedback" and interacted_type == "rating"
    limit: {count: 3, per: day}
    then: [{points: 10}]

  - id: first-review-this-month
    on: interaction.created
    when: action == "feedback" and count(period="month", action="feedback") == 1
    limit: {count: 1, per: month}
    then: [{points: 50}]

  - id: weekly-review-streak
    on: interaction.created
    when: action == "feedback" and streak(unit="week", action="feedback") >= 4
    limit: {count: 1, per: week}
    then: [{points: 25}]

  - id: photo-review
    on: interaction.created
    when: >-
      action == "feedback" and tags is not None and "photo" in tags
      and count(within="7d", action="feedback", tags="photo") <= 2
    then: [{points: 5}]

  - id: happy-reviewer
    on: interaction.created
    when: action == "feedback" and avg_of("meta.stars", within="90d", action="feedback") >= 4
    then: [{points: 3}]

  - id: daily-app-open
    on: interaction.created
    when: channel == "app" and count(period="day", channel="app") == 1
    then: [{points: 2}]

  - id: app-streak
    on: interaction.created
    when: channel == "app" and streak(channel="app") >= 3
    limit: {count: 1, per: day}
    then: [{points: 5}]

  - id: weekly-regular
    on: interaction.created
    when: action == "visit" and count(period="week", action="visit") == 5
    then: [{points: 15}]

  - id: welcome-back
    on: interaction.created
    when: >-
      action == "visit" and days_since(action="visit") is not None
      and days_since(action="visit") >= 7
    then: [{points: 100}]

  - id: category-explorer
    on: interaction.created
    when: >-
      action == "view" and count(period="day", action="view") == 1
      and distinct("product_category_id", within="30d", action="view") >= 10
    then: [{points: 10}]

  - id: binge-viewer
    on: interaction.created
    when: >-
      action == "view" and duration is not None
      and sum_of("duration", period="day", action="view") >= 3600
    limit: {count: 1, per: day}
    then:
      - points: 'min(50, int(sum_of("duration", period="day", action="view") // 600))'

  - id: personal-best-session
    on: interaction.created
    when: >-
      channel == "app" and duration is not None
      and duration >= max_of("duration", within="90d", channel="app")
    limit: {count: 2, per: month}
    then: [{points: 20}]

  - id: shopper-milestone
    on: interaction.created
    when: action == "product" and count(action="product") % 25 == 0
    then: [{points: 100}]

  - id: big-basket-month
    on: interaction.created
    when: >-
      action == "product" and meta.order_total is not None
      and sum_of("meta.order_total", period="month", action="product") >= 500
    limit: {points: 200, per: month}
    then:
      - points: "int(meta.order_total // 10) + 1"

  - id: repeat-purchase
    on: interaction.created
    when: >-
      action == "product" and days_since(action="product") is not None
      and days_since(action="product") <= 7
    budget: {points: 1000, per: month}
    then: [{points: 15}]

  - id: store-regular
    on: interaction.created
    when: >-
      channel == "location" and location_id is not None
      and count(within="30d", channel="location", location_id=location_id) <= 4
    limit: {count: 1, per: day}
    then: [{points: 10}]

  - id: email-engaged
    on: interaction.created
    when: channel == "email" and count(within="7d", channel="email") >= 3
    limit: {points: 10, per: week}
    then: [{points: 2}]

  - id: sustainability-champion
    on: interaction.created
    when: >-
      tags is not None and "sustainability" in tags
      and distinct("product_id", period="year", tags="sustainability") >= 5
    limit: {count: 1, per: month}
    then: [{points: 20}]

  - id: weekend-first
    on: interaction.created
    timezone: Australia/Melbourne
    when: weekday >= 5 and count(period="day") == 1
    then: [{points: 5}]

  - id: night-owl
    on: interaction.created
    timezone: Australia/Melbourne
    when: hour >= 22 and action == "visit" and channel == "app"
    then: [{points: 1}]
"""

START = datetime(2026, 11, 1, tzinfo=UTC)
"""Where the seeded history ends and the measured events begin (event time)."""
ACTIONS = {"feedback": 20, "visit": 30, "view": 30, "product": 15, "service": 5}
CHANNELS = {
    "feedback": ("website", "app"),
    "visit": ("app", "website", "location"),
    "view": ("app", "website", "email"),
    "product": ("website", "app", "location"),
    "service": ("support",),
}
TAGS = ("review", "photo", "sustainability", "sale")


def interaction(event_id: str, member: str, occurred: datetime, rng: random.Random) -> Any:
    """A varied ``interaction.created`` envelope: reviews, visits, views, purchases, support."""
    action = rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
    channel = rng.choice(CHANNELS[action])
    data: dict[str, Any] = {
        "id": f"int_{event_id}",
        "profile_id": member,
        "action": action,
        "channel": channel,
        "signal": rng.choice((1, 1, 1, 0, -1)),
        "name": f"{action} on {channel}",
        "namespace": "shop",
        "interacted_at": occurred.isoformat(),
    }
    if action == "feedback":
        data["interacted_type"] = "rating"
        data["meta"] = {"stars": rng.choice((3, 4, 4, 5, 5, 5))}
        data["tags"] = sorted(rng.sample(TAGS[:3], rng.randint(1, 2)))
    if action in ("visit", "view") and channel in ("app", "website"):
        data["duration"] = rng.randint(30, 1800)
    if action in ("feedback", "view", "product"):
        product = rng.randrange(200)
        data["product_id"] = f"sku-{product}"
        data["product_category_id"] = f"cat-{product % 20}"
    if action in ("view", "product") and rng.random() < 0.2:
        data["tags"] = [rng.choice(TAGS[2:])]
    if action == "product":
        data["meta"] = {"order_total": round(rng.uniform(10, 250), 2)}
    if channel == "location":
        data["location_id"] = f"store-{rng.randrange(8)}"
    return {"id": event_id, "type": "interaction.created", "data": data}


def seed(url: str, args: argparse.Namespace, rng: random.Random) -> float:
    """Members and their processed history, COPYed in; returns seconds."""
    began = time.perf_counter()
    members = [f"member-{m}" for m in range(args.members)]
    span = args.days * 86400
    with psycopg.connect(libpq_url(url)) as conn:
        copy_members(conn, members, START - timedelta(days=365))
        for member in members:
            rows = []
            for i in range(args.history):
                occurred = START - timedelta(seconds=rng.uniform(1, span))
                document = interaction(f"{member}_past_{i}", member, occurred, rng)
                rows.append(processed_row(document, occurred, timedelta(seconds=30)))
            copy_events(conn, rows)
        settle(conn)
    return time.perf_counter() - began


def store_new(engine: sa.Engine, args: argparse.Namespace, rng: random.Random) -> list[str]:
    """Accept the new events into the inbox; their ids in event-time order."""
    span = args.new_days * 86400
    moments = sorted(START + timedelta(seconds=rng.uniform(0, span)) for _ in range(args.events))
    ids = []
    for i, occurred in enumerate(moments):
        document = interaction(f"new_{i}", f"member-{rng.randrange(args.members)}", occurred, rng)
        envelope, member = validate_envelope(document, None)
        accept(engine, envelope, member, document, occurred + timedelta(seconds=5))
        ids.append(document["id"])
    return ids


class TimedState:
    """A ``DatabaseState`` that adds up the time each kind of query takes, in seconds."""

    def __init__(self, state: DatabaseState) -> None:
        self.state = state
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def _timed(self, kind: str, began: float) -> None:
        self.seconds[kind] += time.perf_counter() - began
        self.calls[kind] += 1

    def history(self, types: frozenset[str], since: datetime | None) -> Sequence[Past]:
        began = time.perf_counter()
        try:
            return self.state.history(types, since)
        finally:
            self._timed("history", began)

    def member_usage(self, rule: Rule, start: datetime, end: datetime) -> Usage:
        began = time.perf_counter()
        try:
            return self.state.member_usage(rule, start, end)
        finally:
            self._timed("limit", began)

    def budget_usage(self, rule_id: str, period: str) -> Usage:
        began = time.perf_counter()
        try:
            return self.state.budget_usage(rule_id, period)
        finally:
            self._timed("budget", began)


def evaluate_only(engine: sa.Engine, rules: RuleSet, event_id: str) -> tuple[float, TimedState]:
    """Milliseconds ``evaluate`` took for the pending event, and its state with query times.

    Built as ``processor.process_stored`` builds it, in a transaction rolled back afterwards (the
    budget rows ``budget_usage`` creates and locks go with it).
    """
    with engine.connect() as conn:
        row = conn.execute(sa.select(tables.events).where(tables.events.c.id == event_id)).one()
        document = json.loads(row.payload)
        event = EventFacts(
            id=row.id,
            type=row.type,
            member_id=row.member_id,
            data=document["data"],
            created_at=document.get("created_at"),
            occurred_at=row.occurred_at,
            received_at=row.received_at,
        )
        # No achievements in these rules, so no achievement progress to read.
        member = MemberFacts(id=row.member_id, points=balance(conn, row.member_id), achievements={})
        state = TimedState(DatabaseState(conn, event))
        began = time.perf_counter()
        evaluate(rules, event, member, state)
        elapsed = time.perf_counter() - began
        conn.rollback()
    return elapsed * 1000, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--history", type=int, default=500, help="past events per member")
    parser.add_argument("--days", type=int, default=120, help="days the history spans")
    parser.add_argument("--events", type=int, default=1000, help="new events processed")
    parser.add_argument("--new-days", type=int, default=10, help="days the new events span")
    parser.add_argument("--seed", type=int, default=1)
    add_postgres_option(parser)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    evaluations: list[float] = []
    transactions: list[float] = []
    queries: dict[str, list[float]] = {"all": [], "history": [], "limit": [], "budget": []}
    calls: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.postgres_url) as url:
        rules_file = Path(folder, "rules.yaml")
        rules_file.write_text(RULES)
        rules = load_rules(rules_file)
        seconds = seed(url, args, rng)
        print(
            f"seeded {args.members} members x {args.history} events over {args.days} days "
            f"in {seconds:.1f} s"
        )
        engine = make_engine(url)
        try:
            ids = store_new(engine, args, rng)
            for event_id in ids:
                evaluated, state = evaluate_only(engine, rules, event_id)
                evaluations.append(evaluated)
                queries["all"].append(sum(state.seconds.values()) * 1000)
                for kind in ("history", "limit", "budget"):
                    queries[kind].append(state.seconds[kind] * 1000)
                calls.update(state.calls)
                began = time.perf_counter()
                done = process_event(engine, rules, event_id, clock=SystemClock())
                transactions.append((time.perf_counter() - began) * 1000)
                assert done.result == "processed", done
                for decision in done.decisions:
                    outcomes[decision.outcome] += 1
                    if decision.reason is not None and decision.outcome == "skipped":
                        outcomes[f"skipped:{decision.reason}"] += 1
        finally:
            engine.dispose()
    whole, pure = Summary.of(transactions), Summary.of(evaluations)
    engine_only = Summary.of([e - q for e, q in zip(evaluations, queries["all"], strict=True)])
    print(f"{len(rules.rules)} rules on interaction.created; {len(ids)} new events processed")
    decided = sum(outcomes[o] for o in ("fired", "skipped", "error"))
    reasons = ", ".join(f"{k[8:]} {v:,}" for k, v in sorted(outcomes.items()) if ":" in k)
    print(
        f"decisions: {decided:,} = fired {outcomes['fired']:,}, skipped {outcomes['skipped']:,} "
        f"({reasons}), error {outcomes['error']:,}"
    )
    per_event = ", ".join(f"{calls[k] / len(ids):.1f} {k}" for k in ("history", "limit", "budget"))
    print(f"state queries per event: {per_event}")
    print(f"process_event (whole transaction)  {whole}")
    print(f"evaluate (no lock, no writes)      {pure}")
    print(f"  of which DatabaseState queries   {Summary.of(queries['all'])}")
    for kind in ("history", "limit", "budget"):
        print(f"    {kind:<7} {'':22} {Summary.of(queries[kind])}")
    print(f"  of which the engine itself       {engine_only}")
    rest = whole.median - pure.median
    print(
        f"evaluation is {pure.median / whole.median:.0%} of the median transaction; the other "
        f"{rest:.2f} ms are the lock, reads, decision and ledger writes and the commit"
    )


if __name__ == "__main__":
    main()
