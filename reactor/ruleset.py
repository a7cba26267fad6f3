"""Loading rule files into one validated, compiled, versioned and indexed rule set."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from reactor import context
from reactor.envelope import INTERACTION_FIELDS
from reactor.errors import ExpressionError, Problem, RuleError, did_you_mean
from reactor.expressions import Expression, compile_expression
from reactor.history import HISTORY_FUNCTIONS, check_call
from reactor.rule_models import Cap, RuleFile, RuleSpec
from reactor.strictjson import canonical_json
from reactor.yamlstrict import KEY, load_yaml

Path_ = tuple[str | int, ...]
Positions = Mapping[Path_, tuple[int, int]]


@dataclass(frozen=True)
class Rule:
    """A loaded rule: its expressions compiled, its version the hash of its content (I8)."""

    id: str
    name: str
    on: tuple[str, ...]
    when: Expression | None
    points: tuple[int | Expression, ...]
    limit: Cap | None
    budget: Cap | None
    enabled: bool
    active_from: datetime | None
    active_until: datetime | None
    timezone: ZoneInfo
    on_revoke: str
    version: str
    file: str

    def is_active_at(self, moment: datetime) -> bool:
        if self.active_from is not None and moment < self.active_from:
            return False
        return self.active_until is None or moment < self.active_until


@dataclass(frozen=True)
class RuleSet:
    """Every rule Reactor runs, indexed by event type so other types' rules cost nothing."""

    rules: tuple[Rule, ...]
    version: str
    _by_type: dict[str, tuple[Rule, ...]] = field(repr=False, compare=False)

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> RuleSet:
        ordered = tuple(sorted(rules, key=lambda r: r.id))
        by_type: dict[str, list[Rule]] = {}
        for rule in ordered:
            if rule.enabled:
                for event_type in rule.on:
                    by_type.setdefault(event_type, []).append(rule)
        version = hashlib.sha256(" ".join(f"{r.id}@{r.version}" for r in ordered).encode())
        return cls(ordered, version.hexdigest()[:16], {k: tuple(v) for k, v in by_type.items()})

    def for_event(self, event_type: str) -> tuple[Rule, ...]:
        return self._by_type.get(event_type, ())


def rule_files(path: Path) -> list[Path]:
    """The rule files under ``path`` (or ``path`` itself), test files excluded, in stable order."""
    if path.is_file():
        return [path]
    found = [*path.rglob("*.yaml"), *path.rglob("*.yml")]
    return sorted(p for p in found if not p.name.endswith((".test.yaml", ".test.yml")))


def load_rules(path: Path, default_timezone: str = "UTC") -> RuleSet:
    """Load and check every rule file under ``path``; raise ``RuleError`` listing every problem."""
    if not path.exists():
        raise RuleError([Problem(str(path), 1, 1, "no such file or directory")])
    problems: list[Problem] = []
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for file in rule_files(path):
        loaded = _load_file(file, default_timezone, problems)
        for rule, where in loaded:
            if rule.id in seen:
                problems.append(
                    where(f"duplicate rule id '{rule.id}' (first defined in {seen[rule.id]})")
                )
                continue
            seen[rule.id] = f"{rule.file}"
            rules.append(rule)
    if problems:
        # Like a compiler: file by file, top to bottom.
        raise RuleError(sorted(problems, key=lambda p: (p.file, p.line, p.col)))
    return RuleSet.of(rules)


class _Locator:
    """Turns a path inside a file's data into a ``Problem`` at the nearest known position."""

    def __init__(self, file: str, positions: Positions) -> None:
        self.file = file
        self.positions = positions

    def at(self, path: Path_, message: str, offset: tuple[int, int] = (1, 1)) -> Problem:
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                line, col = self.positions[path[:end]]
                break
        else:
            line, col = 1, 1
        if offset[0] > 1:
            line, col = line + offset[0] - 1, offset[1]
        else:
            col += offset[1] - 1
        return Problem(self.file, line, col, message)


def _load_file(
    file: Path, default_timezone: str, problems: list[Problem]
) -> list[tuple[Rule, Any]]:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, 1, 1, f"cannot read file: {exc}"))
        return []
    try:
        data, positions = load_yaml(text, name)
    except RuleError as exc:
        problems.extend(exc.problems)
        return []
    locate = _Locator(name, positions)
    if data is None:
        return []
    try:
        spec = RuleFile.model_validate(data)
    except ValidationError as exc:
        _report(exc, (), locate, problems)
        return []
    loaded: list[tuple[Rule, Any]] = []
    for index, raw in enumerate(spec.rules):
        path: Path_ = ("rules", index)
        before = len(problems)
        try:
            rule_spec = RuleSpec.model_validate(raw)
        except ValidationError as exc:
            # Report the expressions' problems too, so one run shows everything to fix.
            _report(exc, path, locate, problems)
            _check_raw_expressions(raw, path, locate, problems)
            continue
        rule = _compile_rule(rule_spec, raw, path, locate, default_timezone, problems)
        if rule is not None and len(problems) == before:
            id_path: Path_ = (*path, "id")
            loaded.append((rule, lambda msg, p=id_path: locate.at(p, msg)))
    return loaded


