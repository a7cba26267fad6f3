"""Load over real, signed HTTP: ``reactor serve`` + ``reactor worker`` on PostgreSQL + Redis,
clients posting like a platform, every point checked afterwards.

Workloads (``--workload``):

- ``twenty``: 20 rules on ``interaction.created``, 4 of them calling history functions;
  ``--members`` members (2,000), varied interactions (reviews, visits, views, purchases,
  support) over a month, each member's in event-time order. Exact: every event processed,
  one decision per rule per event, each member's balance equal to their ledger's sum.
- ``peer``: the one-rule workload of issue 10, ``count(period="month", ...) == 5 → 50 points``,
  6 reviews per member, posted member by member in event-time order. Exact: every member
  has exactly 50 points.
- ``hot``: every event for one member, one every 10 minutes of event time; a point each, and
  50 a day at the fifth (``count(period="day") >= 5`` with a daily limit). Exact: the member
  has exactly that.

Modes: closed loop (each of ``--clients`` keep-alive connections posts its next event as soon
as the last is answered); ``--rate N`` posts N events/s open loop, for latency at a given load
(POST → processed, from the moment the request was sent to the event's ``processed_at``);
``--no-workers`` stops at the receiver (accepted/s and POST latency alone).

The client is a small asyncio HTTP/1.1 client (prebuilt requests, Standard Webhooks signed),
so the load generator takes little of the machine; its CPU is in the split all the same.
Prints, and writes as JSON with ``--json FILE``: accepted/s, end to end events/s, POST p50/p99,
POST → processed p50/p99, CPU ms per event for each process group (receiver, workers,
postgres, redis, load), and whether the run was exact.

    .venv/bin/python -m benchmarks.load [--workload twenty] [--events 20000] [--clients 32]
        [--rate N] [--no-workers] [--processes 2] [--threads 4] [--json FILE]
        [--server-path CHECKOUT]

``--server-path`` runs ``serve`` and ``worker`` from another checkout (run this from a
directory without a ``reactor/`` of its own, ``PYTHONPATH`` at this checkout), for A/B runs.
Needs PostgreSQL (``--postgres-url``, an admin URL) and Redis (``--redis-url``); works in a
throwaway database and queue namespace, both removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import sqlalchemy as sa

from benchmarks.cpu import CpuMeter, describe, named, trees
from benchmarks.evaluation import interaction as varied
from benchmarks.harness import add_postgres_option, add_redis_option, command_line, scratch_database
from benchmarks.pipeline import Workers
from reactor.signatures import sign
from reactor.storage import make_engine, tables

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MONTH_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

PEER_RULE = """\
rules:
  - id: five-reviews-this-month
    on: interaction.created
    when: count(period="month", action="feedback", channel=("app", "website")) == 5
    then:
      - points: 50
"""

HOT_RULES = """\
rules:
  - id: a-point-each
    on: interaction.created
    then: [{points: 1}]
  - id: fifth-today
    on: interaction.created
    when: count(period="day") >= 5
    limit: {count: 1, per: day}
    then: [{points: 50}]
"""
HOT_SPACING = timedelta(minutes=10)
"""A very busy member: an event every 10 minutes, so a day's history is at most 144 events."""


def hot_points(count: int) -> int:
    """What the hot member must have: a point an event, 50 a day with five events or more."""
    per_day = Counter((MONTH_START + HOT_SPACING * i).date() for i in range(count))
    return count + 50 * sum(1 for events in per_day.values() if events >= 5)


# 16 rules that read only the event, 4 that call history functions.
_SIMPLE = [
    ("review", 'action == "feedback"', 10),
    ("rating", 'action == "feedback" and interacted_type == "rating"', 2),
    ("five-stars", "meta.stars is not None and meta.stars == 5", 3),
    ("photo", 'tags is not None and "photo" in tags', 4),
    ("app-visit", 'action == "visit" and channel == "app"', 1),
    ("web-visit", 'action == "visit" and channel == "website"', 1),
    ("store-visit", 'action == "visit" and channel == "location"', 5),
    ("long-view", 'action == "view" and duration is not None and duration >= 600', 2),
    ("email-view", 'action == "view" and channel == "email"', 1),
    ("purchase", 'action == "product"', 20),
    ("big-basket", 'action == "product" and meta.order_total >= 200', 30),
    ("sustainable", 'tags is not None and "sustainability" in tags', 5),
    ("support", 'action == "service"', 1),
    ("positive", "signal == 1", 1),
    ("weekend", "weekday >= 5", 2),
    ("evening", "hour >= 18", 1),
]
_HISTORY = [
    ("first-review-this-month", 'action == "feedback" and count(period="month", '
     'action="feedback") >= 1', 50, "{count: 1, per: month}"),
    ("regular-visitor", 'action == "visit" and count(within="30d", action="visit") >= 5',
     15, "{count: 1, per: week}"),
    ("daily-viewer", 'action == "view" and count(period="day", action="view") >= 1', 2,
     "{count: 1, per: day}"),
    ("big-spender", 'action == "product" and sum_of("meta.order_total", period="month", '
     'action="product") >= 500', 100, "{count: 1, per: month}"),
]  # fmt: skip


