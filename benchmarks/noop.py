"""Dramatiq alone: how many no-op messages per second ``dramatiq`` moves on this Redis, with
Reactor's worker shape (2 processes x 4 threads), for the ratio ``benchmarks.load`` is judged
by. Each message's actor does one Redis ``INCR`` so the end can be seen.

    .venv/bin/python -m benchmarks.noop [--messages 20000] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from benchmarks.harness import REDIS_URL, add_redis_option, command_line

URL = REDIS_URL  # read from the environment, as the worker processes are given it
NAMESPACE = os.environ.get("NOOP_NAMESPACE", "noop")
broker = RedisBroker(url=URL, namespace=NAMESPACE)  # type: ignore[no-untyped-call]
dramatiq.set_broker(broker)
_counter = redis.Redis.from_url(URL)


@dramatiq.actor(queue_name="noop", max_retries=0)
def noop() -> None:
    _counter.incr(f"{NAMESPACE}:done")


def run(args: argparse.Namespace) -> dict[str, Any]:
    namespace = f"noop-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NOOP_NAMESPACE": namespace, "REACTOR_BENCH_REDIS_URL": args.redis_url}
    # Enqueue from a process of our own whose broker has the test's namespace.
    client = redis.Redis.from_url(args.redis_url)
    code = f"import benchmarks.noop as n\nfor _ in range({args.messages}): n.noop.send()\n"
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "benchmarks.noop", "--processes", "2", "--threads", "4"],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while int(client.get(f"{namespace}:done") or 0) == 0:
            time.sleep(0.01)
        started = time.perf_counter()
        first = int(client.get(f"{namespace}:done") or 0)
        while (done := int(client.get(f"{namespace}:done") or 0)) < args.messages:
            time.sleep(0.01)
        seconds = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        keys = list(client.scan_iter(match=f"{namespace}*"))
        if keys:
            client.delete(*keys)
    return {"messages": args.messages, "per_s": round((done - first) / seconds, 1)}


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=20_000)
    add_redis_option(parser)


def main() -> None:
    command_line(
        __doc__,
        options,
        run,
        lambda args, result: (
            f"dramatiq no-op: {result['per_s']:,.0f} messages/s over {args.messages:,}"
        ),
    )


if __name__ == "__main__":
    main()
