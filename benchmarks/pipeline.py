"""End-to-end throughput of real ``reactor worker`` processes on Redis and PostgreSQL.

For each member count (default 1, then 100) in a fresh database: stores N interactions
(default 2,000, product reviews spread evenly over the members) with ``inbox.accept``, starts
``python -m reactor worker --processes P --threads T`` with the repository's ``rules/``, warms
it up, enqueues every event through a ``Runtime`` on Redis, and waits until all are processed.
Prints events/s from the first ``processed_at`` to the last (and over the first and the last
quarter of the events). With one member every event waits for the same row lock (I3), and the
member's history grows by every event, so that run shows the serial limit; 100 members show
what the workers do in parallel. The points awarded depend on the rules shipped at the time.

    .venv/bin/python -m benchmarks.pipeline [--events 2000] [--members 1 100]
        [--processes 2] [--threads 4]

Needs PostgreSQL (``--postgres-url`` or ``REACTOR_BENCH_POSTGRES_URL``, an admin URL) and Redis
(``--redis-url`` or ``REACTOR_BENCH_REDIS_URL``, default ``redis://127.0.0.1:6379/1``). Works in
a throwaway database and queue namespace ``bench-<random>``, both removed at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from benchmarks.harness import add_postgres_option, scratch_database
from reactor.config import Settings
from reactor.envelope import validate_envelope
from reactor.inbox import accept
from reactor.runtime import Runtime
from reactor.storage import tables

RULES_PATH = Path(__file__).resolve().parents[1] / "rules"
WARM_UP = 20


def review(event_id: str, member: str) -> dict[str, Any]:
    """A five-star product review, as in the README (the repository's rules give 10 points)."""
    return {
        "id": event_id,
        "type": "interaction.created",
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "id": f"int_{event_id}",
            "profile_id": member,
            "action": "feedback",
            "channel": "website",
            "signal": 1,
            "name": "Reviewed a product",
            "namespace": "reviews",
            "interacted_type": "rating",
            "product_id": "sku-123",
            "meta": {"stars": 5},
        },
    }


def store(engine: sa.Engine, ids_and_members: list[tuple[str, str]]) -> None:
    for event_id, member in ids_and_members:
        document = review(event_id, member)
        envelope, member_ref = validate_envelope(document, None)
        accept(engine, envelope, member_ref, document, datetime.now(UTC))


def pending(engine: sa.Engine, ids: list[str]) -> int:
    events = tables.events
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(events)
                .where(events.c.id.in_(ids), events.c.status != "processed")
            ).scalar_one()
        )


def wait_until_processed(engine: sa.Engine, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pending(engine, ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s with events still pending")
        time.sleep(0.2)


class Workers:
    """``reactor worker`` in a process group of its own, stopped at the end."""

    def __init__(self, env: dict[str, str], processes: int, threads: int) -> None:
        command = [sys.executable, "-m", "reactor", "worker"]
        command += ["--processes", str(processes), "--threads", str(threads)]
        self.process = subprocess.Popen(
            command,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # Dramatiq's main process passes it on to its workers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@dataclass(frozen=True)
class Run:
    """What one run measured: when each event was processed, and the points awarded."""

    members: int
    processed: list[datetime]  # sorted
    enqueue_seconds: float
    points: int

    def rate(self, start: int = 0, stop: int | None = None) -> float:
        """Events per second from the ``start``-th processed event to the ``stop``-th."""
        times = self.processed[start:stop]
        seconds = (times[-1] - times[0]).total_seconds()
        return (len(times) - 1) / seconds if seconds > 0 else float("inf")


def run(args: argparse.Namespace, members: int) -> Run:
    namespace = f"bench-{uuid.uuid4().hex[:12]}"
    with scratch_database(args.postgres_url) as url:
        settings = Settings(
            database_url=url,
            broker_url=args.redis_url,
            queue_namespace=namespace,
            rules_path=args.rules,
        )
        runtime = Runtime(settings)
        workers: Workers | None = None
        try:
            warm = [(f"warm_{i}", f"warm-{i}") for i in range(WARM_UP)]
            measured = [(f"evt_{i}", f"member-{i % members}") for i in range(args.events)]
            store(runtime.engine, [*warm, *measured])
            env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
            env.update(
                REACTOR_DATABASE_URL=url,
                REACTOR_BROKER_URL=args.redis_url,
                REACTOR_QUEUE_NAMESPACE=namespace,
                REACTOR_RULES_PATH=str(args.rules),
                REACTOR_LOG_FORMAT="json",
                REACTOR_LOG_LEVEL=args.log_level,
                # Above the time the backlog takes, as the README asks: no sweeps meanwhile.
                REACTOR_SWEEP_AFTER_SECONDS="600",
            )
            workers = Workers(env, args.processes, args.threads)
            for event_id, _ in warm:
                runtime.enqueue(event_id)
            wait_until_processed(runtime.engine, [e for e, _ in warm], timeout=60)
            time.sleep(1)  # let the other worker processes finish booting too
            ids = [event_id for event_id, _ in measured]
            began = time.perf_counter()
            for event_id in ids:
                runtime.enqueue(event_id)
            enqueued = time.perf_counter() - began
            wait_until_processed(runtime.engine, ids, timeout=args.timeout)
            events, ledger = tables.events, tables.ledger
            processed_at = events.c.processed_at
            with runtime.engine.connect() as conn:
                moments = conn.execute(
                    sa.select(processed_at).where(events.c.id.in_(ids)).order_by(processed_at)
                ).scalars()
                processed = list(moments)
                points = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(ledger.c.points), 0)).where(
                        ledger.c.event_id.in_(ids)
                    )
                ).scalar_one()
        finally:
            if workers is not None:
                workers.stop()
            runtime.stop()  # closes the broker, disposes the engine
            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
    return Run(members, processed, enqueued, int(points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--members", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rules", type=Path, default=RULES_PATH, help="rules folder")
    parser.add_argument("--log-level", default="INFO", help="the workers' REACTOR_LOG_LEVEL")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait per run")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REACTOR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"),
    )
    add_postgres_option(parser)
    args = parser.parse_args()
    print(
        f"reactor worker --processes {args.processes} --threads {args.threads}; "
        f"{args.events:,} reviews per run; rules {args.rules}"
    )
    for members in args.members:
        done = run(args, members)
        quarter = len(done.processed) // 4
        seconds = (done.processed[-1] - done.processed[0]).total_seconds()
        print(
            f"{members:>5} member(s): {done.rate():7.1f} events/s  ({len(done.processed):,} "
            f"events, {seconds:.2f} s from first to last processed)\n"
            f"{'':15}first quarter {done.rate(0, quarter):.1f}/s, last quarter "
            f"{done.rate(-quarter):.1f}/s; enqueued in {done.enqueue_seconds:.2f} s; "
            f"{done.points:,} points awarded"
        )


if __name__ == "__main__":
    main()
