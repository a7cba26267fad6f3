"""Every example in the rule authoring guide (rules/README.md) is correct as written."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reactor.cli import main
from reactor.envelope import validate_envelope
from reactor.errors import RuleError
from reactor.rules import load_rules, load_yaml, rule_file_schema, rule_test_schema

RULES = Path(__file__).parent.parent / "rules"
GUIDE = RULES / "README.md"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_RULE_FILE = re.compile(r"^(rules|achievements|benefits):", re.MULTILINE)
_TEST_FILE = re.compile(r"^cases:", re.MULTILINE)


def blocks(language: str) -> list[Any]:
    """The guide's fenced blocks in ``language``, each named by its line and section."""
    text = GUIDE.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        if match.group(1) != language:
            continue
        line = text.count("\n", 0, match.start()) + 1
        headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)
        section = re.sub(r"[^a-z0-9]+", "-", headings[-1].lower()).strip("-")
        found.append(pytest.param(match.group(2), id=f"line-{line}-{section}"))
    return found


def test_the_guide_has_examples() -> None:
    """The extraction finds the guide's blocks (a broken pattern must not pass vacuously)."""
    assert len(blocks("yaml")) >= 30
    assert len(blocks("json")) >= 3


@pytest.mark.parametrize("source", blocks("yaml"))
def test_every_yaml_example_is_a_valid_rule_or_test_file(source: str, tmp_path: Path) -> None:
    """Each YAML block loads on its own, as an analyst would copy it, and fits the schema."""
    data, _ = load_yaml(source, "example.yaml")
    if _TEST_FILE.search(source):
        schema = rule_test_schema()
    elif _RULE_FILE.search(source):
        path = tmp_path / "example.yaml"
        path.write_text(source, encoding="utf-8")
        try:
            load_rules(path)
        except RuleError as exc:
            pytest.fail("\n".join(str(problem) for problem in exc.problems))
        schema = rule_file_schema()
    else:
        pytest.fail("a YAML block in the guide should be a rule file or a rule test file")
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


@pytest.mark.parametrize("source", blocks("json"))
def test_every_json_example_parses_and_every_envelope_is_accepted(source: str) -> None:
    """JSON blocks are JSON; the webhook envelopes among them pass the receiver's validation."""
    document = json.loads(source)
    if "type" in document and "data" in document:
        validate_envelope(document, None)


def test_the_guide_s_rule_test_example_passes_against_the_shipped_rules(tmp_path: Path) -> None:
    """The *.test.yaml example in the guide is a real, passing test of rules/ as shipped."""
    (example,) = [p.values[0] for p in blocks("yaml") if _TEST_FILE.search(p.values[0])]
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder, ignore=shutil.ignore_patterns("*.test.yaml", "*.md"))
    (folder / "guide.test.yaml").write_text(example, encoding="utf-8")
    result = CliRunner().invoke(main, ["rules", "test", str(folder / "guide.test.yaml")])
    assert result.exit_code == 0, result.output
