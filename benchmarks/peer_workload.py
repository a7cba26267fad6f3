"""The one-rule peer workload over real HTTP: is every member paid exactly, and how fast?

"5 reviews on app or website this month → 50 points" (``count(...) == 5``, the form authors
write first) for ``--members`` members (default 2,000), ``--reviews`` each (default 6), posted
by ``--clients`` keep-alive clients (default 16) as Standard-Webhooks-signed ``POST /webhooks``
to ``reactor serve``, processed by ``reactor worker`` (defaults) on PostgreSQL + Redis. The
reviews are posted member by member, each member's in event-time order, so the clients post one
member's reviews within milliseconds of each other, on different connections. Afterwards every
member must have exactly 50 points: the figure to watch is how many did not (I3).

Prints, and writes as JSON with ``--json FILE``: accepted/s at the receiver, events/s end to end
(first POST to last ``processed_at``), POST latency p50/p99, and members paid 0, 50 or 100.

    .venv/bin/python -m benchmarks.peer_workload [--members 2000] [--reviews 6] [--clients 16]
        [--runs 1] [--json FILE] [--server-path CHECKOUT]

``--server-path`` runs ``serve`` and ``worker`` from another checkout (say, the commit before a
change), so two versions can be compared on the same machine in alternating runs.

Needs PostgreSQL (``--postgres-url`` or ``REACTOR_BENCH_POSTGRES_URL``, an admin URL) and Redis
(``--redis-url`` or ``REACTOR_BENCH_REDIS_URL``); works in a throwaway database and queue
namespace, both removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

from benchmarks.harness import add_postgres_option, scratch_database
from benchmarks.pipeline import Workers
from reactor.signatures import signed_headers
from reactor.storage import make_engine, tables

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
RULE = """\
rules:
  - id: five-reviews-this-month
    on: interaction.created
    when: count(period="month", action="feedback", channel=("app", "website")) == 5
    then:
      - points: 50
"""
MONTH_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def review(member: int, n: int) -> dict[str, Any]:
    occurred = MONTH_START + timedelta(days=n, minutes=member % 600)
    return {
        "id": f"evt_{member}_{n}",
        "type": "interaction.created",
        "data": {
            "id": f"int_{member}_{n}",
            "profile_id": f"member-{member}",
            "action": "feedback",
            "channel": "app" if n % 2 else "website",
            "signal": 1,
            "name": "Reviewed a product",
            "namespace": "reviews",
            "interacted_at": occurred.isoformat(),
            "interacted_type": "rating",
        },
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post_all(base: str, documents: list[dict[str, Any]], clients: int) -> list[float]:
    """POST every document from ``clients`` threads (one keep-alive connection each), taking the
    next document in order; each POST's seconds."""
    latencies: list[float] = []
    refused: list[str] = []
    lock = threading.Lock()
    position = iter(range(len(documents)))

    def client() -> None:
        with httpx.Client(timeout=30) as http:
            while True:
                with lock:
                    index = next(position, None)
                if index is None:
                    return
                body = json.dumps(documents[index]).encode()
                headers = signed_headers(SECRET, f"msg_{index}", body)
                headers["content-type"] = "application/json"
                started = time.perf_counter()
                answer = http.post(f"{base}/webhooks", content=body, headers=headers)
                took = time.perf_counter() - started
                if answer.status_code != 202:
                    with lock:
                        refused.append(f"POST answered {answer.status_code}: {answer.text}")
                    return
                with lock:
                    latencies.append(took)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if refused:
        raise SystemExit(refused[0])
    return latencies


def run(args: argparse.Namespace) -> dict[str, Any]:
    namespace = f"bench-{uuid.uuid4().hex[:12]}"
    rules = Path(tempfile.mkdtemp(prefix="peer-rules-"))
    (rules / "rule.yaml").write_text(RULE)
    with scratch_database(args.postgres_url) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
        env.update(
            REACTOR_DATABASE_URL=url,
            REACTOR_BROKER_URL=args.redis_url,
            REACTOR_QUEUE_NAMESPACE=namespace,
            REACTOR_RULES_PATH=str(rules),
            REACTOR_WEBHOOK_SECRETS=SECRET,
            REACTOR_LOG_LEVEL="WARNING",
            REACTOR_SWEEP_AFTER_SECONDS="600",
        )
        if args.server_path is not None:
            # Run serve and the workers from another checkout, to compare against it (run this
            # from a directory that holds no reactor/ package of its own).
            env["PYTHONPATH"] = str(args.server_path)
        port = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "reactor", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers = Workers(env, processes=args.processes, threads=args.threads)
        engine = make_engine(url)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("reactor serve did not start")
                time.sleep(0.2)
            time.sleep(2)  # the worker processes boot meanwhile
            documents = [review(m, n) for n in range(args.reviews) for m in range(args.members)]
            began = datetime.now(UTC)
            started = time.perf_counter()
            latencies = post_all(base, documents, args.clients)
            posting = time.perf_counter() - started
            events = tables.events
            deadline = time.monotonic() + args.timeout
            while True:
                with engine.connect() as conn:
                    left = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(events)
                        .where(events.c.status != "processed")
                    ).scalar_one()
                if not left:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out with {left} events not processed")
                time.sleep(0.2)
            with engine.connect() as conn:
                last = conn.execute(sa.select(sa.func.max(events.c.processed_at))).scalar_one()
                ledger = tables.ledger
                sums = dict(
                    conn.execute(
                        sa.select(ledger.c.member_id, sa.func.sum(ledger.c.points)).group_by(
                            ledger.c.member_id
                        )
                    ).all()
                )
                everyone = conn.execute(sa.select(tables.members.c.id)).scalars()
                paid = {member: int(sums.get(member, 0)) for member in everyone}
        finally:
            workers.stop()
            serve.terminate()
            serve.wait(timeout=30)
            engine.dispose()
            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
    total = len(documents)
    latencies.sort()
    return {
        "events": total,
        "members": args.members,
        "clients": args.clients,
        "accepted_per_s": round(total / posting, 1),
        "end_to_end_per_s": round(total / (last - began).total_seconds(), 1),
        "post_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "post_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
        "members_by_points": dict(sorted(Counter(paid.values()).items())),
        "exact": all(points == 50 for points in paid.values()) and len(paid) == args.members,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--reviews", type=int, default=6)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="reactor worker --processes")
    parser.add_argument("--threads", type=int, default=4, help="reactor worker --threads")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait per run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--server-path", type=Path, help="run serve and worker from this checkout instead"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("REACTOR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"),
    )
    add_postgres_option(parser)
    args = parser.parse_args()
    results = []
    for number in range(1, args.runs + 1):
        result = run(args)
        results.append(result)
        print(
            f"run {number}: {result['events']:,} events, {result['members']:,} members, "
            f"{result['clients']} clients: accepted {result['accepted_per_s']:,.0f}/s, "
            f"end to end {result['end_to_end_per_s']:,.0f}/s, POST p50 "
            f"{result['post_p50_ms']} ms p99 {result['post_p99_ms']} ms; members by points "
            f"{result['members_by_points']}: {'exact' if result['exact'] else 'NOT EXACT'}",
            flush=True,
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
