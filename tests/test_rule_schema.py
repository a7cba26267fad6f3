"""The JSON Schemas of rule and rule test files agree with the loader; the CLI prints them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reactor.cli import main
from reactor.errors import RuleError
from reactor.rules import DIALECT, load_rules, load_yaml, rule_file_schema, rule_test_schema

RULES = Path(__file__).parent.parent / "rules"

GOOD = """\
benefits:
  - id: coffee-voucher
    name: Free coffee
    expires_after: 30d
  - id: welcome-gift

achievements:
  - id: prolific-reviewer
    name: Prolific reviewer
    levels:
      - {at: 5, name: Bronze, then: [{points: 100}]}
      - {at: 20, name: Silver, then: [{benefit: coffee-voucher}]}
  - id: monthly-distance
    levels: [{at: 10000}]
    per: month
  - id: first-swim

rules:
  - id: first-review-this-month
    name: First product review this month
    on: interaction.created
    when: action == "feedback" and count(period="month", action="feedback") == 1
    limit: {count: 1, per: month}
    budget: {points: 100000}
    active: {from: 2026-12-01T00:00:00Z, until: "2027-01-01 00:00:00+11:00"}
    timezone: Australia/Melbourne
    enabled: true
    on_revoke: keep
    then:
      - points: 50
      - achievement: prolific-reviewer
      - benefit: coffee-voucher
  - id: swim-distance
    on: [swim.completed, swim.logged]
    then:
      - points: "data.distance_m // 100"
      - achievement: {id: monthly-distance, by: "data.distance_m"}
      - achievement: {id: first-swim}
"""

TEST_FILE = """\
defaults:
  type: interaction.created
  timezone: Australia/Melbourne
  data: {action: feedback, channel: website, signal: 1, name: Reviewed, namespace: reviews}
cases:
  - name: the first review this month earns 50
    events:
      - {member: m1, at: "2026-11-03 10:00"}
      - {member: m1, at: "2026-11-10 10:00", data: {meta: {stars: 5}}}
      - {member: m1, at: "2026-11-12 09:00", type: interaction.deleted, interaction: i1}
      - {id: my-event, member: m2, at: "2026-11-12T09:00:00Z", type: swim.completed}
    expect:
      members:
        m1:
          points: 60
          achievements: {prolific-reviewer: 2}
          levels: {prolific-reviewer: Bronze}
          benefits: [coffee-voucher]
      decisions:
        - {event: 2, rule: first-review-this-month, outcome: skipped, reason: condition_false}
        - {event: my-event, rule: swim-distance, outcome: fired}
