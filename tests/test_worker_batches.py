"""Batched evaluation (I2, I3): one transaction for many events of many members, each member's
oldest first; a poison event fails alone; overlapping batches never process an event twice."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from reactor.clock import SystemClock
from reactor.errors import TransientError
from reactor.processor import process_batch
from reactor.rules import RuleSet, load_rules
from reactor.storage import tables
from tests.support import store

NOON = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)
CLOCK = SystemClock()


@pytest.fixture
def rules(tmp_path: Path) -> RuleSet:
    """A point for every event, and 30 more for a member's third (order matters)."""
    path = tmp_path / "batch.yaml"
    path.write_text(
        "rules:\n"
        "  - id: each\n    on: interaction.created\n    then: [{points: 1}]\n"
        "  - id: third\n    on: interaction.created\n    when: count() == 3\n"
        "    then: [{points: 30}]\n"
    )
    return load_rules(path)


def burst(engine: sa.Engine, members: list[str], count: int) -> list[str]:
    """``count`` pending events per member, a minute apart in event time."""
    ids = []
    for member in members:
        for i in range(count):
            event_id = f"evt_{member}_{i}"
            store(engine, event_id, member=member, occurred=NOON + timedelta(minutes=i))
            ids.append(event_id)
    return ids


def statuses(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(tables.events.c.id, tables.events.c.status)).all())


def ledger(engine: sa.Engine) -> list[tuple[str, str, int]]:
    """(member, event, points) of every ledger row."""
    rows = sa.select(tables.ledger.c.member_id, tables.ledger.c.event_id, tables.ledger.c.points)
    with engine.connect() as conn:
        return sorted((m, e, int(p)) for m, e, p in conn.execute(rows))


def test_a_batch_of_several_members_evaluates_each_members_events_oldest_first(
    engine: sa.Engine, rules: RuleSet
) -> None:
    ids = burst(engine, ["m2", "m1", "m3"], 4)
    asked = list(reversed(ids))  # newest first, members interleaved however they came
    done = process_batch(engine, rules, asked, clock=CLOCK)
    assert set(done.results.values()) == {"processed"}
    order = [p.event_id for p in done.processed]
    assert order == [f"evt_{m}_{i}" for m in ("m1", "m2", "m3") for i in range(4)]
    thirds = [(m, e) for m, e, p in ledger(engine) if p == 30]
    assert thirds == [(m, f"evt_{m}_2") for m in ("m1", "m2", "m3")]
    again = process_batch(engine, rules, asked, clock=CLOCK)
    assert set(again.results.values()) == {"already_processed"} and again.processed == ()


def test_an_asked_events_member_brings_its_earlier_pending_events_along(
    engine: sa.Engine, rules: RuleSet
) -> None:
    """Only the latest of a member's events rang; the others, and other members, wait."""
    ids = burst(engine, ["m1", "m2"], 3)
    done = process_batch(engine, rules, ["evt_m1_1"], clock=CLOCK)
    assert [p.event_id for p in done.processed] == ["evt_m1_0", "evt_m1_1"]
    status = statuses(engine)
    assert [status[i] for i in ids] == ["processed"] * 2 + ["pending"] * 4


def test_a_poison_event_in_a_batch_fails_alone(engine: sa.Engine, rules: RuleSet) -> None:
    """An unreadable event asked for is parked as failed with its reason; the rest of the
    batch, before and after it and of other members, is processed and committed."""
    ids = burst(engine, ["m1", "m2"], 3)
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.events).where(tables.events.c.id == "evt_m1_1").values(payload="{")
        )
    done = process_batch(engine, rules, ids, clock=CLOCK)
    assert done.results["evt_m1_1"] == "failed"
    assert "unreadable" in done.failed["evt_m1_1"]
    assert [r for i, r in done.results.items() if i != "evt_m1_1"] == ["processed"] * 5
    with engine.connect() as conn:
        error = conn.execute(
            sa.select(tables.events.c.error).where(tables.events.c.id == "evt_m1_1")
        ).scalar_one()
    assert "unreadable" in error
    assert statuses(engine)["evt_m1_1"] == "failed"
    assert len(ledger(engine)) == 5 + 1  # one point each, 30 for m2's third (m1 has only two)