def _report(exc: ValidationError, prefix: Path_, locate: _Locator, problems: list[Problem]) -> None:
    for error in exc.errors():
        path = (*prefix, *_clean_loc(error))
        message = _message(error, path)
        if error["type"] == "extra_forbidden":
            path = (*path, KEY)  # point at the unknown key itself, not its value
        problems.append(locate.at(path, message))


def _check_raw_expressions(
    raw: Any, path: Path_, locate: _Locator, problems: list[Problem]
) -> None:
    """Gate-check the expression strings of a rule whose shape is wrong."""
    if not isinstance(raw, dict):
        return
    sources: list[tuple[Path_, Any]] = [((*path, "when"), raw.get("when"))]
    effects = raw.get("then")
    if isinstance(effects, list):
        sources += [
            ((*path, "then", i, "points"), e.get("points"))
            for i, e in enumerate(effects)
            if isinstance(e, dict)
        ]
    on = raw.get("on")
    types = [on] if isinstance(on, str) else on if isinstance(on, list) else []
    fields = _filter_fields([t for t in types if isinstance(t, str)])
    for where, source in sources:
        if isinstance(source, str):
            _compile(source, where, fields, locate, problems)


def _filter_fields(event_types: Collection[str]) -> Collection[str] | None:
    """Filters of interaction rules must name interaction fields; other data is free-form."""
    if event_types and all(t.startswith("interaction.") for t in event_types):
        return INTERACTION_FIELDS
    return None


def _compile_rule(
    spec: RuleSpec,
    raw: dict[str, Any],
    path: Path_,
    locate: _Locator,
    default_timezone: str,
    problems: list[Problem],
) -> Rule | None:
    fields = _filter_fields(spec.event_types)

    def compile_at(source: str, where: Path_) -> Expression | None:
        return _compile(source, where, fields, locate, problems)

    when = compile_at(spec.when, (*path, "when")) if spec.when is not None else None
    points: list[int | Expression] = []
    for index, effect in enumerate(spec.then):
        where = (*path, "then", index, "points")
        if isinstance(effect.points, int):
            if effect.points <= 0:
                problems.append(locate.at(where, "points must be a positive whole number"))
            points.append(effect.points)
        else:
            compiled = compile_at(effect.points, where)
            if compiled is not None:
                points.append(compiled)
    zone_name = spec.timezone or default_timezone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(locate.at((*path, "timezone"), f"unknown time zone '{zone_name}'"))
        return None
    if len(points) != len(spec.then) or (spec.when is not None and when is None):
        return None
    active = spec.active
    return Rule(
        id=spec.id,
        name=spec.name or spec.id,
        on=spec.event_types,
        when=when,
        points=tuple(points),
        limit=spec.limit,
        budget=spec.budget,
        enabled=spec.enabled,
        active_from=active.from_ if active else None,
        active_until=active.until if active else None,
        timezone=zone,
        on_revoke=spec.on_revoke,
        version=hashlib.sha256(canonical_json(raw).encode()).hexdigest()[:12],
        file=locate.file,
    )


def _compile(
    source: str,
    where: Path_,
    fields: Collection[str] | None,
    locate: _Locator,
    problems: list[Problem],
) -> Expression | None:
    """Compile one expression; its problems are added at their place in the file."""
    try:
        expression = compile_expression(source, names=context.NAMES, functions=context.FUNCTIONS)
    except ExpressionError as exc:
        problems.append(locate.at(where, exc.message, (exc.line, exc.col)))
        return None
    found = [
        error
        for node in ast.walk(expression.tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in HISTORY_FUNCTIONS
        for error in check_call(node, fields)
    ]
    for error in found:
        problems.append(locate.at(where, error.message, (error.line, error.col)))
    return None if found else expression


def _clean_loc(error: ErrorDetails) -> Path_:
    # Union branches add their type names ("int", "str", "list[...]") into the location.
    return tuple(p for p in error["loc"] if isinstance(p, int) or not _is_type_tag(p))


def _is_type_tag(part: str) -> bool:
    return (
        "[" in part
        or part in {"str", "int", "list", "constrained-str", "function-after"}
        or (part.startswith(("function-", "constrained-")))
    )


_KNOWN_KEYS = {
    "rule": list(RuleSpec.model_fields),
    "file": ["rules", "achievements", "benefits"],
}


def _message(error: ErrorDetails, loc: Path_) -> str:
    kind = error["type"]
    last = loc[-1] if loc else None
    if kind == "extra_forbidden" and isinstance(last, str):
        choices = _KNOWN_KEYS["file"] if len(loc) == 1 else _KNOWN_KEYS["rule"]
        return f"unknown key '{last}'{did_you_mean(last, choices)}"
    if kind == "missing":
        return f"missing required key '{last}'"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and last == "id":
        return "rule id must match [a-z0-9][a-z0-9_-]* (lowercase letters, digits, '-' and '_')"
    if kind == "string_pattern_mismatch" and "on" in loc:
        return f"'{error['input']}' is not an event type (like interaction.created)"
    return f"{last}: {message}" if isinstance(last, str) else message