"""


def parse(text: str) -> Any:
    return load_yaml(text, "test.yaml")[0]


def errors(schema: dict[str, Any], data: Any) -> list[str]:
    return [error.message for error in Draft202012Validator(schema).iter_errors(data)]


def loader_accepts(tmp_path: Path, text: str) -> bool:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    try:
        load_rules(path)
    except RuleError:
        return False
    return True


def objects(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object inside ``node`` that lists properties, with where it is."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict) and node.get("type") == "object":
            yield where, node
        for key, value in node.items():
            yield from objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from objects(item, f"{where}/{index}")


@pytest.mark.parametrize("make", [rule_file_schema, rule_test_schema], ids=["rules", "tests"])
def test_the_schema_is_a_valid_draft_2020_12_schema(make: Any) -> None:
    """Both declare the 2020-12 dialect, have a title and no $id, and pass its metaschema."""
    schema = make()
    assert schema["$schema"] == DIALECT
    assert schema["title"]
    assert "$id" not in schema
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("make", [rule_file_schema, rule_test_schema], ids=["rules", "tests"])
def test_every_property_has_a_description_and_no_unknown_keys_are_allowed(make: Any) -> None:
    """Each object in the schema forbids unknown keys and explains each of its keys."""
    found = list(objects(make()))
    assert len(found) > 5
    for where, body in found:
        assert body.get("additionalProperties") is False, f"{where} allows unknown keys"
        assert body.get("description"), where
        for key, prop in body["properties"].items():
            assert prop.get("description"), f"{where}/properties/{key}"


@pytest.mark.parametrize("make", [rule_file_schema, rule_test_schema], ids=["rules", "tests"])
def test_every_pattern_has_a_message_for_editors(make: Any) -> None:
    """Editors show words, not a regular expression, for every pattern (ids, types, times)."""

    def patterns(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "pattern" in node:
                yield node
            for value in node.values():
                yield from patterns(value)
        elif isinstance(node, list):
            for item in node:
                yield from patterns(item)

    found = list(patterns(make()))
    assert found
    assert all(node.get("patternErrorMessage") for node in found), found


def test_the_rule_file_schema_has_the_three_catalogs_and_each_effect_branch() -> None:
    """rules, achievements and benefits hold the rule, achievement and benefit models."""
    schema = rule_file_schema()
    defs = schema["$defs"]
    assert schema["additionalProperties"] is False
    items = {key: value["items"]["$ref"] for key, value in schema["properties"].items()}
    assert items == {
        "rules": "#/$defs/Rule",
        "achievements": "#/$defs/Achievement",
        "benefits": "#/$defs/Benefit",
    }
    assert [b["required"] for b in defs["Effect"]["oneOf"]] == [
        ["points"],
        ["achievement"],
        ["benefit"],
    ]
    assert [b["required"] for b in defs["LevelReward"]["oneOf"]] == [["points"], ["benefit"]]
    assert set(defs["Active"]["properties"]) == {"from", "until"}  # by alias, not from_
    assert set(defs["Rule"]["required"]) == {"id", "on", "then"}


def test_a_good_file_loads_and_validates(tmp_path: Path) -> None:
    """A file using every key passes both the loader and the schema."""
    assert loader_accepts(tmp_path, GOOD)
    assert errors(rule_file_schema(), parse(GOOD)) == []


@pytest.mark.parametrize(
    "path",
    sorted(p for p in RULES.glob("*.y*ml") if ".test." not in p.name),
    ids=lambda p: p.name,
)
def test_every_shipped_rule_file_validates(path: Path) -> None:
    """The rule files in rules/ pass the schema an editor would check them against."""
    data, _ = load_yaml(path.read_text(), str(path))
    assert errors(rule_file_schema(), data) == []


BAD = {
    "unknown top-level key": "rule:\n  - id: a\n",
    "unknown rule key": GOOD.replace("    on_revoke: keep", "    limits: {count: 1}"),
    "unknown effect key": GOOD.replace("- benefit: coffee-voucher", "- voucher: coffee-voucher"),
    "unknown level key": GOOD.replace("name: Bronze,", "title: Bronze,"),
    "unknown benefit key": GOOD.replace("expires_after: 30d", "expires: 30d"),
    "bad limit period": GOOD.replace("per: month}", "per: fortnight}"),
    "bad achievement period": GOOD.replace("    per: month", "    per: lifetime"),
    "bad duration": GOOD.replace("expires_after: 30d", "expires_after: 30 days"),
    "two rewards in one effect": GOOD.replace("- points: 50", "- {points: 50, benefit: x}"),
    "an empty effect": GOOD.replace("- points: 50", "- {}"),
    "a cap of nothing": GOOD.replace("{count: 1, per: month}", "{per: month}"),
    "no offset on active": GOOD.replace("2026-12-01T00:00:00Z", "2026-12-01T00:00:00"),
    "zero points": GOOD.replace("- points: 50", "- points: 0"),
    "expression points on a level": GOOD.replace("{points: 100}", '{points: "1 + 1"}'),
    "achievement on a level": GOOD.replace("{points: 100}", "{achievement: first-swim}"),
    "bad rule id": GOOD.replace("id: swim-distance", "id: Swim Distance"),
    "bad event type": GOOD.replace("on: [swim.completed", "on: [swim"),
    "no effects": "rules:\n  - {id: a, on: x.y, then: []}\n",
    "no trigger": "rules:\n  - {id: a, then: [{points: 1}]}\n",
}


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_a_file_the_loader_refuses_does_not_validate(tmp_path: Path, text: str) -> None:
    """Unknown keys, bad periods and malformed effects fail the schema as they fail the loader."""
    assert not loader_accepts(tmp_path, text)
    assert errors(rule_file_schema(), parse(text)) != []


def test_the_rule_test_format_validates_and_unknown_keys_do_not() -> None:
    """The documented *.test.yaml example passes; a misspelt key does not."""
    schema = rule_test_schema()
    assert errors(schema, parse(TEST_FILE)) == []
    assert errors(schema, parse(TEST_FILE.replace("benefits:", "benefit:"))) != []
    assert errors(schema, parse(TEST_FILE.replace("outcome: fired", "outcome: won"))) != []
    assert errors(schema, parse(TEST_FILE.replace("{event: 2,", "{event: 0,"))) != []


@pytest.mark.parametrize("path", sorted(RULES.glob("*.test.y*ml")), ids=lambda p: p.name)
def test_every_shipped_rule_test_file_validates(path: Path) -> None:
    """The rule test files in rules/ pass the test-file schema."""
    data, _ = load_yaml(path.read_text(), str(path))
    assert errors(rule_test_schema(), data) == []


@pytest.mark.parametrize(
    ("args", "title"),
    [([], "Reactor rule file"), (["--tests"], "Reactor rule test file")],
    ids=["rules", "tests"],
)
def test_reactor_rules_schema_prints_the_schema_as_json(args: list[str], title: str) -> None:
    """`reactor rules schema [--tests]` prints parseable JSON, ready for an editor."""
    result = CliRunner().invoke(main, ["rules", "schema", *args])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["title"] == title
