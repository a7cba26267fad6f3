"""Loading rule files: one rule set, versioned, indexed; every problem at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reactor.cli import main
from reactor.errors import RuleError
from reactor.rules import load_rules

GOOD = """\
rules:
  - id: review
    name: A review
    on: interaction.created
    when: action == "feedback"
    then:
      - points: 10
  - id: swim
    on: [swim.completed, swim.logged]
    then:
      - points: "data.distance_m // 100"
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    return [str(p) for p in caught.value.problems]


def test_every_yaml_file_under_the_folder_forms_one_rule_set(tmp_path: Path) -> None:
    """Rules from several files load together; *.test.yaml files are not rules."""
    write(tmp_path, "a.yaml", GOOD)
    write(
        tmp_path / "more", "b.yml", "rules:\n  - id: other\n    on: x.y\n    then: [{points: 1}]\n"
    )
    write(tmp_path, "a.test.yaml", "this is: [not, a rule file")
    rules = load_rules(tmp_path)
    assert [r.id for r in rules.rules] == ["other", "review", "swim"]
    assert [r.id for r in rules.for_event("swim.logged")] == ["swim"]
    assert rules.for_event("interaction.deleted") == ()


def test_a_rule_version_is_the_hash_of_its_content(tmp_path: Path) -> None:
    """Changing a rule changes its version (and the set's); an untouched rule keeps its own."""
    path = write(tmp_path, "a.yaml", GOOD)
    before = {r.id: r.version for r in load_rules(path).rules}
    path.write_text(GOOD.replace("points: 10", "points: 20"))
    after = {r.id: r.version for r in load_rules(path).rules}
    assert before["review"] != after["review"]
    assert before["swim"] == after["swim"]


def test_disabled_rules_are_loaded_but_never_triggered(tmp_path: Path) -> None:
    """enabled: false keeps the rule listed but out of the event index."""
    path = write(tmp_path, "a.yaml", GOOD.replace("    name: A review\n", "    enabled: false\n"))
    rules = load_rules(path)
    assert "review" in [r.id for r in rules.rules]
    assert rules.for_event("interaction.created") == ()


AUTHORING_MISTAKES = [
    (
        "unknown-key",
        "    then: [{points: 1}]\n    wen: x\n",
        "5:5: unknown key 'wen' (did you mean 'when'?)",
    ),
    ("missing-then", "", "2:5: missing required key 'then'"),
    ("bad-id", "    then: [{points: 1}]\n", None),
    ("zero-points", "    then: [{points: 0}]\n", "4:21: points must be a positive whole number"),
    ("bool-points", "    then: [{points: yes}]\n", "4:"),
    (
        "undefined-benefit",
        "    then: [{points: 1}, {benefit: coffee}]\n",
        "4:35: no benefit 'coffee' is defined",
    ),
    (
        "bad-timezone",
        "    then: [{points: 1}]\n    timezone: Mars/Olympus\n",
        "5:15: unknown time zone 'Mars/Olympus'",
    ),
    (
        "unknown-name",
        "    when: action == 1 and chanel == 2\n    then: [{points: 1}]\n",
        "4:27: unknown name 'chanel'",
    ),
]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [m[1:] for m in AUTHORING_MISTAKES],
    ids=[m[0] for m in AUTHORING_MISTAKES],
)
def test_authoring_mistakes_are_reported_with_their_position(
    tmp_path: Path, extra: str, expected: str | None
) -> None:
    """Each mistake is one problem at file:line:col with a message a person can act on."""
    rule_id = "Bad Id" if expected is None else "r1"
    path = write(
        tmp_path, "r.yaml", f"rules:\n  - id: {rule_id}\n    on: interaction.created\n{extra}"
    )
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:")
    if expected is None:
        assert found[0].startswith(f"{path}:2:9: rule id must match")
    else:
        assert expected in found[0]


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    """Two broken files and a duplicate id: all of it in one pass, not just the first problem."""
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "rules:\n  - id: review\n    on: x.y\n    then: [{points: 1}]\n")
    write(
        tmp_path,
        "c.yaml",
        "rules:\n  - id: c\n    on: x.y\n    when: 2 **\n    then: [{points: 1}]\n",
    )
    found = problems(tmp_path)
    assert len(found) == 2, found
    assert f"{tmp_path / 'b.yaml'}:2:9: duplicate rule id 'review'" in found[0]
    assert found[1].startswith(f"{tmp_path / 'c.yaml'}:4:")


