"""Does a history rule get slower as OTHER members' events pile up? It should not.

Measures ``process_event`` for one member under the rule
``count(within="30d", action="feedback") >= 1`` with 10,000 and then 1,000,000 processed events
of other members in the ``events`` table (COPYed in, spread over 90 days and 10,000 members,
then VACUUM ANALYZEd and checkpointed). At each size a fresh member with 200 events of its own
stores 320 new events and processes them, the first 20 untimed; the script prints median and
p95 per event of ``process_event`` and of the history query inside it, and the ratio of the
largest size to the smallest. Both should stay roughly flat: every history query is bounded by
the member's index. One database serves every size: it grows from one to the next.

    .venv/bin/python -m benchmarks.history_cost [--sizes 10000 1000000] [--events 300]

Needs PostgreSQL (``--postgres-url`` or ``REACTOR_BENCH_POSTGRES_URL``, an admin URL); it works
in a throwaway database that it drops at the end.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from benchmarks.harness import (
    Row,
    Summary,
    add_postgres_option,
    copy_events,
    copy_members,
    libpq_url,
    processed_row,
    scratch_database,
    settle,
)
from reactor.clock import SystemClock
from reactor.envelope import validate_envelope
from reactor.inbox import accept
from reactor.processor import process_event
from reactor.rules import RuleSet, load_rules
from reactor.storage import make_engine

WHEN = 'count(within="30d", action="feedback") >= 1'
RULES = f"""\
rules:
  - id: recent-reviewer
    name: Reviewed something in the last 30 days
    on: interaction.created
    when: {WHEN}
    then:
      - points: 1
"""

NOW = datetime(2026, 11, 1, tzinfo=UTC)
"""Where the bulk history ends and the measured events begin (event time)."""
ACTIONS = ("feedback", "visit", "view", "product")
CHANNELS = ("website", "app", "email", "location")


def envelope(
    event_id: str, member: str, occurred: datetime, action: str, channel: str, product: int = 0
) -> dict[str, Any]:
    """An ``interaction.created`` envelope like the tests' ``interaction()``."""
    data: dict[str, Any] = {
        "id": f"int_{event_id}",
        "profile_id": member,
        "action": action,
        "channel": channel,
        "signal": 1,
        "name": "Reviewed a product" if action == "feedback" else "Used the shop",
        "namespace": "reviews" if action == "feedback" else "shop",
        "interacted_type": "rating" if action == "feedback" else "page",
        "interacted_at": occurred.isoformat(),
        "product_id": f"sku-{product}",
        "meta": {"stars": 5},
    }
    return {"id": event_id, "type": "interaction.created", "data": data}


def past_rows(
    ids: Iterable[str], members: Callable[[], str], days: int, rng: random.Random
) -> Iterator[Row]:
    """Processed events at random times in the ``days`` before NOW, of random kinds."""
    for event_id in ids:
        occurred = NOW - timedelta(seconds=rng.uniform(1, days * 86400))
        action, channel, product = rng.choice(ACTIONS), rng.choice(CHANNELS), rng.randrange(500)
        document = envelope(event_id, members(), occurred, action, channel, product)
        yield processed_row(document, occurred, timedelta(seconds=rng.randint(1, 120)))


def load(
    url: str, start: int, stop: int, args: argparse.Namespace, measured: str, rng: random.Random
) -> float:
    """Add other members' events ``start``..``stop`` and the measured member's history; seconds."""
    began = time.perf_counter()
    joined = NOW - timedelta(days=365)
    with psycopg.connect(libpq_url(url)) as conn:
        if start == 0:
            copy_members(conn, (f"other-{m}" for m in range(args.members)), joined)
        copy_members(conn, [measured], joined)
        conn.commit()

        def anyone() -> str:
            return f"other-{rng.randrange(args.members)}"

        for batch in range(start, stop, args.batch):
            ids = (f"bulk_{i}" for i in range(batch, min(batch + args.batch, stop)))
            copy_events(conn, past_rows(ids, anyone, args.days, rng))
            conn.commit()
        own = (f"{measured}_past_{i}" for i in range(args.history))
        copy_events(conn, past_rows(own, lambda: measured, args.days, rng))
        settle(conn)
    return time.perf_counter() - began


