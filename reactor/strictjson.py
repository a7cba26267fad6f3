"""Strict JSON parsing of webhook bodies: refuse everything Python's ``json`` lets through."""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from reactor.errors import InputError

# The longest number literal we accept. Real ids, amounts and timestamps are far shorter; the cap
# keeps int() away from CPython's 4,300-digit limit (a bare ValueError) and quadratic conversion.
MAX_NUMBER_CHARS = 100

# BOMs are checked before decoding so the client gets "UTF-16" rather than "byte 0xff".
_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with UTF-16's.
    (b"\xff\xfe\x00\x00", "UTF-32 byte order mark"),
    (b"\x00\x00\xfe\xff", "UTF-32 byte order mark"),
    (b"\xef\xbb\xbf", "UTF-8 byte order mark"),
    (b"\xff\xfe", "UTF-16 byte order mark"),
    (b"\xfe\xff", "UTF-16 byte order mark"),
)

# After a strict UTF-8 decode, NUL and surrogates can only come from \u escapes (raw control
# characters are refused by json and encoded surrogates by the codec). Valid surrogate pairs are
# joined by json into one code point, so any surrogate left in a str is a lone one.
_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
# So a body with no such escape anywhere skips the per-string scan. False hits (an escaped
# backslash followed by "u0000") only cost the full scan.
_BAD_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _fail(code: str, message: str) -> NoReturn:
    raise InputError(400, code, message)


def _excerpt(text: str, limit: int = 40) -> str:
    """Quote client text for an error message without echoing a huge or odd value."""
    shown = text if len(text) <= limit else text[:limit] + "..."
    # ascii() so control characters and surrogates cannot break logs or JSON error bodies.
    return ascii(shown)


def _check_length(literal: str) -> None:
    if len(literal) > MAX_NUMBER_CHARS:
        _fail(
            "invalid_number",
            f"number with {len(literal)} characters is longer than the {MAX_NUMBER_CHARS} allowed",
        )


def _parse_int(literal: str) -> int:
    _check_length(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    _check_length(literal)
    number = float(literal)
    if not math.isfinite(number):
        _fail("invalid_number", f"number {_excerpt(literal)} is out of range")
    return number


def _parse_constant(literal: str) -> NoReturn:
    # Called by json for NaN, Infinity and -Infinity, which JSON itself does not allow.
    _fail("invalid_number", f"{literal} is not a valid JSON number")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                _fail("duplicate_key", f"duplicate key {_excerpt(key)} in an object")
            seen.add(key)
    return result


def _path(parts: tuple[str | int, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


def _string_problem(text: str) -> str | None:
    """Name what is wrong with a string, or None; the caller builds the path only on failure."""
    match = _BAD_CHAR.search(text)
    if match is None:
        return None
    char = match.group()
    return "U+0000" if char == "\x00" else f"a lone surrogate U+{ord(char):04X}"


def _fail_string(what: str, where: tuple[str | int, ...], problem: str) -> NoReturn:
    _fail("invalid_string", f"{what} at {_excerpt(_path(where), 80)} contains {problem}")


def _check_depth(value: Any, max_depth: int) -> None:
    """Refuse containers nested more than max_depth deep (a lean walk: no paths, no strings)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            _fail("too_deep", f"nesting deeper than {max_depth} levels")
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))


def _check_strings(value: Any) -> None:
    """Refuse any key or string holding NUL or a lone surrogate, naming where it is."""
    if isinstance(value, str):
        if problem := _string_problem(value):
            _fail_string("string", (), problem)
        return
    if not isinstance(value, dict | list):
        return
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, where = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if isinstance(key, str) and (problem := _string_problem(key)):
                _fail_string("key", (*where, key), problem)
            if isinstance(child, str) and (problem := _string_problem(child)):
                _fail_string("string", (*where, key), problem)
            elif isinstance(child, dict | list):
                stack.append((child, (*where, key)))


def _decode(body: bytes) -> str:
    for bom, name in _BOMS:
        if body.startswith(bom):
            _fail("invalid_encoding", f"body starts with a {name}; send UTF-8 without a BOM")
    # JSON text never contains a raw NUL byte; one in the first bytes means UTF-16/32 (RFC 4627).
    if b"\x00" in body[:4]:
        _fail("invalid_encoding", "body looks like UTF-16 or UTF-32; send UTF-8")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(
            "invalid_encoding",
            f"body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})",
        )


def parse_json(body: bytes, *, max_depth: int = 32) -> Any:
    """Parse a webhook body as strict UTF-8 JSON, raising InputError(400, ...) on anything odd."""
    text = _decode(body)
    if not text.strip():
        _fail("malformed_json", "body is empty")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        _fail(
            "malformed_json", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
    except RecursionError:
        # json's C scanner recurses once per level; thousands of levels exhaust the stack.
        _fail("too_deep", f"nesting deeper than {max_depth} levels")
    # Every container opens with a bracket, so few brackets (even counting those inside strings)
    # prove the depth is fine without walking.
    if isinstance(value, dict | list) and text.count("[") + text.count("{") > max_depth:
        _check_depth(value, max_depth)
    if _BAD_ESCAPE.search(text):
        _check_strings(value)
    return value


def canonical_json(value: Any) -> str:
    """Serialise a parsed value with sorted keys and no whitespace, for hashing bodies."""
    return _CANONICAL(value)


# Built once: json.loads and json.dumps with options build a new decoder or encoder per call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_int=_parse_int,
    parse_float=_parse_float,
    parse_constant=_parse_constant,
)
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