HOSTILE = [
    ("dunder-class", "data.__class__"),
    ("dunder-chain", "().__class__.__bases__"),
    ("method-call-on-data", "data.items()"),
    ("method-call-on-string", 'name.upper() == "X"'),
    ("power", "duration ** 2 > 1"),
    ("list-comprehension", "[x for x in tags]"),
    ("generator", "any(x for x in tags)"),
    ("f-string", "f'{name:>1000000}'"),
    ("lambda", "(lambda: 1)()"),
    ("import", "__import__('os')"),
    ("import-statement", "import os"),
    ("assignment", "x = 1"),
    ("walrus", "(x := 1)"),
    ("over-long", "signal == 1 and " * 80 + "True"),
    ("over-deep", "(1 + " * 30 + "1" + ")" * 30 + " == 1"),
]


def rules_check_refuses(tmp_path: Path, expression: str) -> tuple[Path, str]:
    """`reactor rules check` on a rule whose condition is ``expression``: it must exit 1; the
    file and the first line of output."""
    quoted = expression.replace("'", "''")
    path = write(
        tmp_path,
        "r.yaml",
        f"rules:\n  - id: r\n    on: x.y\n    when: '{quoted}'\n    then: [{{points: 1}}]\n",
    )
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 1, result.output
    return path, result.output.splitlines()[0]