class HistoryQueryClock:
    """Times the history query (the statement that reads payloads, ordered) on an engine.

    ``process_event`` is dominated by the commit's fsync, which is noisy; the query is what
    other members' events could slow down.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.timings: list[float] = []
        self._started = 0.0
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    @staticmethod
    def _is_history(statement: str) -> bool:
        return "events.payload" in statement and "ORDER BY" in statement

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self._is_history(statement):
            self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self._is_history(statement):
            self.timings.append((time.perf_counter() - self._started) * 1000)


def measure(
    engine: sa.Engine, rules: RuleSet, member: str, count: int, warm_up: int
) -> tuple[Summary, Summary]:
    """Store ``count`` new events of ``member`` (one a minute from NOW) and process each.

    Returns the timings of ``process_event`` and of the history query inside it. The first
    ``warm_up`` events are processed untimed (connections, statement caches).
    """
    ids = []
    for i in range(warm_up + count):
        event_id = f"{member}_new_{i}"
        document = envelope(event_id, member, NOW + timedelta(minutes=i), "feedback", "website")
        checked, member_ref = validate_envelope(document, None)
        accept(engine, checked, member_ref, document, datetime.now(UTC))
        ids.append(event_id)
    for event_id in ids[:warm_up]:
        process_event(engine, rules, event_id, clock=SystemClock())
    clock = HistoryQueryClock(engine)
    timings = []
    for event_id in ids[warm_up:]:
        began = time.perf_counter()
        done = process_event(engine, rules, event_id, clock=SystemClock())
        timings.append((time.perf_counter() - began) * 1000)
        assert done.result == "processed", done
    return Summary.of(timings), Summary.of(clock.timings)


def events_size(engine: sa.Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()
        size = conn.execute(
            sa.text("SELECT pg_size_pretty(pg_total_relation_size('events'))")
        ).scalar_one()
    return int(rows), str(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--members", type=int, default=10_000, help="other members")
    parser.add_argument("--days", type=int, default=90, help="days the history spans")
    parser.add_argument("--history", type=int, default=200, help="measured member's past events")
    parser.add_argument("--events", type=int, default=300, help="new events timed per size")
    parser.add_argument("--warm-up", type=int, default=20, help="untimed events first")
    parser.add_argument("--batch", type=int, default=50_000, help="rows per COPY transaction")
    parser.add_argument("--seed", type=int, default=1)
    add_postgres_option(parser)
    args = parser.parse_args()
    sizes = sorted(set(args.sizes))
    rng = random.Random(args.seed)
    print(f"rule: when {WHEN}")
    print(
        f"{args.members:,} other members over {args.days} days; per size a fresh member with "
        f"{args.history} past events processes {args.events} new ones"
    )
    results: dict[int, tuple[Summary, Summary]] = {}
    with tempfile.TemporaryDirectory() as folder, scratch_database(args.postgres_url) as url:
        rules_file = Path(folder, "history.yaml")
        rules_file.write_text(RULES)
        rules = load_rules(rules_file)
        loaded = 0
        for size in sizes:
            member = f"measured-{size}"
            seconds = load(url, loaded, size, args, member, rng)
            loaded = size
            # A fresh engine (and clock) per size: no listeners or pooled state carried over.
            engine = make_engine(url)
            try:
                rows, on_disk = events_size(engine)
                print(f"\nloaded {size:,} other events in {seconds:.1f} s")
                print(f"  events table   {rows:,} rows, {on_disk}")
                results[size] = measure(engine, rules, member, args.events, args.warm_up)
            finally:
                engine.dispose()
            print(f"  process_event  {results[size][0]}")
            print(f"  history query  {results[size][1]}")
    small, large = results[sizes[0]], results[sizes[-1]]
    print(f"\nratio {sizes[-1]:,} / {sizes[0]:,} other events:")
    for index, what in enumerate(("process_event", "history query")):
        print(
            f"  {what}  median {large[index].median / small[index].median:.2f}x, "
            f"p95 {large[index].p95 / small[index].p95:.2f}x"
        )


if __name__ == "__main__":
    main()
