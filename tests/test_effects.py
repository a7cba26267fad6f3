"""Effects and reversals (spec §3, I1, I8) through the sandbox: benefits, levels, reversals,
recurring achievements and identities, decided by the real processor without HTTP or polling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from reactor.rules import load_rules
from reactor.sandbox import Sandbox
from reactor.storage import tables
from tests.support import interaction

RULES = """
benefits:
  - id: coffee-voucher
    name: Free coffee
    expires_after: 30d
  - id: welcome-gift
    name: Welcome gift

achievements:
  - id: prolific-reviewer
    name: Prolific reviewer
    levels:
      - {at: 3, name: Bronze, then: [{points: 100}, {benefit: coffee-voucher}]}
      - {at: 5, name: Silver}

rules:
  - id: review
    on: interaction.created
    when: action == "feedback"
    then:
      - points: 10
      - achievement: prolific-reviewer
  - id: first-review-gift
    on: interaction.created
    when: action == "feedback" and count(action="feedback") == 1
    then:
      - benefit: welcome-gift
  - id: loyalty-bonus
    on: interaction.created
    when: action == "feedback"
    on_revoke: keep
    then:
      - points: 1
"""


class Story:
    """A sandbox over one rule file: send envelopes, read what the API would answer."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        path = tmp_path / "rules.yaml"
        path.write_text(text)
        self.sandbox = Sandbox(load_rules(path))

    def send(self, document: dict[str, Any]) -> dict[str, Any]:
        """Store and process ``document``; its event view (status and decision record)."""
        fed = self.sandbox.feed(document)
        view = self.sandbox.event_view(fed.event_id)
        assert view is not None
        return view

    def duplicate(self, document: dict[str, Any]) -> bool:
        return self.sandbox.feed(document).duplicate

    def member(self, member_id: str = "m1") -> dict[str, Any]:
        view = self.sandbox.member_view(member_id)
        assert view is not None, f"no member {member_id!r}"
        return view


@pytest.fixture
def story(tmp_path: Path) -> Iterator[Story]:
    made = Story(tmp_path, RULES)
    yield made
    made.sandbox.close()


def review(n: int, day: int) -> dict[str, Any]:
    return interaction(
        f"evt_{n}", interaction_id=f"int_{n}", interacted_at=f"2026-11-{day:02d}T10:00:00Z"
    )


def deletion(event_id: str, interaction_id: str) -> dict[str, Any]:
    """The smallest deletion the contract allows: the interaction id and the member."""
    return {
        "id": event_id,
        "type": "interaction.deleted",
        "data": {"id": interaction_id, "profile_id": "m1"},
    }


def test_a_members_full_story(story: Story) -> None:
    """Reviews → points → Bronze → level reward and benefit → a review deleted → reversal."""
    for n in (1, 2, 3):
        story.send(review(n, n))
    third = story.sandbox.event_view("evt_3")
    assert third is not None
    fired = {d["rule_id"]: d for d in third["decisions"]}
    assert fired["review"]["values"]["levels_reached"] == [
        {"achievement": "prolific-reviewer", "level": 1, "name": "Bronze"}
    ]
    member = story.member()
    assert member["points"] == 3 * 10 + 3 * 1 + 100
    assert member["achievements"] == [
        {
            "id": "prolific-reviewer",
            "name": "Prolific reviewer",
            "period": "lifetime",
            "progress": 3,
            "level": "Bronze",
            "level_number": 1,
            "next_level_at": 5,
        }
    ]
    benefits = {b["benefit"]: b for b in member["benefits"]}
    assert benefits["welcome-gift"]["status"] == "active"
    assert benefits["coffee-voucher"]["issued_at"] == "2026-11-03T10:00:00+00:00"
    assert benefits["coffee-voucher"]["expires_at"] == "2026-12-03T10:00:00+00:00"

    removed = story.send(deletion("del_1", "int_1"))
    reversal = next(d for d in removed["decisions"] if d["rule_id"] == "reactor.reversal")
    assert reversal["outcome"] == "fired"
    reversed_ = reversal["values"]["reversed"]
    assert {"points": -10, "reverses": reversed_[0]["reverses"], "rule_id": "review"} in reversed_
    assert {"achievement": "prolific-reviewer", "by": -1} in reversed_

    member = story.member()
    # The review's 10 points go; the kept bonus, Bronze and its rewards stay.
    assert member["points"] == 2 * 10 + 3 * 1 + 100
    [achievement] = member["achievements"]
    assert (achievement["progress"], achievement["level"], achievement["next_level_at"]) == (
        2,
        "Bronze",
        5,
    )
    statuses = {b["benefit"]: b["status"] for b in member["benefits"]}
    assert statuses == {"welcome-gift": "revoked", "coffee-voucher": "active"}
    ledger = story.sandbox.ledger("m1")
    reversals = [e for e in ledger if e["kind"] == "reversal"]
    assert [(e["points"], e["rule_id"], e["event_id"]) for e in reversals] == [
        (-10, "review", "evt_1")
    ]
    assert sum(e["points"] for e in ledger) == member["points"]


def test_a_deletion_delivered_twice_reverses_once(story: Story) -> None:
    """The same deletion again is a duplicate; a redelivered one finds the reversal done."""
    story.send(review(1, 1))
    story.send(deletion("del_1", "int_1"))
    assert story.duplicate(deletion("del_1", "int_1"))
    assert story.duplicate(deletion("del_2", "int_1"))
    assert story.member()["points"] == 1