def twenty_rules() -> str:
    lines = ["rules:"]
    for name, when, points in _SIMPLE:
        lines += [f"  - id: {name}", "    on: interaction.created", f"    when: '{when}'"]
        lines += [f"    then: [{{points: {points}}}]"]
    for name, when, points, limit in _HISTORY:
        lines += [f"  - id: {name}", "    on: interaction.created", f"    when: '{when}'"]
        lines += [f"    limit: {limit}", f"    then: [{{points: {points}}}]"]
    return "\n".join(lines) + "\n"


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


@dataclass(frozen=True)
class Workload:
    rules: str
    documents: list[dict[str, Any]]


def workload(args: argparse.Namespace) -> Workload:
    rng = random.Random(args.seed)
    if args.workload == "peer":
        reviews = 6
        members = max(1, args.events // reviews)
        documents = [review(m, n) for m in range(members) for n in range(reviews)]
        return Workload(PEER_RULE, documents)
    if args.workload == "hot":
        documents = [
            varied(f"evt_{i}", "hot-member", MONTH_START + HOT_SPACING * i, rng)
            for i in range(args.events)
        ]
        return Workload(HOT_RULES, documents)
    # twenty: each member's events in event-time order, members interleaved at random
    per_member = max(1, args.events // args.members)
    span = timedelta(days=28) / per_member
    queues = [
        [
            varied(f"evt_{m}_{n}", f"member-{m}", MONTH_START + span * n, rng)
            for n in range(per_member)
        ]
        for m in range(args.members)
    ]
    documents = []
    order = [m for m in range(args.members) for _ in range(per_member)]
    rng.shuffle(order)
    position = [0] * args.members
    for m in order:
        documents.append(queues[m][position[m]])
        position[m] += 1
    return Workload(twenty_rules(), documents)


def request(host: str, document: dict[str, Any], index: int) -> bytes:
    body = json.dumps(document).encode()
    msg_id = f"msg_{index}"
    when = int(time.time())
    head = (
        f"POST /webhooks HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nwebhook-id: {msg_id}\r\n"
        f"webhook-timestamp: {when}\r\nwebhook-signature: {sign(SECRET, msg_id, when, body)}"
        "\r\n\r\n"
    )
    return head.encode() + body


async def post_all(
    port: int, documents: Sequence[dict[str, Any]], clients: int, rate: float | None
) -> tuple[list[float], dict[str, float]]:
    """POST every document over ``clients`` keep-alive connections; each POST's seconds, and
    the wall-clock time each event was sent (by id)."""
    latencies: list[float] = []
    sent: dict[str, float] = {}
    position = iter(range(len(documents)))
    started = time.perf_counter()
    host = f"127.0.0.1:{port}"

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for index in position:
                if rate is not None:
                    due = started + index / rate
                    if (wait := due - time.perf_counter()) > 0:
                        await asyncio.sleep(wait)
                payload = request(host, documents[index], index)
                sent[documents[index]["id"]] = time.time()
                began = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - began)
                if status != 202:
                    raise SystemExit(f"POST answered {status}: {answer.decode()[:300]}")
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, sent


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check(engine: sa.Engine, args: argparse.Namespace, count: int) -> dict[str, Any]:
    """Whether every point is where it should be."""
    events, ledger, members = tables.events, tables.ledger, tables.members
    decisions = tables.decisions
    with engine.connect() as conn:
        sums = dict(
            conn.execute(
                sa.select(ledger.c.member_id, sa.func.sum(ledger.c.points)).group_by(
                    ledger.c.member_id
                )
            ).all()
        )
        balances = dict(conn.execute(sa.select(members.c.id, members.c.points)).all())
        processed = conn.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.status == "processed")
        ).scalar_one()
        # The record: rows for what fired, plus each event's compact array of skips.
        rows = conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
        skips = conn.execute(
            sa.text("SELECT COALESCE(SUM(json_array_length(skipped::json)), 0) FROM events")
        ).scalar_one()
        decided = rows + int(skips)
    paid = {m: int(sums.get(m, 0)) for m in balances}
    balanced = all(int(balances[m]) == paid[m] for m in balances)
    found: dict[str, Any] = {"processed": processed, "balance_is_ledger_sum": balanced}
    if args.workload == "peer":
        found["members_by_points"] = dict(sorted(Counter(paid.values()).items()))
        exact = set(paid.values()) == {50}
    elif args.workload == "hot":
        found["points"] = paid.get("hot-member", 0)
        found["expected_points"] = hot_points(count)
        exact = found["points"] == found["expected_points"]
    else:
        found["decisions"] = decided
        exact = decided == count * 20
    found["exact"] = bool(exact and balanced and processed == count)
    return found


