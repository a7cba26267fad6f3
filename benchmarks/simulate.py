"""How fast ``reactor simulate`` replays a large file through the shipped rules.

Generates a deterministic JSON-lines file of envelopes from every world the shipped rules cover
(reviews, swims from watches, email and push engagement, logins and app visits, product views,
support contacts, personalization tracking events) for ``--members`` members over three months,
in event-time order. One member in twenty is a regular who sends three events in ten; about 1%
of deliveries are duplicates and a few reviews are deleted again. Then it runs
``reactor simulate`` on the file, as a loyalty analyst would, and prints its report with the
events/s of the whole command.

    .venv/bin/python -m benchmarks.simulate [--events 100000] [--members 5000] [--rules rules]
    .venv/bin/python -m benchmarks.simulate --write events.jsonl   # only write the file

Needs no services: simulate runs in an in-memory SQLite database.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2026, 11, 1, tzinfo=UTC)
SPAN = timedelta(days=92)  # November to January: months, weeks, and the December campaign

#: (weight, kind): how often each kind of event occurs.
MIX = [
    (25, "product_view"),
    (14, "login"),
    (8, "app_open"),
    (14, "email_open"),
    (3, "email_click"),
    (7, "push_open"),
    (2, "push_click"),
    (8, "review"),
    (12, "swim"),
    (4, "support"),
    (3, "tracking"),
]


def generate(events: int, members: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``events`` envelopes in event-time order; the same arguments give the same file."""
    rng = random.Random(seed)
    kinds = [kind for weight, kind in MIX for _ in range(weight)]
    step = SPAN / events
    reviews: list[tuple[str, dict[str, Any]]] = []
    made = 0
    n = 0
    while made < events:
        n += 1
        moment = START + step * made
        # A few regulars (one member in twenty) send three events in ten: their history is long
        # enough for streaks, records and levels.
        regulars = max(1, members // 20)
        member = f"m{rng.randrange(regulars) if rng.random() < 0.3 else rng.randrange(members)}"
        kind = rng.choice(kinds)
        envelope = _envelope(rng, kind, f"{kind}_{n}", member, moment)
        yield envelope
        made += 1
        if kind == "review":
            reviews.append((member, envelope))
        if made < events and rng.random() < 0.01:  # a webhook delivered twice
            yield envelope
            made += 1
        if made < events and reviews and rng.random() < 0.002:  # moderators take one down
            _, original = reviews.pop(rng.randrange(len(reviews)))
            yield {
                "id": f"del_{n}",
                "type": "interaction.deleted",
                "created_at": _iso(moment),
                "data": {k: v for k, v in original["data"].items() if k != "interacted_at"},
            }
            made += 1


def _envelope(
    rng: random.Random, kind: str, event_id: str, member: str, moment: datetime
) -> dict[str, Any]:
    if kind == "swim":
        distance = rng.choice([400, 800, 1000, 1200, 1500, 1500, 2000, 2500, 3000])
        data = {
            "profile_id": member,
            "distance_m": distance + 50 * rng.randrange(4),
            "duration_s": distance * rng.randrange(100, 160) // 100,
            "stroke": rng.choice(["freestyle", "mixed", "backstroke", "breaststroke"]),
            "pool_length_m": 25,
        }
        return {"id": event_id, "type": "swim.completed", "created_at": _iso(moment), "data": data}
    if kind == "tracking":
        data = {
            "profile_id": member,
            "experience": rng.choice(["swim_kit_popup_01", "swim_kit_popup_01", "goggles_02"]),
            "variant": rng.choice(["banner_a", "banner_b", "control"]),
            "status": rng.choice(["SUCCESS"] * 9 + ["FAILURE"]),
            "channel": "WEB",
            "point_of_sale": "bayside-masters/au",
        }
        return {
            "id": event_id,
            "type": "experience.tracked",
            "created_at": _iso(moment),
            "data": data,
        }
    data = {
        "id": f"int_{event_id}",
        "profile_id": member,
        "signal": 1,
        "interacted_at": _iso(moment),
        **_interaction(rng, kind),
    }
    return {"id": event_id, "type": "interaction.created", "created_at": _iso(moment), "data": data}


def _interaction(rng: random.Random, kind: str) -> dict[str, Any]:
    campaign = f"cmp_{rng.randrange(40)}"
    if kind == "product_view":
        return {
            "action": "view",
            "channel": rng.choice(["app", "website"]),
            "name": "Viewed product page",
            "namespace": "catalog",
            "product_id": f"sku-{rng.randrange(300)}",
        }
    if kind in ("login", "app_open"):
        return {
            "action": "visit",
            "channel": "app" if kind == "app_open" else rng.choice(["app", "website"]),
            "name": "Logged in" if kind == "login" else "Opened the app",
            "namespace": "auth",
        }
    if kind in ("email_open", "push_open"):
        channel = "email" if kind == "email_open" else "push"
        return {
            "action": rng.choice(["view", "view", "reach"]) if channel == "email" else "view",
            "channel": channel,
            "name": f"Opened {channel}",
            "namespace": channel,
            "interacted_type": "campaign",
            "interacted_id": campaign,
        }
    if kind in ("email_click", "push_click"):
        channel = "email" if kind == "email_click" else "push"
        return {
            "action": "visit",
            "channel": channel,
            "name": f"Clicked a link in {channel}",
            "namespace": channel,
            "interacted_type": "campaign",
            "interacted_id": campaign,
            "url": "https://example.com/summer",
        }
    if kind == "review":
        stars = rng.choice([3, 4, 5, 5])
        return {
            "action": "feedback",
            "channel": rng.choice(["website", "app"]),
            "name": "Reviewed a product",
            "namespace": "reviews",
            "interacted_type": "rating",
            "interacted_id": f"r_{rng.randrange(10**9)}",
            "product_id": f"sku-{rng.randrange(300)}",
            "meta": {"stars": stars},
            "description": "Fits well and dries fast." * rng.randrange(1, 4),
            "tags": ["review"],
        }
    assert kind == "support", kind
    return {
        "action": "service",
        "channel": "support",
        "name": "Support contact",
        "namespace": "helpdesk",
        "signal": rng.choice([-1, -1, 0, 1]),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def write(path: Path, events: int, members: int) -> None:
    with path.open("w") as out:
        for envelope in generate(events, members):
            out.write(json.dumps(envelope) + "\n")


SHIPPED_RULES = Path(__file__).resolve().parent.parent / "rules"


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument(
        "--rules", default=str(SHIPPED_RULES), help="rules to replay (default: the shipped ones)"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Write the file, replay it with ``reactor simulate``; the command's report and rate."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "events.jsonl"
        write(path, args.events, args.members)
        command = [sys.executable, "-m", "reactor", "simulate", str(path), "--rules", args.rules]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"reactor simulate failed ({done.returncode}):\n{done.stderr}")
    return {
        "events": args.events,
        "seconds": round(elapsed, 1),
        "per_s": round(args.events / elapsed, 1),
        "report": done.stdout,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options(parser)
    parser.add_argument("--write", type=Path, help="only write the events to this file")
    args = parser.parse_args()
    if args.write is not None:
        write(args.write, args.events, args.members)
        print(f"wrote {args.events:,} events for {args.members:,} members to {args.write}")
        return
    result = run(args)
    print(result["report"])
    print(
        f"{args.events:,} events, {args.members:,} members, rules {args.rules}: "
        f"{result['seconds']:.1f} s wall for the whole command, {result['per_s']:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