def test_a_deletion_before_its_creation_leaves_no_phantom(story: Story) -> None:
    """Deleted first, created later: the late creation earns nothing and counts nowhere."""
    first = story.send(deletion("del_1", "int_1"))
    assert [d["reason"] for d in first["decisions"]] == ["nothing_to_reverse"]
    late = story.send(review(1, 1))
    assert {d["reason"] for d in late["decisions"]} == {"deleted"}
    member = story.member()
    assert (member["points"], member["achievements"], member["benefits"]) == (0, [], [])
    # And it is not history: the next review is the member's first.
    story.send(review(2, 2))
    assert [b["benefit"] for b in story.member()["benefits"]] == ["welcome-gift"]


def test_a_deletion_with_the_whole_interaction_reverses_the_same(story: Story) -> None:
    """A platform that sends the deleted interaction in full gets the same reversal."""
    story.send(review(1, 1))
    whole = {**interaction("x")["data"], "id": "int_1"}
    story.send({"id": "del_1", "type": "interaction.deleted", "data": whole})
    assert story.member()["points"] == 1


def test_one_event_jumping_several_levels_reaches_each_once(tmp_path: Path) -> None:
    """Progress by an expression that jumps past two levels gives both levels' rewards once."""
    story = Story(
        tmp_path,
        "achievements:\n"
        "  - id: distance\n    levels:\n"
        "      - {at: 1000, name: Bronze, then: [{points: 10}]}\n"
        "      - {at: 5000, name: Silver, then: [{points: 50}]}\n"
        "      - {at: 10000, name: Gold, then: [{points: 100}]}\n"
        "rules:\n  - id: swim\n    on: swim.completed\n"
        "    then: [{achievement: {id: distance, by: 'data.metres'}}]\n",
    )
    swim = {"id": "s1", "type": "swim.completed", "data": {"profile_id": "m1", "metres": 6000}}
    decision = story.send(swim)["decisions"][0]
    assert [lvl["name"] for lvl in decision["values"]["levels_reached"]] == ["Bronze", "Silver"]
    member = story.member()
    assert member["points"] == 60
    assert member["achievements"][0]["next_level_at"] == 10000


MONTHLY = """
benefits:
  - id: swim-cap
    name: Swim cap
    expires_after: 30d
achievements:
  - id: monthly-distance
    name: 10 km this month
    per: month
    levels:
      - {at: 10000, name: Done, then: [{benefit: swim-cap}]}
rules:
  - id: swim
    on: swim.completed
    timezone: Australia/Melbourne
    then:
      - achievement: {id: monthly-distance, by: "data.metres"}
  - id: already-halfway
    on: swim.completed
    timezone: Australia/Melbourne
    when: member.achievements["monthly-distance"] is not None
    then:
      - points: 1
"""


def test_a_recurring_achievement_restarts_each_month_in_the_rules_zone(tmp_path: Path) -> None:
    """per: month: progress restarts on the 1st (Melbourne time); earlier progress is visible
    to expressions through member.achievements; an old benefit shows as expired."""
    story = Story(tmp_path, MONTHLY)

    def swim(n: int, when: str, metres: int) -> dict[str, Any]:
        data = {"profile_id": "m1", "metres": metres}
        return {"id": f"s{n}", "type": "swim.completed", "created_at": when, "data": data}

    story.send(swim(1, "2025-10-10T00:00:00Z", 6000))
    second = story.send(swim(2, "2025-10-20T00:00:00Z", 6000))
    swim_decision = next(d for d in second["decisions"] if d["rule_id"] == "swim")
    assert swim_decision["values"]["levels_reached"][0]["name"] == "Done"
    bonus = next(d for d in second["decisions"] if d["rule_id"] == "already-halfway")
    assert bonus["outcome"] == "fired"  # the first swim's progress was visible
    # 14:00 UTC on Oct 31 is already November 1st in Melbourne: a new month, from zero.
    third = story.send(swim(3, "2025-10-31T14:00:00Z", 6000))
    swim_decision = next(d for d in third["decisions"] if d["rule_id"] == "swim")
    assert "levels_reached" not in swim_decision["values"]
    skipped = next(d for d in third["decisions"] if d["rule_id"] == "already-halfway")
    assert skipped["reason"] == "condition_false"
    with story.sandbox.engine.connect() as conn:
        rows = conn.execute(
            sa.select(tables.achievement_progress.c.period, tables.achievement_progress.c.progress)
        ).all()
    assert sorted(rows) == [("2025-10", 12000), ("2025-11", 6000)]
    # Read in December: those months are over, so no current progress; the cap expired 30 days
    # after it was won.
    story.sandbox.clock.advance(datetime(2025, 12, 15, tzinfo=UTC))
    member = story.member()
    assert member["achievements"] == []
    [cap] = member["benefits"]
    assert (cap["benefit"], cap["status"], cap["expires_at"]) == (
        "swim-cap",
        "expired",
        "2025-11-19T00:00:00+00:00",
    )


def test_an_event_with_profile_id_and_identity_links_them(story: Story) -> None:
    """After one event names both, an identity-only event lands on the same member."""
    story.send(interaction("evt_1", identity={"type": "email", "value": "Ann@Example.com"}))
    later = interaction("evt_2", identity={"type": "email", "value": "ann@example.com"})
    del later["data"]["profile_id"]
    assert story.send(later)["member_id"] == "m1"