@pytest.mark.parametrize("expression", [h[1] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_rules_check_refuses_hostile_expressions_with_their_location(
    tmp_path: Path, expression: str
) -> None:
    """`reactor rules check` exits 1 with file:line:col for an expression the gate refuses."""
    path, first = rules_check_refuses(tmp_path, expression)
    file, line, col, message = first.split(":", 3)
    assert (file, line) == (str(path), "4")
    assert int(col) >= 11 and message.strip()


def test_rules_check_summarises_a_good_rule_set(tmp_path: Path) -> None:
    """Exit 0 with a one-line summary."""
    path = write(tmp_path, "a.yaml", GOOD)
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 2 rules in 1 file(s), version ")


def test_the_shipped_rules_pass_rules_check() -> None:
    """Every file in rules/ loads."""
    rules = load_rules(Path(__file__).parent.parent / "rules")
    assert rules.rules


def test_one_file_reports_shape_and_expression_problems_together_in_order(tmp_path: Path) -> None:
    """A wrong key does not hide the expression mistakes of the same or other rules."""
    path = write(
        tmp_path,
        "r.yaml",
        "rules:\n"
        "  - id: a\n"
        "    on: interaction.created\n"
        '    when: action == "feedback" and chanel == "app"\n'
        "    then: [{points: 10}]\n"
        "  - id: b\n"
        "    on: interaction.created\n"
        '    when: count(period="month", acton="feedback") == 1\n'
        "    then: [{points: 10}]\n"
        "    limits: {count: 1}\n",
    )
    assert problems(path) == [
        f"{path}:4:36: unknown name 'chanel' (did you mean 'channel'?)",
        f"{path}:8:33: unknown field 'acton' for count() (did you mean 'action'?)",
        f"{path}:10:5: unknown key 'limits' (did you mean 'limit'?)",
    ]


BAD_HISTORY = [
    ("bad-period", 'count(period="fortnight") > 1', "period"),
    ("bad-duration", 'count(within="7 days") > 1', "7 days"),
    ("bad-unit", 'streak(unit="decade") > 1', "unit"),
    ("field-not-constant", "sum_of(name) > 1", "field"),
]


@pytest.mark.parametrize(
    ("expression", "needle"), [b[1:] for b in BAD_HISTORY], ids=[b[0] for b in BAD_HISTORY]
)
def test_bad_history_arguments_are_refused_at_load(
    tmp_path: Path, expression: str, needle: str
) -> None:
    """Periods, durations, units and fields of history functions are checked when rules load."""
    path = write(
        tmp_path,
        "r.yaml",
        f"rules:\n  - id: r\n    on: interaction.created\n    when: '{expression}'\n"
        "    then: [{points: 1}]\n",
    )
    [found] = problems(path)
    assert found.startswith(f"{path}:4:") and needle in found


NEVER_EVALUATE = [
    ("padding format", "'%0500000000d' % 1 == 'x'", "% is only for numbers"),
    ("repeating text", "'x' * 1000000000 == 'x'", "* is only for numbers"),
]


@pytest.mark.parametrize(
    ("expression", "message"), [n[1:] for n in NEVER_EVALUATE], ids=[n[0] for n in NEVER_EVALUATE]
)
def test_rules_check_refuses_expressions_that_can_never_evaluate(
    tmp_path: Path, expression: str, message: str
) -> None:
    """Such a rule would load and then fail on every event: refused at load, located."""
    path, first = rules_check_refuses(tmp_path, expression)
    col = len("    when: '") + 1  # the failing part starts the expression, after the quote
    assert first.startswith(f"{path}:4:{col}: this part can never be evaluated: {message}")


CAFE = 'name == "Café crème ☕" and '
NON_ASCII = [
    ("gate", CAFE + 'chanel == "app"', "chanel", "unknown name 'chanel'"),
    ("history check", CAFE + 'count(perod="month") > 1', "perod", "unknown field 'perod'"),
]


@pytest.mark.parametrize("quote", ["'", ""], ids=["quoted", "plain"])
@pytest.mark.parametrize(
    ("expression", "word", "message"), [n[1:] for n in NON_ASCII], ids=[n[0] for n in NON_ASCII]
)
def test_columns_after_non_ascii_text_count_characters(
    tmp_path: Path, expression: str, word: str, message: str, quote: str
) -> None:
    """Both checkers report the column of the mistake as an editor counts it, after é and ☕,
    in a quoted or a plain YAML scalar."""
    line = f"    when: {quote}{expression}{quote}"
    path = write(
        tmp_path,
        "r.yaml",
        f"rules:\n  - id: r\n    on: interaction.created\n{line}\n    then: [{{points: 1}}]\n",
    )
    [found] = problems(path)
    assert found.startswith(f"{path}:4:{line.index(word) + 1}: {message}")


THRESHOLDS = [
    ("bare ==", 'count(period="month") == 5', "", ["count() == … without a limit"]),
    ("with a limit", 'count(period="month") == 5', "    limit: {count: 1, per: month}\n", []),
    (">= without a limit", 'count(period="month") >= 5', "", []),
    ("sum_of ==", 'action == "x" and 100 == sum_of("duration")', "", ["sum_of() == …"]),
    ("days_since", "days_since() == 7", "", []),
]


@pytest.mark.parametrize(
    ("when", "extra", "warnings"), [t[1:] for t in THRESHOLDS], ids=[t[0] for t in THRESHOLDS]
)
def test_rules_check_warns_of_exact_thresholds_that_late_events_break(
    tmp_path: Path, when: str, extra: str, warnings: list[str]
) -> None:
    """`== N` on a history call without a limit loads, with a located warning pointing to
    `>= N` and a limit; the rule set still passes (exit 0)."""
    path = write(
        tmp_path,
        "r.yaml",
        f"rules:\n  - id: r\n    on: interaction.created\n    when: '{when}'\n{extra}"
        "    then: [{points: 50}]\n",
    )
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output
    *warned, summary = result.output.splitlines()
    assert summary.startswith("ok: 1 rules")
    assert len(warned) == len(warnings)
    for line, start in zip(warned, warnings, strict=True):
        assert line.startswith(f"{path}:4:") and f": warning: {start}" in line
        assert ">= N with limit: {count: 1, per: …}" in line
