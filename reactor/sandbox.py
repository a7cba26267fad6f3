"""A throwaway in-memory Reactor: the production inbox, processor and rules, no broker (I5).

``reactor rules test`` and ``reactor simulate`` feed envelopes through it in order, so what they
report is what production would do with the same events and rule versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.pool import StaticPool

from reactor import queries, tables
from reactor.db import make_engine, reader
from reactor.envelope import validate_envelope
from reactor.inbox import Duplicate, store
from reactor.processor import Processed, process_stored
from reactor.rules import RuleSet

#: The clock of events that carry no time at all, so that replays stay deterministic.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Fed:
    """What happened to one envelope: accepted and processed, or a duplicate."""

    event_id: str
    duplicate: bool
    processed: Processed | None


class Sandbox:
    """One in-memory database; feed it envelopes, then read the members' state."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        # One connection for the life of the sandbox: an in-memory database lives in it.
        self.engine = make_engine("sqlite://", poolclass=StaticPool)
        tables.metadata.create_all(self.engine)
        self.conn = self.engine.connect()
        self.clock = EPOCH

    def feed(self, document: Mapping[str, Any]) -> Fed:
        """Validate, store and process one envelope; raises ``InputError`` for a bad one.

        Storing and processing share one transaction: nobody else can see the event between
        the two, so that is what production's two transactions amount to (and half the cost).
        """
        envelope, member = validate_envelope(dict(document), None)
        try:
            with self.conn.begin():
                # An event with no time of its own happened "now" in replay time: the latest.
                receipt = store(self.conn, envelope, member, document, self.clock)
                done = process_stored(self.conn, self.rules, receipt.event_id)
        except Duplicate as seen:
            return Fed(seen.receipt.event_id, True, None)
        if done.occurred_at is not None:
            self.clock = max(self.clock, done.occurred_at)
        return Fed(receipt.event_id, False, done)

    def member_ids(self) -> list[str]:
        with reader(self.engine).connect() as conn:
            return sorted(conn.execute(select(tables.members.c.id)).scalars())

    def member(self, member_id: str) -> dict[str, Any]:
        """A member's state at the replay clock: points, achievements, levels, benefits."""
        view = queries.member_view(self.engine, member_id, self.rules, self.clock)
        assert view is not None, f"no member {member_id!r}"
        return {
            "points": view["points"],
            "achievements": {a["id"]: a["progress"] for a in view["achievements"]},
            "levels": {a["id"]: a["level"] for a in view["achievements"] if a["level"]},
            "benefits": sorted(b["benefit"] for b in view["benefits"] if b["status"] == "active"),
        }

    def decisions(self, event_id: str) -> list[dict[str, Any]]:
        view = queries.event_view(self.engine, event_id)
        return [] if view is None else list(view["decisions"])

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()
