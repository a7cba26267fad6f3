"""Does an event cost more when its member has a long history? One member with ``--sizes``
past events (100, then 100,000), and a rule that reads ``count(within="30d")``,
``sum_of(..., period="year")`` and ``member.points``.

For each size: a fresh database, the member's processed history bulk-loaded with COPY over the
past year (with a ledger row each, so ``member.points`` has something to sum), then
``--events`` new events of the member processed one by one with ``process_event``. Prints the
median per-event time at each size and the ratio of the largest to the smallest.

    .venv/bin/python -m benchmarks.member_history [--sizes 100 100000] [--events 200]
        [--json FILE]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.harness import (
    add_postgres_option,
    command_line,
    copy_events,
    copy_members,
    libpq_url,
    processed_row,
    scratch_database,
    settle,
)
from benchmarks.history_cost import envelope
from reactor.clock import SystemClock
from reactor.envelope import validate_envelope
from reactor.inbox import accept
from reactor.processor import process_event
from reactor.rules import load_rules
from reactor.storage import make_engine

NOW = datetime(2026, 11, 1, tzinfo=UTC)
MEMBER = "long-history"
RULE = """\
rules:
  - id: engaged-spender
    on: interaction.created
    when: >-
      count(within="30d", action="feedback") >= 3
      and sum_of("meta.stars", period="year") >= 10
      and member.points >= 0
    then: [{points: 1}]
"""


def measure(url: str, size: int, events: int, rng: random.Random) -> list[float]:
    with psycopg.connect(libpq_url(url)) as conn:
        copy_members(conn, [MEMBER], NOW - timedelta(days=400))
        conn.commit()
        rows = []
        for i in range(size):
            occurred = NOW - timedelta(seconds=rng.uniform(60, 360 * 86400))
            document = envelope(
                f"past_{i}", MEMBER, occurred, rng.choice(("feedback", "visit")), "app"
            )
            rows.append(processed_row(document, occurred, timedelta(seconds=5)))
        copy_events(conn, rows)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY ledger (member_id, points, kind, rule_id, rule_version, event_id,"
                " effect_index, created_at) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row((MEMBER, 1, "award", "engaged-spender", "bench", row[0], 0, NOW))
        conn.commit()
        settle(conn)
    folder = Path(tempfile.mkdtemp(prefix="history-rules-"))
    (folder / "rule.yaml").write_text(RULE)
    rules = load_rules(folder)
    engine = make_engine(url)
    timings = []
    try:
        for i in range(events):
            occurred = NOW + timedelta(minutes=i)
            document = envelope(f"new_{i}", MEMBER, occurred, "feedback", "app")
            envelope_, ref = validate_envelope(document, None)
            accept(engine, envelope_, ref, document, occurred)
            began = time.perf_counter()
            done = process_event(engine, rules, f"new_{i}", clock=SystemClock())
            timings.append(time.perf_counter() - began)
            assert done.result == "processed", done
    finally:
        engine.dispose()
    return timings[len(timings) // 10 :]  # the first tenth warms caches


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    medians = {}
    for size in args.sizes:
        with scratch_database(args.postgres_url) as url:
            timings = measure(url, size, args.events, rng)
        medians[size] = round(statistics.median(timings) * 1000, 3)
        print(f"{size:>9,} past events: median {medians[size]:.3f} ms per event")
    smallest, largest = min(args.sizes), max(args.sizes)
    return {
        "ms_per_event": {str(k): v for k, v in medians.items()},
        "ratio": round(medians[largest] / medians[smallest], 2),
    }


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 100_000])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    add_postgres_option(parser)


def main() -> None:
    command_line(
        __doc__,
        options,
        run,
        lambda args, result: (
            f"ratio {max(args.sizes):,} / {min(args.sizes):,}: {result['ratio']}x (target <= 1.5x)"
        ),
    )


if __name__ == "__main__":
    main()
