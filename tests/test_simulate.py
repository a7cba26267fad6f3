"""`reactor simulate`: replay envelopes in a throwaway database and report per rule and member."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reactor.cli import main
from tests.support import interaction

RULES = """
benefits:
  - id: voucher
rules:
  - id: review
    on: interaction.created
    when: action == "feedback"
    limit: {count: 1, per: day}
    then:
      - points: 10
      - benefit: voucher
  - id: swim
    on: swim.completed
    then: [{points: "data.metres // 100"}]
"""


def events_file(tmp_path: Path) -> Path:
    lines = [
        interaction("e1", "m1", interacted_at="2026-11-03T10:00:00Z"),
        interaction("e2", "m1", interacted_at="2026-11-03T11:00:00Z"),
        interaction("e3", "m2", interacted_at="2026-11-04T10:00:00Z"),
        interaction("e1", "m1", interacted_at="2026-11-03T10:00:00Z"),  # a duplicate
        {"id": "s1", "type": "swim.completed", "data": {"profile_id": "m2", "metres": 1550}},
    ]
    path = tmp_path / "events.jsonl"
    text = "\n".join(json.dumps(line) for line in lines) + "\n{not json\n"
    path.write_text(text)
    return path


def rules_dir(tmp_path: Path, text: str = RULES, name: str = "rules") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "r.yaml").write_text(text)
    return folder


def test_simulate_json_has_the_spec_shape(tmp_path: Path) -> None:
    """--json: events, per-rule fired/points/members, members' points/achievements/benefits."""
    args = ["simulate", str(events_file(tmp_path)), "--rules", str(rules_dir(tmp_path)), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["events"] == 5
    assert report["duplicates"] == 1
    assert report["rejected"][0]["line"] == 6
    assert report["rules"]["review"] == {
        "fired": 2,
        "points": 20,
        "members": 2,
        "benefits": 2,
        "levels": 0,
    }
    assert report["rules"]["swim"]["points"] == 15
    assert report["members"] == {
        "m1": {"points": 10, "achievements": {}, "benefits": ["voucher"]},
        "m2": {"points": 25, "achievements": {}, "benefits": ["voucher"]},
    }


def test_simulate_prints_a_table(tmp_path: Path) -> None:
    """Without --json: a line per rule and the totals."""
    args = ["simulate", str(events_file(tmp_path)), "--rules", str(rules_dir(tmp_path))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("simulated 5 events (1 duplicates, 1 rejected lines")
    assert any(line.split()[:3] == ["review", "2", "20"] for line in result.output.splitlines())
    assert "2 members hold 35 points in total" in result.output


def test_compare_shows_what_a_rule_change_would_cost(tmp_path: Path) -> None:
    """--compare: the same events against a second rule set, with the differences."""
    cheaper = rules_dir(tmp_path, RULES.replace("points: 10", "points: 5"), "cheaper")
    args = [
        "simulate",
        str(events_file(tmp_path)),
        "--rules",
        str(rules_dir(tmp_path)),
        "--compare",
        str(cheaper),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "total points: 35 → 25 (-10)" in result.output
    assert "members whose rewards change: 2 of 2" in result.output


def test_simulate_is_deterministic(tmp_path: Path) -> None:
    """I5: the same events and rules give the same report, run after run."""
    args = ["simulate", str(events_file(tmp_path)), "--rules", str(rules_dir(tmp_path)), "--json"]
    first = CliRunner().invoke(main, args).output
    assert first == CliRunner().invoke(main, args).output
