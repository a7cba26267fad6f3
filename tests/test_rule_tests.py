"""`reactor rules test`: cases replayed through the production engine, reported like pytest."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from reactor.cli import main

RULES = """
benefits:
  - id: voucher
achievements:
  - id: reviewer
    levels: [{at: 2, name: Bronze}]
rules:
  - id: review
    on: interaction.created
    when: action == "feedback"
    limit: {count: 2, per: day}
    timezone: Australia/Melbourne
    then:
      - points: 10
      - achievement: reviewer
  - id: welcome
    on: interaction.created
    when: count() == 1
    then:
      - benefit: voucher
  - id: never
    on: swim.completed
    then: [{points: 1}]
"""

TESTS = """
defaults:
  timezone: Australia/Melbourne
  data: {action: feedback, channel: website, signal: 1, name: Reviewed, namespace: reviews}
cases:
  - name: two reviews a day at most
    events:
      - {member: m1, at: "2026-11-03 10:00"}
      - {member: m1, at: "2026-11-03 11:00"}
      - {member: m1, at: "2026-11-03 23:59"}
      - {member: m1, at: "2026-11-04 00:00"}
    expect:
      members:
        m1:
          points: 30
          achievements: {reviewer: 3}
          levels: {reviewer: Bronze}
          benefits: [voucher]
      decisions:
        - {event: 3, rule: review, outcome: skipped, reason: limit_reached}
        - {event: 4, rule: review, outcome: fired}
  - name: a deleted review is taken back
    events:
      - {member: m2, at: "2026-11-03 10:00"}
      - {member: m2, at: "2026-11-05 10:00", type: interaction.deleted, interaction: "2-1"}
    expect:
      members:
        m2: {points: 0, achievements: {reviewer: 0}, benefits: []}
"""


def write(tmp_path: Path, tests: str = TESTS) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "rules.test.yaml").write_text(tests)
    return tmp_path


def test_passing_cases_report_one_line_each_and_the_unexercised_rules(tmp_path: Path) -> None:
    """Each case is a PASSED line; rules no case fired are listed; exit 0."""
    result = CliRunner().invoke(main, ["rules", "test", str(write(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"{tmp_path / 'rules.test.yaml'}::two reviews a day at most PASSED"
    assert lines[1].endswith("::a deleted review is taken back PASSED")
    assert "rules no case fired: never" in lines
    assert lines[-1].startswith("2 passed, 0 failed in ")


def test_a_failing_case_shows_expected_against_actual_and_exits_1(tmp_path: Path) -> None:
    """A wrong expectation is a FAILED line plus a diff of what differed."""
    broken = TESTS.replace("points: 30", "points: 40").replace(
        "{event: 4, rule: review, outcome: fired}", "{event: 4, rule: review, outcome: skipped}"
    )
    result = CliRunner().invoke(main, ["rules", "test", str(write(tmp_path, broken))])
    assert result.exit_code == 1
    assert "two reviews a day at most FAILED" in result.output
    assert "    m1.points: expected 40, got 30" in result.output
    assert "    event 4 rule review: expected skipped, got fired" in result.output
    assert result.output.splitlines()[-1].startswith("1 passed, 1 failed in ")


def test_a_broken_test_file_is_reported_at_its_position(tmp_path: Path) -> None:
    """An unknown key in a test file is a file:line:col problem, and the run fails."""
    bad = TESTS.replace(
        "    expect:\n      members:\n        m2", "    expct:\n      members:\n        m2"
    )
    result = CliRunner().invoke(main, ["rules", "test", str(write(tmp_path, bad))])
    assert result.exit_code == 1
    assert f"{tmp_path / 'rules.test.yaml'}:" in result.output
    assert "expct" in result.output


def test_a_bad_event_in_a_case_fails_the_case_with_the_reason(tmp_path: Path) -> None:
    """An event the receiver would refuse fails its case, naming the field."""
    bad = TESTS.replace(
        '- {member: m2, at: "2026-11-03 10:00"}', "- {member: m2, data: {action: dance}}"
    )
    result = CliRunner().invoke(main, ["rules", "test", str(write(tmp_path, bad))])
    assert result.exit_code == 1
    assert "event 1: data.action" in result.output


def test_the_shipped_rule_library_passes_its_own_tests() -> None:
    """Every rules/*.test.yaml passes against rules/ (CI runs this too)."""
    rules = Path(__file__).parent.parent / "rules"
    result = CliRunner().invoke(main, ["rules", "test", str(rules)])
    assert result.exit_code == 0, result.output
