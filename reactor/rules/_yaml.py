"""Strict YAML for rule files: plain data, YAML 1.2 core scalars, and the position of every value.

PyYAML's ``safe_load`` expands alias bombs, keeps the last of duplicate keys and turns ``on``,
``yes`` and ``2024-01-01`` into booleans and dates. Here we read PyYAML's parser events and build
the values ourselves, so none of its constructors or resolvers ever run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.reader import ReaderError

from reactor.errors import Problem, RuleError

MAX_YAML_CHARS = 1024 * 1024
"""The largest rule file we read, in characters."""

MAX_YAML_DEPTH = 64
"""The deepest nesting of mappings and sequences we accept."""

MAX_YAML_PROBLEMS = 100
"""We stop collecting problems after this many, so a pathological file cannot flood the CLI."""

KEY = "<key>"
"""Positions also hold each mapping key's own place, at the key's path plus this marker."""

TEXT = "<text>"
"""And where a quoted scalar's text begins (after the quote), at its path plus this marker:
a column inside the text (an expression's) counts from there. Escapes (``''``, ``\\"``) inside
the text are not accounted for."""

Path = tuple[str | int, ...]
Positions = dict[Path, tuple[int, int]]

# YAML 1.2.2 core schema, narrowed: no leading zeros on decimal numbers ("0800" stays a string).
_NULL = re.compile(r"null|Null|NULL|~|")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|(0|[1-9][0-9]*)(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_SPECIAL_FLOAT = re.compile(r"[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


class _Invalid:
    """A node that already produced a problem; it must not cause a second one."""


_INVALID = _Invalid()
_NO_KEY = object()  # a mapping frame waiting for its next key
_SKIP = object()  # a mapping frame whose current key was refused: its value is read and dropped


class _Stop(Exception):
    """Raised inside the builder when reading further would be pointless or unsafe."""


@dataclass
class _Frame:
    """An open mapping or sequence; ``path`` is None for nodes we do not record (inside keys)."""

    value: dict[str, Any] | list[Any]
    path: Path | None
    start: tuple[int, int]
    key: object = _NO_KEY
    first_lines: dict[str, int] = field(default_factory=dict)


def load_yaml(text: str, filename: str) -> tuple[Any, Positions]:
    """Parse one strict YAML document into plain data and a map from value paths to (line, col).

    Raises RuleError carrying every problem found (duplicate keys, tags, anchors, aliases, ...).
    """
    if len(text) > MAX_YAML_CHARS:
        message = f"file is too large ({len(text)} characters; the limit is {MAX_YAML_CHARS})"
        raise RuleError([Problem(filename, 1, 1, message)])
    builder = _Builder(filename)
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        builder.syntax_error(exc)
    except ReaderError as exc:
        line, col = _position_of_index(text, exc.position)
        builder.problems.append(Problem(filename, line, col, f"YAML syntax error: {exc.reason}"))
    except yaml.YAMLError as exc:  # anything else PyYAML may raise still becomes a Problem
        builder.problems.append(Problem(filename, 1, 1, f"YAML error: {exc}"))
    except _Stop:
        pass
    if builder.problems:
        raise RuleError(builder.problems)
    builder.positions[()] = (1, 1)
    return builder.root, builder.positions


def _position_of_index(text: str, index: int) -> tuple[int, int]:
    """1-based (line, col) of a character index."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


class _Builder:
    """Turns parser events into values, recording positions and problems as it goes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.problems: list[Problem] = []
        self.positions: Positions = {}
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.documents = 0

    def problem(self, at: tuple[int, int], message: str, *, fatal: bool = False) -> None:
        self.problems.append(Problem(self.filename, *at, message))
        if len(self.problems) >= MAX_YAML_PROBLEMS:
            self.problems.append(Problem(self.filename, *at, "too many problems; stopping"))
            raise _Stop
        if fatal:
            raise _Stop

    def syntax_error(self, exc: yaml.MarkedYAMLError) -> None:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        detail = ": ".join(part for part in (exc.context, exc.problem) if part)
        self.problems.append(Problem(self.filename, line, col, f"YAML syntax error: {detail}"))

    def feed(self, event: yaml.Event) -> None:
        """Handle one parser event; an alias is refused here, before anything could expand it."""
        # Marks are 0-based; problems and positions are 1-based like editors.
        mark = (
            (event.start_mark.line + 1, event.start_mark.column + 1) if event.start_mark else (1, 1)
        )
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                self.problem(mark, "only one YAML document is allowed per file", fatal=True)
        elif isinstance(event, yaml.AliasEvent):
            self.problem(mark, f"aliases are not allowed (*{event.anchor})")
            self.attach(_INVALID, mark, self.child_path())
        elif isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent):
            path = self.child_path()
            if event.anchor is not None:
                self.problem(mark, f"anchors are not allowed (&{event.anchor})")
            if event.tag is not None:
                tag = event.tag.replace("tag:yaml.org,2002:", "!!", 1)
                self.problem(mark, f"tags are not allowed ({tag})")
            if path is not None:
                self.positions[path] = mark
                if isinstance(event, yaml.ScalarEvent) and event.style in ("'", '"'):
                    # A quoted scalar's text starts after its quote.
                    self.positions[(*path, TEXT)] = (mark[0], mark[1] + 1)
            if isinstance(event, yaml.ScalarEvent):
                self.attach(self.scalar(event, mark), mark, path, raw=event.value)
            else:
                empty: dict[str, Any] | list[Any] = (
                    {} if isinstance(event, yaml.MappingStartEvent) else []
                )
                self.stack.append(_Frame(empty, path, mark))
                if len(self.stack) > MAX_YAML_DEPTH:
                    message = f"nesting is too deep (the limit is {MAX_YAML_DEPTH} levels)"
                    self.problem(mark, message, fatal=True)
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            self.attach(frame.value, frame.start, frame.path)

    def child_path(self) -> Path | None:
        """The path of the node that starts now, or None when it is a key or dropped."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if frame.path is None:
            return None
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        if frame.key is _NO_KEY or frame.key is _SKIP:
            return None
        assert isinstance(frame.key, str)
        return (*frame.path, frame.key)

    def attach(
        self, value: Any, mark: tuple[int, int], path: Path | None, raw: str | None = None
    ) -> None:
        """Put a finished node into its parent, checking it when it is a mapping key."""
        if not self.stack:
            self.root = None if value is _INVALID else value
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            frame.value.append(None if value is _INVALID else value)
        elif frame.key is _NO_KEY:
            frame.key = self.check_key(frame, value, mark, raw)
        else:
            if isinstance(frame.key, str):
                frame.value[frame.key] = None if value is _INVALID else value
            frame.key = _NO_KEY

    def check_key(self, frame: _Frame, key: Any, mark: tuple[int, int], raw: str | None) -> object:
        """Return the key to use, or _SKIP after reporting why this key is refused."""
        if key is _INVALID:
            return _SKIP
        if not isinstance(key, str):
            if isinstance(key, dict | list):
                self.problem(mark, "mapping keys must be strings, not a mapping or a list")
            else:
                self.problem(mark, f"mapping keys must be strings; quote it: '{raw}'")
            return _SKIP
        first = frame.first_lines.get(key)
        if first is not None:
            self.problem(mark, f"duplicate key '{key}' (first defined at line {first})")
            return _SKIP
        frame.first_lines[key] = mark[0]
        if frame.path is not None:
            self.positions[(*frame.path, key, KEY)] = mark
        return key

    def scalar(self, event: yaml.ScalarEvent, mark: tuple[int, int]) -> Any:
        """Resolve a scalar: quoted and block ones are str, plain ones follow the core schema."""
        text = event.value
        if event.style is not None:
            return text
        if _NULL.fullmatch(text):
            return None
        if text in _BOOL:
            return _BOOL[text]
        try:
            if _DECIMAL.fullmatch(text):
                return int(text)
            if _OCTAL.fullmatch(text):
                return int(text[2:], 8)
            if _HEX.fullmatch(text):
                return int(text[2:], 16)
        except ValueError:  # Python refuses to convert more than 4300 digits
            self.problem(mark, f"number is too large: {text[:20]}...")
            return _INVALID
        if _SPECIAL_FLOAT.fullmatch(text):
            self.problem(mark, f"{text} is not allowed; numbers must be finite")
            return _INVALID
        if _FLOAT.fullmatch(text):
            number = float(text)
            if number in (float("inf"), float("-inf")):
                self.problem(mark, f"number is too large: {text}")
                return _INVALID
            return number
        return text
