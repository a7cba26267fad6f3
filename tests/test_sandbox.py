"""The sandbox behind `simulate` and `rules test`: a migrated database's guarantees, replay time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from benchmarks.simulate import generate
from reactor.rules import load_rules
from reactor.sandbox import Sandbox
from reactor.storage import tables
from tests.support import interaction

RULES = Path(__file__).parent.parent / "rules"


def replay(lines: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table after replaying ``lines``, timestamps included."""
    sandbox = Sandbox(load_rules(RULES))
    try:
        for line in lines:
            sandbox.feed(line)
        sandbox.member_ids()  # commits what was fed
        with sandbox.engine.connect() as conn:
            return {
                name: [
                    tuple(row)
                    for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for name, table in tables.metadata.tables.items()
            }
    finally:
        sandbox.close()


def test_two_replays_of_the_same_events_are_identical_row_for_row() -> None:
    """I5: stored times are replay times, so nothing differs between runs, not even a
    received_at or a processed_at."""
    sample = RULES / "events.sample.jsonl"
    lines = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    first = replay(lines)
    assert first["ledger"] and first["decisions"]
    assert replay(lines) == first


def test_replay_times_come_from_the_events_not_the_wall_clock() -> None:
    """An event is received at the replay clock and processed no earlier than it happened."""
    sandbox = Sandbox(load_rules(RULES))
    try:
        sandbox.feed(interaction("evt_1", interacted_at="2026-01-05T10:00:00Z"))
        view = sandbox.event_view("evt_1")
        assert view is not None
        assert view["processed_at"].startswith("2026-01-05T10:00:00")
    finally:
        sandbox.close()


@pytest.mark.parametrize(
    "change",
    [sa.update(tables.ledger).values(points=1_000), sa.delete(tables.ledger)],
    ids=["update", "delete"],
)
def test_the_sandbox_ledger_is_append_only_like_a_migrated_one(change: sa.Executable) -> None:
    """I8: the same triggers as migration 0001 refuse to change or remove a ledger row."""
    sandbox = Sandbox(load_rules(RULES))
    try:
        sandbox.feed(interaction("evt_1"))
        sandbox.member_ids()
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            sandbox.engine.begin() as conn,
        ):
            conn.execute(change)
        assert sandbox.ledger("m1")
    finally:
        sandbox.close()


def test_every_balance_is_the_sum_of_the_members_ledger_after_a_replay() -> None:
    """I8: the running balance the database keeps equals the ledger's sum, for every member,
    after 3,000 generated events from every world of the shipped rules (reversals included)."""
    sandbox = Sandbox(load_rules(RULES))
    try:
        for document in generate(3000, members=60):
            sandbox.feed(document)
        sandbox.member_ids()
        with sandbox.engine.connect() as conn:
            sums = dict(
                conn.execute(
                    sa.select(
                        tables.ledger.c.member_id, sa.func.sum(tables.ledger.c.points)
                    ).group_by(tables.ledger.c.member_id)
                ).all()
            )
            kept = dict(conn.execute(sa.select(tables.members.c.id, tables.members.c.points)).all())
        assert sums
        assert kept == {member: sums.get(member, 0) for member in kept}
    finally:
        sandbox.close()
