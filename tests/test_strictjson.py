"""Tests for reactor.strictjson: every kind of bad body gets its own 400 code, good ones parse."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.errors import InputError
from reactor.strictjson import MAX_NUMBER_CHARS, canonical_json, parse_json


def deep_dup_key(levels: int) -> bytes:
    return b'{"a":' * levels + b'{"k":1,"k":2}' + b"}" * levels


BAD_BODIES: list[tuple[bytes, str, str]] = [
    # (body, expected code, id)
    (b"", "malformed_json", "empty-body"),
    (b"  \n\t ", "malformed_json", "whitespace-only"),
    (b'{"id": "evt_1", "data": {', "malformed_json", "truncated"),
    (b"{'id': 1}", "malformed_json", "single-quotes"),
    (b'{"a": 1,}', "malformed_json", "trailing-comma"),
    (b'{"a": 1} {"b": 2}', "malformed_json", "two-documents"),
    (b'{"a": "tab\there"}', "malformed_json", "raw-control-character-in-string"),
    (b"\xef\xbb\xbf{}", "invalid_encoding", "utf8-bom"),
    ('{"a": 1}'.encode("utf-16"), "invalid_encoding", "utf16-with-bom"),
    ('{"a": 1}'.encode("utf-16-le"), "invalid_encoding", "utf16-le-without-bom"),
    ('{"a": 1}'.encode("utf-16-be"), "invalid_encoding", "utf16-be-without-bom"),
    ('{"a": 1}'.encode("utf-32"), "invalid_encoding", "utf32-with-bom"),
    ('{"name": "Zoë"}'.encode("latin-1"), "invalid_encoding", "latin1-bytes"),
    (b'{"a": "\xed\xa0\x80"}', "invalid_encoding", "utf8-encoded-surrogate"),
    (b'{"a": "\xc0\xaf"}', "invalid_encoding", "overlong-utf8"),
    (b"NaN", "invalid_number", "nan"),
    (b'{"a": -Infinity}', "invalid_number", "minus-infinity"),
    (b"[Infinity]", "invalid_number", "infinity"),
    (b'{"a": 1e999}', "invalid_number", "float-overflow"),
    (b'{"a": -1e999}', "invalid_number", "negative-float-overflow"),
    (b"1" * 5000, "invalid_number", "five-thousand-digit-int"),
    (b'{"a": 0.' + b"1" * 5000 + b"}", "invalid_number", "five-thousand-digit-float"),
    (b"1" * (MAX_NUMBER_CHARS + 1), "invalid_number", "one-digit-over-the-cap"),
    (b'{"k": 1, "k": 2}', "duplicate_key", "duplicate-key"),
    (b'{"k": 1, "k": 1}', "duplicate_key", "duplicate-key-same-value"),
    (deep_dup_key(20), "duplicate_key", "duplicate-key-nested-deep"),
    (b'[{"a": [{}, {"x": 1, "y": 2, "x": 3}]}]', "duplicate_key", "duplicate-key-in-array"),
    (b"[" * 10_000 + b"]" * 10_000, "too_deep", "ten-thousand-levels"),
    (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "too_deep", "ten-thousand-object-levels"),
    (b"[" * 10_000, "too_deep", "ten-thousand-levels-unclosed"),
    (b"[" * 33 + b"]" * 33, "too_deep", "one-over-the-default-cap"),
    (b'{"\\u0000": 1}', "invalid_string", "nul-in-key"),
    (b'{"a": "x\\u0000y"}', "invalid_string", "nul-in-value"),
    (b'["\\udc00"]', "invalid_string", "lone-low-surrogate"),
    (b'{"a": {"b": "\\ud800"}}', "invalid_string", "lone-high-surrogate"),
    (b'{"\\uD83D": 1}', "invalid_string", "lone-surrogate-in-key-upper-hex"),
    (b'"\\ude00\\ud83d"', "invalid_string", "reversed-surrogate-pair-top-level"),
]


@pytest.mark.parametrize(
    ("body", "code"),
    [(body, code) for body, code, _ in BAD_BODIES],
    ids=[name for _, _, name in BAD_BODIES],
)
def test_each_kind_of_bad_body_gets_its_own_400_code(body: bytes, code: str) -> None:
    """Every bad class of body raises InputError 400 with its specific code and a message."""
    with pytest.raises(InputError) as caught:
        parse_json(body)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert caught.value.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"points": 5, "points": 6}', "'points'"),
        (b'{"a": ', "line 1 column 7"),
        (b'{"a": "\xff"}', "byte 0xff at offset 7"),
        (b'{"a": [1, {"b": "\\u0000"}]}', "$.a[1].b"),
        (b'{"a": {"\\ud800": 1}}', "U+D800"),
        (b"1e999", "'1e999'"),
        (b"[" * 40 + b"]" * 40, "deeper than 32 levels"),
    ],
    ids=[
        "duplicate-names-key",
        "malformed-gives-position",
        "utf8-gives-offset",
        "string-gives-path",
        "surrogate-named",
        "number-quoted",
        "depth-named",
    ],
)
def test_error_messages_say_what_and_where(body: bytes, fragment: str) -> None:
    """Messages name the offending key, number, position or path."""
    with pytest.raises(InputError) as caught:
        parse_json(body)
    assert fragment in caught.value.message


def test_a_huge_duplicate_key_is_shortened_in_the_message() -> None:
    """A 100 KB key is quoted only in part, so error bodies and logs stay small."""
    key = "k" * 100_000
    with pytest.raises(InputError) as caught:
        parse_json(f'{{"{key}": 1, "{key}": 2}}'.encode())
    assert len(caught.value.message) < 200


VALID_COMPLEX = {
    "id": "evt_01JD3X",
    "type": "interaction.created",
    "created_at": "2026-11-22T10:00:00Z",
    "data": {
        "profile_id": "m1",
        "signal": -1,
        "amount": 12.5,
        "big": 10**99,
        "tiny": 1e-300,
        "flags": [True, False, None],
        "name": "Zoë 🙂 \\u0000 literally",
        "emoji_escaped": "\U0001f600",
        "meta": {"nested": [[{"deep": [1, 2, 3]}]], "": "empty key"},
    },
}


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(VALID_COMPLEX).encode(),
        json.dumps(VALID_COMPLEX, ensure_ascii=False, indent=2).encode(),
        b'{"a": "\\ud83d\\ude00", "b": "\\\\u0000"}',
        b"[" * 32 + b"]" * 32,
        b'"just a string"',
        b"42",
        b"null",
        b"[]",
        b"1" * MAX_NUMBER_CHARS,
    ],
    ids=[
        "complex-ascii",
        "complex-utf8-indented",
        "surrogate-pair-and-escaped-backslash",
        "exactly-the-depth-cap",
        "top-level-string",
        "top-level-number",
        "top-level-null",
        "empty-array",
        "number-at-the-length-cap",
    ],
)
def test_valid_bodies_parse_exactly_like_json_loads(body: bytes) -> None:
    """A good body parses to the same value as json.loads, including non-object top levels."""
    assert parse_json(body) == json.loads(body)


def test_max_depth_is_configurable() -> None:
    """A caller can lower the nesting cap."""
    parse_json(b"[[[]]]", max_depth=3)
    with pytest.raises(InputError, match="deeper than 2 levels"):
        parse_json(b"[[[]]]", max_depth=2)


def test_a_256_kib_body_of_many_objects_parses_exactly() -> None:
    """A body of many small objects near the size limit parses to the same value as json."""
    items = [{"id": f"int_{i}", "n": i, "f": i / 3, "tags": ["a"], "s": "Zoë"} for i in range(3000)]
    body = json.dumps(items).encode()
    assert len(body) > 200_000
    assert parse_json(body) == items


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_input_error(body: bytes) -> None:
    """Random bytes either parse or raise InputError 400 — never another exception."""
    try:
        parse_json(body)
    except InputError as exc:
        assert exc.status == 400


# Text json.dumps can write but parse_json must accept: no NUL, no surrogates.
CLEAN_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | CLEAN_TEXT,
    lambda children: st.lists(children) | st.dictionaries(CLEAN_TEXT, children),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_clean_json_value_round_trips(value: Any) -> None:
    """Anything json.dumps writes (without NaN, NUL or surrogates) parses back equal."""
    assert parse_json(json.dumps(value).encode()) == value


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (b'{"b": 1, "a": 2}', b'{"a":2,"b":1}'),
        (b'{"a": {"y": [1, 2], "x": null}}', b'{\n  "a": {"x": null,\n "y": [1,2]}\n}'),
        (b'{"name": "Zo\\u00eb"}', '{"name": "Zoë"}'.encode()),
    ],
    ids=["key-order", "nested-key-order-and-whitespace", "escaped-vs-literal-unicode"],
)
def test_canonical_json_is_the_same_for_equivalent_bodies(first: bytes, second: bytes) -> None:
    """Bodies that differ only in key order, whitespace or escaping canonicalise identically."""
    assert canonical_json(parse_json(first)) == canonical_json(parse_json(second))


def test_canonical_json_is_compact_sorted_and_keeps_unicode() -> None:
    """The canonical form has sorted keys, no spaces and literal non-ASCII characters."""
    assert canonical_json({"b": [1, 2], "a": "Zoë"}) == '{"a":"Zoë","b":[1,2]}'


def test_canonical_json_differs_when_a_value_differs() -> None:
    """Different content gives a different canonical form (so 409 can be detected)."""
    assert canonical_json(parse_json(b'{"a": 1}')) != canonical_json(parse_json(b'{"a": 2}'))
