"""Memory of a ``reactor worker`` process with ``--rules`` generated rules loaded (1,000): the
resident set of each Dramatiq worker process once booted, on SQLite and the stub broker's
Redis queue (no events are processed: this is the rules' and the code's footprint).

    .venv/bin/python -m benchmarks.rss [--rules 1000] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.cpu import processes, trees
from benchmarks.harness import add_redis_option, command_line


def generated(count: int) -> str:
    """``count`` rules of the shapes authors write: event filters, thresholds, limits."""
    lines = ["rules:"]
    for i in range(count):
        lines += [f"  - id: rule-{i}", "    on: interaction.created"]
        if i % 4 == 0:
            when = f'action == "feedback" and count(within="30d", action="feedback") >= {i % 7 + 1}'
            lines += [f"    when: '{when}'", "    limit: {count: 1, per: month}"]
        elif i % 4 == 1:
            lines.append(
                f"    when: 'channel == \"app\" and duration is not None and duration > {i}'"
            )
        else:
            lines.append(f"    when: 'meta.stars is not None and meta.stars >= {i % 5 + 1}'")
        lines.append(f"    then: [{{points: {i % 50 + 1}}}]")
    return "\n".join(lines) + "\n"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="rss-"))
    (folder / "rules").mkdir()
    (folder / "rules" / "generated.yaml").write_text(generated(args.rules))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(
        REACTOR_DATABASE_URL=f"sqlite:///{folder / 'rss.db'}",
        REACTOR_BROKER_URL=args.redis_url,
        REACTOR_QUEUE_NAMESPACE=f"rss-{uuid.uuid4().hex[:8]}",
        REACTOR_RULES_PATH=str(folder / "rules"),
        REACTOR_LOG_LEVEL="WARNING",
    )
    subprocess.run([sys.executable, "-m", "reactor", "db", "upgrade"], env=env, check=True)
    command = [sys.executable, "-m", "reactor", "worker", "--processes", "2", "--threads", "4"]
    worker = subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        largest, steady = 0.0, 0
        deadline = time.monotonic() + 60
        while steady < 10 and time.monotonic() < deadline:  # a second without growth
            time.sleep(0.1)
            children = trees(worker.pid)(processes()) - {worker.pid}
            now = max((rss_mib(pid) for pid in children), default=0.0)
            steady = steady + 1 if now <= largest and now > 0 else 0
            largest = max(largest, now)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    return {"rules": args.rules, "worker_rss_mib": round(largest, 1)}


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", type=int, default=1000)
    add_redis_option(parser)


def main() -> None:
    command_line(
        __doc__,
        options,
        run,
        lambda args, result: (
            f"worker process RSS with {args.rules:,} rules: {result['worker_rss_mib']} MiB"
        ),
    )


if __name__ == "__main__":
    main()
