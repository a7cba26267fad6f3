"""Tests for reactor.yamlstrict: strict YAML with positions for rule files."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from reactor.errors import RuleError
from reactor.rules import MAX_YAML_CHARS, MAX_YAML_DEPTH, TEXT, load_yaml


def problems_of(text: str) -> list[str]:
    """Every problem load_yaml reports for ``text``, as ``line:col: message``."""
    with pytest.raises(RuleError) as caught:
        load_yaml(text, "rules.yaml")
    return [f"{p.line}:{p.col}: {p.message}" for p in caught.value.problems]


SCALARS: list[tuple[str, str, Any]] = [
    ("null word", "null", None),
    ("Null word", "Null", None),
    ("NULL word", "NULL", None),
    ("tilde", "~", None),
    ("empty", "", None),
    ("true", "true", True),
    ("True", "True", True),
    ("TRUE", "TRUE", True),
    ("false", "false", False),
    ("FALSE", "FALSE", False),
    ("yes stays text", "yes", "yes"),
    ("no stays text", "no", "no"),
    ("on stays text", "on", "on"),
    ("off stays text", "off", "off"),
    ("y stays text", "y", "y"),
    ("n stays text", "n", "n"),
    ("decimal int", "42", 42),
    ("negative int", "-7", -7),
    ("plus-signed int", "+3", 3),
    ("zero", "0", 0),
    ("leading zeros stay text", "007", "007"),
    ("underscores stay text", "1_000", "1_000"),
    ("hex int", "0x1F", 31),
    ("octal int", "0o17", 15),
    ("YAML 1.1 octal stays text", "017", "017"),
    ("binary stays text", "0b101", "0b101"),
    ("float", "1.5", 1.5),
    ("float with exponent", "1e3", 1000.0),
    ("float without integer part", ".5", 0.5),
    ("date stays text", "2024-01-01", "2024-01-01"),
    ("timestamp stays text", "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z"),
    ("duration stays text", "30d", "30d"),
    ("sexagesimal stays text", "12:30", "12:30"),
    ("single-quoted number is text", "'1'", "1"),
    ("double-quoted true is text", '"true"', "true"),
    ("quoted null is text", "'null'", "null"),
    ("block scalar is text", "|\n  42\n", "42\n"),
    ("expression stays text", 'action == "feedback"', 'action == "feedback"'),
]


@pytest.mark.parametrize(
    ("written", "expected"), [case[1:] for case in SCALARS], ids=[case[0] for case in SCALARS]
)
def test_plain_scalars_resolve_like_the_yaml_1_2_core_schema(written: str, expected: Any) -> None:
    """Only core-schema nulls, bools, ints and floats are typed; everything else is text."""
    data, _ = load_yaml(f"value: {written}\n", "rules.yaml")
    assert data == {"value": expected}
    assert type(data["value"]) is type(expected)


def test_on_and_yes_as_keys_stay_strings() -> None:
    """``on:`` (the rule trigger key) and ``yes:`` are the strings "on" and "yes"."""
    data, _ = load_yaml("on: interaction.created\nyes: 1\n", "rules.yaml")
    assert data == {"on": "interaction.created", "yes": 1}


PROBLEMS: list[tuple[str, str, list[str]]] = [
    (
        "duplicate keys report both lines",
        "id: a\nname: x\nid: b\n",
        ["3:1: duplicate key 'id' (first defined at line 1)"],
    ),
    (
        "every duplicate key is reported",
        "a: 1\nb: 2\na: 3\nb: 4\n",
        [
            "3:1: duplicate key 'a' (first defined at line 1)",
            "4:1: duplicate key 'b' (first defined at line 2)",
        ],
    ),
    (
        "duplicate keys in a nested flow mapping",
        "rules:\n  - {id: a, id: b}\n",
        ["2:13: duplicate key 'id' (first defined at line 2)"],
    ),
    (
        "quoted and plain spellings of a key are the same key",
        "on: x\n'on': y\n",
        ["2:1: duplicate key 'on' (first defined at line 1)"],
    ),
    (
        "python object tag",
        "a: !!python/object:os.system x\n",
        ["1:4: tags are not allowed (!!python/object:os.system)"],
    ),
    ("str tag", "a: !!str 1\n", ["1:4: tags are not allowed (!!str)"]),
    ("custom tag", "a: !custom {x: 1}\n", ["1:4: tags are not allowed (!custom)"]),
    ("non-specific tag", "a: ! 1\n", ["1:4: tags are not allowed (!)"]),
    ("tag on a key", "!!str a: 1\n", ["1:1: tags are not allowed (!!str)"]),
    (
        "anchor and alias",
        "a: &x 1\nb: *x\n",
        ["1:4: anchors are not allowed (&x)", "2:4: aliases are not allowed (*x)"],
    ),
    ("anchor alone", "a: &x [1]\n", ["1:4: anchors are not allowed (&x)"]),
    ("int key", "1: a\n", ["1:1: mapping keys must be strings; quote it: '1'"]),
    ("bool key", "true: a\n", ["1:1: mapping keys must be strings; quote it: 'true'"]),
    ("null key", "null: a\n", ["1:1: mapping keys must be strings; quote it: 'null'"]),
    (
        "sequence key",
        "[x]: a\n",
        ["1:1: mapping keys must be strings, not a mapping or a list"],
    ),
    (
        "mapping key",
        "? {a: 1}\n: b\n",
        ["1:3: mapping keys must be strings, not a mapping or a list"],
    ),
    ("two documents", "a: 1\n---\nb: 2\n", ["2:1: only one YAML document is allowed per file"]),
    (
        "unclosed flow sequence",
        "a: [1, 2\nb: 3\n",
        ["2:2: YAML syntax error: while parsing a flow sequence: expected ',' or ']', but got ':'"],
    ),
    (
        "bad indentation",
        "a:\n  b: 1\n c: 2\n",
        [
            "3:2: YAML syntax error: while parsing a block mapping: "
            "expected <block end>, but found '<block mapping start>'"
        ],
    ),
    (
        "control character",
        "a: \x01\n",
        ["1:4: YAML syntax error: special characters are not allowed"],
    ),
    (
        "infinity and not-a-number",
        "a: .inf\nb: -.Inf\nc: .nan\n",
        [
            "1:4: .inf is not allowed; numbers must be finite",
            "2:4: -.Inf is not allowed; numbers must be finite",
            "3:4: .nan is not allowed; numbers must be finite",
        ],
    ),
    ("float overflow", "a: 1e999\n", ["1:4: number is too large: 1e999"]),
    (
        "nesting too deep",
        "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1),
        [f"1:{MAX_YAML_DEPTH + 1}: nesting is too deep (the limit is {MAX_YAML_DEPTH} levels)"],
    ),
    (
        "all problems of a file at once",
        "a: !!str 1\nb: *x\na: 2\n",
        [
            "1:4: tags are not allowed (!!str)",
            "2:4: aliases are not allowed (*x)",
            "3:1: duplicate key 'a' (first defined at line 1)",
        ],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in PROBLEMS], ids=[case[0] for case in PROBLEMS]
)
def test_refused_yaml_reports_every_problem_with_its_position(
    text: str, expected: list[str]
) -> None:
    """Each refused construct is a Problem at its own line:col, and none is skipped."""
    assert problems_of(text) == expected


def test_problems_name_the_file() -> None:
    """A problem renders as ``file:line:col: message`` for the CLI."""
    with pytest.raises(RuleError) as caught:
        load_yaml("a: 1\na: 2\n", "rules/reviews.yaml")
    assert (
        str(caught.value) == "rules/reviews.yaml:2:1: duplicate key 'a' (first defined at line 1)"
    )


def test_a_file_over_the_size_cap_is_refused_before_parsing() -> None:
    """Text longer than MAX_YAML_CHARS is one clear problem at 1:1."""
    problems = problems_of("#" * (MAX_YAML_CHARS + 1))
    assert problems == [
        f"1:1: file is too large ({MAX_YAML_CHARS + 1} characters; the limit is {MAX_YAML_CHARS})"
    ]


BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{','.join(['*' + previous] * 9)}]\n"
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_an_alias_bomb_fails_fast_without_expanding() -> None:
    """The billion-laughs file is refused at its aliases, using well under a megabyte."""
    assert len(BOMB.encode()) < 500
    tracemalloc.start()
    try:
        problems = problems_of(BOMB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problems[0] == "1:4: anchors are not allowed (&a)"
    assert problems[2] == "2:8: aliases are not allowed (*a)"
    assert peak < 1_000_000


def test_positions_map_every_nested_value_to_its_line_and_column() -> None:
    """Paths through mappings and sequences give the 1-based start of each value."""
    text = (
        "# rewards for reviews\n"
        "rules:\n"
        "  - id: first-review\n"
        "    on: interaction.created\n"
        "    then:\n"
        "      - points: 50\n"
        "      - {benefit: coffee, points: 'duration // 60'}\n"
    )
    data, positions = load_yaml(text, "rules.yaml")
    assert data["rules"][0]["then"][1] == {"benefit": "coffee", "points": "duration // 60"}
    assert positions[()] == (1, 1)
    assert positions[("rules",)] == (3, 3)
    assert positions[("rules", 0)] == (3, 5)
    assert positions[("rules", 0, "id")] == (3, 9)
    assert positions[("rules", 0, "on")] == (4, 9)
    assert positions[("rules", 0, "then")] == (6, 7)
    assert positions[("rules", 0, "then", 0, "points")] == (6, 17)
    assert positions[("rules", 0, "then", 1)] == (7, 9)
    assert positions[("rules", 0, "then", 1, "points")] == (7, 35)


def test_a_quoted_scalar_records_where_its_text_begins() -> None:
    """Columns inside a quoted value count from after the quote; plain ones need no marker."""
    _, positions = load_yaml("a: 'x == 1'\nb: \"y\"\nc: z\n", "rules.yaml")
    assert positions[("a",)] == (1, 4)
    assert positions[("a", TEXT)] == (1, 5)
    assert positions[("b", TEXT)] == (2, 5)
    assert ("c", TEXT) not in positions


def test_an_empty_file_is_none_at_the_root() -> None:
    """An empty or comment-only file loads as None with the root at 1:1."""
    assert load_yaml("# nothing yet\n", "rules.yaml") == (None, {(): (1, 1)})


def test_values_are_plain_python_data() -> None:
    """Mappings are dicts and sequences are lists, built without any PyYAML constructor."""
    data, _ = load_yaml("a: [1, {b: c}]\nd: {}\n", "rules.yaml")
    assert data == {"a": [1, {"b": "c"}], "d": {}}
    assert type(data) is dict and type(data["a"]) is list