def run(args: argparse.Namespace) -> dict[str, Any]:
    load = workload(args)
    namespace = f"bench-{uuid.uuid4().hex[:12]}"
    rules = Path(tempfile.mkdtemp(prefix="load-rules-"))
    (rules / "rules.yaml").write_text(load.rules)
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
        for setting in args.env or []:
            name, _, value = setting.partition("=")
            env[name] = value
        if args.server_path is not None:
            env["PYTHONPATH"] = str(args.server_path)
        port = free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "reactor", "serve", "--port", str(port)]
            + (["--processes", str(args.serve_processes)] if args.serve_processes > 1 else []),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        workers = None if args.no_workers else Workers(env, args.processes, args.threads)
        engine = make_engine(url)
        try:
            wait_until_up(f"http://127.0.0.1:{port}")
            roots = [serve.pid] + ([] if workers is None else [workers.process.pid])
            meter = CpuMeter(
                {
                    "receiver": trees(serve.pid),
                    "workers": trees(*roots[1:]),
                    "postgres": named("postgres"),
                    "redis": named("redis-server"),
                    "load": lambda processes: {os.getpid()},
                }
            )
            meter.start()
            began = datetime.now(UTC)
            started = time.perf_counter()
            latencies, sent = asyncio.run(post_all(port, load.documents, args.clients, args.rate))
            posting = time.perf_counter() - started
            if workers is not None:
                wait_processed(engine, len(load.documents), args.timeout)
            meter.stop()
            result = measured(engine, load, began, posting, latencies, sent, workers is not None)
            result["cpu_ms_per_event"] = meter.per_event_ms(len(load.documents))
            if workers is not None:
                result.update(check(engine, args, len(load.documents)))
        finally:
            if workers is not None:
                workers.stop()
            serve.terminate()
            serve.wait(timeout=30)
            engine.dispose()
            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
    shape = {"serve_processes": args.serve_processes, "worker_processes": args.processes}
    return {
        "workload": args.workload,
        "clients": args.clients,
        "rate": args.rate,
        **shape,
        **result,
    }


def wait_until_up(base: str) -> None:
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


def wait_processed(engine: sa.Engine, count: int, timeout: float) -> None:
    events = tables.events
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            done = conn.execute(
                sa.select(sa.func.count()).select_from(events).where(events.c.status != "pending")
            ).scalar_one()
        if done >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out with {count - done} events pending")
        time.sleep(0.1)


def measured(
    engine: sa.Engine,
    load: Workload,
    began: datetime,
    posting: float,
    latencies: list[float],
    sent: dict[str, float],
    processed: bool,
) -> dict[str, Any]:
    count = len(load.documents)
    result: dict[str, Any] = {
        "events": count,
        "accepted_per_s": round(count / posting, 1),
        "post_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "post_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }
    if not processed:
        return result
    events = tables.events
    with engine.connect() as conn:
        done = dict(conn.execute(sa.select(events.c.id, events.c.processed_at)).all())
    last = max(done.values())
    lags = [(done[i].timestamp() - at) for i, at in sent.items() if done.get(i)]
    result["end_to_end_per_s"] = round(count / (last - began).total_seconds(), 1)
    result["processed_p50_ms"] = round(statistics.median(lags) * 1000, 1)
    result["processed_p99_ms"] = round(percentile(lags, 0.99) * 1000, 1)
    return result


def report(result: dict[str, Any]) -> str:
    parts = [
        f"{result['workload']}: {result['events']:,} events, {result['clients']} clients"
        + (f" at {result['rate']:.0f}/s" if result["rate"] else ""),
        f"accepted {result['accepted_per_s']:,.0f}/s",
    ]
    if "end_to_end_per_s" in result:
        parts.append(f"end to end {result['end_to_end_per_s']:,.0f}/s")
    parts.append(f"POST p50 {result['post_p50_ms']} ms p99 {result['post_p99_ms']} ms")
    if "processed_p99_ms" in result:
        p50, p99 = result["processed_p50_ms"], result["processed_p99_ms"]
        parts.append(f"POST→processed p50 {p50} ms p99 {p99} ms")
    parts.append("CPU ms/event " + describe(result["cpu_ms_per_event"]))
    if "exact" in result:
        parts.append("exact" if result["exact"] else f"NOT EXACT {result}")
    return "; ".join(parts)


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", choices=("twenty", "peer", "hot"), default="twenty")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--members", type=int, default=2000, help="(twenty)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, help="post this many events/s (open loop)")
    parser.add_argument("--no-workers", action="store_true", help="measure the receiver alone")
    parser.add_argument("--processes", type=int, default=2, help="reactor worker --processes")
    parser.add_argument(
        "--env", action="append", metavar="REACTOR_X=VALUE", help="a setting for serve and worker"
    )
    parser.add_argument("--serve-processes", type=int, default=1, help="reactor serve --processes")
    parser.add_argument("--threads", type=int, default=4, help="reactor worker --threads")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--server-path", type=Path, help="run serve and worker from this checkout instead"
    )
    add_postgres_option(parser)
    add_redis_option(parser)


def main() -> None:
    command_line(__doc__, options, run, lambda args, result: report(result))


if __name__ == "__main__":
    main()
