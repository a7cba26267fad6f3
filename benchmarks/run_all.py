"""Every row of issue 10's table in one run: figures, the ratio each is judged by, the target,
and the CPU split per process group; written as JSON too.

    .venv/bin/python -m benchmarks.run_all [--quick] [--json results.json]

``--quick`` (a few minutes) runs smaller sizes of the same rows; the full run takes about half
an hour. Needs PostgreSQL and Redis as the single benchmarks do (``REACTOR_BENCH_POSTGRES_URL``,
``REACTOR_BENCH_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import load, member_history, noop, rss, simulate
from benchmarks.cpu import describe

Module = Any


def with_options(module: Module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.options(parser)
    return parser.parse_args(argv)


def rows(quick: bool) -> list[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]]:
    """(row, target, measure): each measure gets the results so far and returns its own."""
    size = (lambda q, f: str(q)) if quick else (lambda q, f: str(f))

    def end_to_end(_: dict[str, Any]) -> dict[str, Any]:
        args = ["--workload", "twenty", "--clients", "32", "--events", size(8000, 60000)]
        return load.run(with_options(load, args))

    def dramatiq_noop(_: dict[str, Any]) -> dict[str, Any]:
        return noop.run(with_options(noop, ["--messages", size(10000, 30000)]))

    def receiver(_: dict[str, Any]) -> dict[str, Any]:
        args = ["--workload", "twenty", "--clients", "32", "--no-workers"]
        return load.run(with_options(load, [*args, "--events", size(6000, 20000)]))

    def half_rate(done: dict[str, Any]) -> dict[str, Any]:
        rate = done["end to end"]["end_to_end_per_s"] / 2
        args = ["--workload", "twenty", "--clients", "32", "--rate", f"{rate:.0f}"]
        return load.run(with_options(load, [*args, "--events", size(4000, 20000)]))

    def hot(_: dict[str, Any]) -> dict[str, Any]:
        args = ["--workload", "hot", "--clients", "8", "--events", size(2000, 6000)]
        return load.run(with_options(load, args))

    def peer(_: dict[str, Any]) -> dict[str, Any]:
        args = ["--workload", "peer", "--clients", "16", "--events", "12000"]
        return load.run(with_options(load, args))

    def history(_: dict[str, Any]) -> dict[str, Any]:
        sizes = ["100", size(10000, 100000)]
        return member_history.run(
            with_options(member_history, ["--sizes", *sizes, "--events", "50"])
        )

    def replay(_: dict[str, Any]) -> dict[str, Any]:
        found = simulate.run(with_options(simulate, ["--events", size(20000, 100000)]))
        found.pop("report")
        return found

    def memory(_: dict[str, Any]) -> dict[str, Any]:
        return rss.run(with_options(rss, ["--rules", "1000"]))

    return [
        ("dramatiq no-op", "(the yardstick for the ratio)", dramatiq_noop),
        ("end to end", ">= 1,000 events/s, exact; >= 0.4x no-op", end_to_end),
        ("receiver alone", ">= 3,000 accepted/s, p99 <= 20 ms", receiver),
        ("half rate", "p99 POST -> processed <= 50 ms", half_rate),
        ("hot member", ">= 300 events/s, exact", hot),
        ("peer workload", "every member exactly 50 points", peer),
        ("member history", "per-event time <= 1.5x", history),
        ("simulate", ">= 10,000 events/s", replay),
        ("worker RSS", "<= 150 MB with 1,000 rules", memory),
    ]


def figure(name: str, result: dict[str, Any], done: dict[str, Any]) -> str:
    """The row's figure and the ratio it is judged by."""
    if name == "end to end":
        ratio = (
            result["end_to_end_per_s"] / done["dramatiq no-op"]["per_s"]
            if "dramatiq no-op" in done
            else None
        )
        text = f"{result['end_to_end_per_s']:,.0f} events/s, exact: {result['exact']}"
        return text + (f"; {ratio:.2f}x Dramatiq's no-op rate" if ratio else "")
    if name == "dramatiq no-op":
        return f"{result['per_s']:,.0f} messages/s"
    if name == "receiver alone":
        return f"{result['accepted_per_s']:,.0f} accepted/s, POST p99 {result['post_p99_ms']} ms"
    if name == "half rate":
        return (
            f"at {result['rate']:.0f}/s: POST -> processed p50 {result['processed_p50_ms']} ms,"
            f" p99 {result['processed_p99_ms']} ms"
        )
    if name in ("hot member", "peer workload"):
        extra = result.get("members_by_points", result.get("points"))
        return f"{result['end_to_end_per_s']:,.0f} events/s, exact: {result['exact']} ({extra})"
    if name == "member history":
        return f"{result['ms_per_event']} ms per event: {result['ratio']}x"
    if name == "simulate":
        return f"{result['events']:,} events in {result['seconds']} s: {result['per_s']:,.0f}/s"
    return f"{result['worker_rss_mib']} MiB per worker process"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a few minutes")
    parser.add_argument("--json", type=Path, help="write every row's results here")
    parser.add_argument("--only", nargs="+", help="run only these rows (by name)")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=False,
    ).stdout.strip()
    done: dict[str, Any] = {}
    began = time.perf_counter()
    for name, target, measure in rows(args.quick):
        if args.only and name not in args.only:
            continue
        started = time.perf_counter()
        done[name] = measure(done)
        seconds = time.perf_counter() - started
        print(
            f"| {name} | {target} | {figure(name, done[name], done)} | {seconds:.0f} s |",
            flush=True,
        )
        if "cpu_ms_per_event" in done[name]:
            print(
                f"|   CPU ms per event | | {describe(done[name]['cpu_ms_per_event'])} | |",
                flush=True,
            )
    took = time.perf_counter() - began
    print(f"\n{len(done)} rows in {took:.0f} s; commit {commit}, {platform.node()}")
    if args.json:
        meta = {"commit": commit, "quick": args.quick, "machine": platform.platform()}
        args.json.write_text(json.dumps({"meta": meta, "rows": done}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