def test_an_earlier_poison_event_not_asked_for_is_left_to_its_own_message(
    engine: sa.Engine, rules: RuleSet
) -> None:
    burst(engine, ["m1"], 3)
    with engine.begin() as conn:
        conn.execute(
            sa.update(tables.events).where(tables.events.c.id == "evt_m1_0").values(payload="{")
        )
    done = process_batch(engine, rules, ["evt_m1_2"], clock=CLOCK)
    assert done.results == {"evt_m1_2": "processed"} and done.failed == {}
    assert statuses(engine)["evt_m1_0"] == "pending"


def test_a_batch_is_capped_and_the_rest_deferred(engine: sa.Engine, rules: RuleSet) -> None:
    ids = burst(engine, ["m1", "m2"], 3)
    first = process_batch(engine, rules, ids, clock=CLOCK, most=4)
    assert [p.event_id for p in first.processed] == ids[:4]
    assert first.deferred == ids[4:]
    second = process_batch(engine, rules, first.deferred, clock=CLOCK, most=4)
    assert [p.event_id for p in second.processed] == ids[4:]
    assert set(statuses(engine).values()) == {"processed"}


def test_unknown_ids_are_reported_not_fatal(engine: sa.Engine, rules: RuleSet) -> None:
    burst(engine, ["m1"], 1)
    done = process_batch(engine, rules, ["nope", "evt_m1_0", "nope"], clock=CLOCK)
    assert done.results == {"nope": "unknown", "evt_m1_0": "processed"}


@pytest.mark.postgres
def test_overlapping_batches_on_many_threads_never_process_an_event_twice(
    postgres_url: str, rules: RuleSet
) -> None:
    """Eight threads each take the same 240 events of 12 members in shuffled batches: every
    event is processed once, each member's third event earns the 30 (I2, I3), no deadlock."""
    from reactor.storage import make_engine

    engine = make_engine(postgres_url, lock_timeout_ms=5000)
    try:
        members = [f"m{i:02d}" for i in range(12)]
        ids = burst(engine, members, 20)
        errors: list[BaseException] = []

        def work(seed: int) -> None:
            rng = random.Random(seed)
            mine = ids[:]
            rng.shuffle(mine)
            for start in range(0, len(mine), 30):
                for _ in range(20):
                    try:
                        process_batch(engine, rules, mine[start : start + 30], clock=CLOCK)
                        break
                    except TransientError:
                        continue  # a lock wait gave up: the worker's retry does the same
                else:
                    errors.append(AssertionError("a batch never got through"))

        threads = [threading.Thread(target=work, args=(seed,)) for seed in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors
        assert set(statuses(engine).values()) == {"processed"}
        rows = ledger(engine)
        assert len(rows) == len(ids) + len(members)
        assert len({(e, p) for _, e, p in rows}) == len(rows), "an effect was applied twice"
        assert sorted(e for _, e, p in rows if p == 30) == [f"evt_{m}_2" for m in members]
    finally:
        engine.dispose()


def test_the_record_keeps_skips_compact_and_in_rule_order(
    engine: sa.Engine, rules: RuleSet
) -> None:
    """A skip is part of the event's compact ``skipped`` array, not a ``decisions`` row; the
    record reads back whole, in the rule set's order."""
    from reactor.queries import event_view

    burst(engine, ["m1"], 1)
    process_batch(engine, rules, ["evt_m1_0"], clock=CLOCK)
    view = event_view(engine, "evt_m1_0")
    assert view is not None
    assert [(d["rule_id"], d["outcome"], d["reason"]) for d in view["decisions"]] == [
        ("each", "fired", None),
        ("third", "skipped", "condition_false"),
    ]
    assert view["decisions"][1]["values"]["when"] is False  # and the values that decided
    with engine.connect() as conn:
        rows = conn.execute(sa.select(tables.decisions.c.rule_id)).scalars().all()
    assert rows == ["each"]


@pytest.mark.postgres
def test_postgres_plans_every_statement_with_its_values(postgres_url: str) -> None:
    """A generic plan made while a fresh database's tables are small stays when they grow:
    letting Postgres keep them once cost a full benchmark run half its rate (see
    benchmarks/README.md). Every connection plans each statement with its values."""
    from reactor.storage import make_engine

    engine = make_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
    finally:
        engine.dispose()
