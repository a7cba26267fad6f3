"""A throwaway in-memory Reactor: the production inbox, processor and rules, no broker (I5).

``reactor rules test`` and ``reactor simulate`` feed envelopes through it in order, so what they
report is what production would do with the same events and rule versions. Its clock is the
replay clock: the latest time of an event accepted so far, so two replays of the same file
store the very same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import RootTransaction, select
from sqlalchemy.pool import StaticPool

from reactor import queries
from reactor.clock import ReplayClock
from reactor.envelope import occurred_at, validate_envelope
from reactor.inbox import Duplicate, store
from reactor.processor import Processed, process_stored
from reactor.rules import RuleSet
from reactor.storage import make_engine, reader, savepoint, tables

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

    #: Envelopes per commit (see ``feed``).
    BATCH = 1000

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        # One connection for the life of the sandbox: an in-memory database lives in it.
        self.engine = make_engine("sqlite://", poolclass=StaticPool)
        tables.metadata.create_all(self.engine)  # the append-only ledger triggers included
        self.conn = self.engine.connect()
        self.clock = ReplayClock(EPOCH)
        self._batch: RootTransaction | None = None
        self._fed = 0

    def feed(self, document: Mapping[str, Any]) -> Fed:
        """Validate, store and process one envelope; raises ``InputError`` for a bad one.

        Production commits each event twice: stored, then processed. Nobody else reads the
        sandbox while it is fed, so it stores and processes each envelope under a savepoint of
        its own (undone if the envelope fails) and commits once per ``BATCH``: the same
        outcome, where a commit per event grew from 20 to 110 µs as the in-memory database
        grew to 100,000 events (SQLite scans its page cache when a transaction ends).
        """
        envelope, member = validate_envelope(dict(document), None)
        if self._batch is None:
            self._batch = self.conn.begin()
        try:
            with savepoint(self.conn):
                # An event with no time of its own happened "now" in replay time: the latest.
                received = self.clock.now()
                receipt = store(self.conn, envelope, member, document, received)
                # It is processed no earlier than it happened.
                self.clock.advance(occurred_at(envelope, member, received))
                done = process_stored(self.conn, self.rules, receipt.event_id, clock=self.clock)
        except Duplicate as seen:
            return Fed(seen.receipt.event_id, True, None)
        finally:
            self._fed += 1
            if self._fed % self.BATCH == 0:
                self._commit()
        return Fed(receipt.event_id, False, done)

    def _commit(self) -> None:
        """Commit what was fed, so that readers (on their own connections) see it."""
        if self._batch is not None:
            self._batch.commit()
            self._batch = None

    def member_ids(self) -> list[str]:
        self._commit()
        with reader(self.engine).connect() as conn:
            return sorted(conn.execute(select(tables.members.c.id)).scalars())

    def member(self, member_id: str) -> dict[str, Any]:
        """A member's state at the replay clock: points, achievements, levels, benefits."""
        view = self.member_view(member_id)
        assert view is not None, f"no member {member_id!r}"
        return {
            "points": view["points"],
            "achievements": {a["id"]: a["progress"] for a in view["achievements"]},
            "levels": {a["id"]: a["level"] for a in view["achievements"] if a["level"]},
            "benefits": sorted(b["benefit"] for b in view["benefits"] if b["status"] == "active"),
        }

    def member_view(self, member_id: str) -> dict[str, Any] | None:
        """What ``GET /members/{id}`` would answer at the replay clock."""
        self._commit()
        return queries.member_view(self.engine, member_id, self.rules, self.clock.now())

    def event_view(self, event_id: str) -> dict[str, Any] | None:
        """What ``GET /events/{id}`` would answer: status and decision record."""
        self._commit()
        return queries.event_view(self.engine, event_id)

    def ledger(self, member_id: str) -> list[dict[str, Any]]:
        """Every ledger entry of the member, oldest first, as ``GET /members/{id}/ledger``."""
        self._commit()
        entries: list[dict[str, Any]] = []
        after = None
        while (page := queries.ledger_page(self.engine, member_id, after, 500)) is not None:
            entries.extend(page["entries"])
            if page["next"] is None:
                break
            after = int(page["next"])
        return entries

    def decisions(self, event_id: str) -> list[dict[str, Any]]:
        view = self.event_view(event_id)
        return [] if view is None else list(view["decisions"])

    def close(self) -> None:
        self._commit()
        self.conn.close()
        self.engine.dispose()
