"""Loading rule files into one validated, compiled, versioned and indexed rule set."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from reactor.effects import BY_KEY, EffectSpec
from reactor.envelope import INTERACTION_FIELDS
from reactor.errors import ExpressionError, Problem, RuleError, did_you_mean
from reactor.expressions import FUNCTIONS, NAMES, Expression, compile_expression
from reactor.periods import parse_duration
from reactor.rules._compiled import Achievement, Benefit, Level, Rule, RuleSet
from reactor.rules._history_checks import check_history_calls, exact_thresholds
from reactor.rules._models import AchievementSpec, BenefitSpec, RuleFile, RuleSpec
from reactor.rules._yaml import KEY, TEXT, load_yaml
from reactor.shapes import RULE_ID_PATTERN
from reactor.strictjson import canonical_json

Path_ = tuple[str | int, ...]
Positions = Mapping[Path_, tuple[int, int]]


@dataclass
class _Loaded:
    """What the files held, each item with a way to report a problem at its id."""

    rules: list[tuple[Rule, Any]] = field(default_factory=list)
    achievements: list[tuple[Achievement, Any]] = field(default_factory=list)
    benefits: list[tuple[Benefit, Any]] = field(default_factory=list)
    # (kind, id, where) for every achievement or benefit an effect or level names.
    references: list[tuple[str, str, Any]] = field(default_factory=list)
    # What loads but may not do what its author means (see RuleSet.warnings).
    warnings: list[Problem] = field(default_factory=list)


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
    loaded = _Loaded()
    for file in rule_files(path):
        _load_file(file, default_timezone, problems, loaded)
    rules = _unique("rule", loaded.rules, problems)
    achievements = _unique("achievement", loaded.achievements, problems)
    benefits = _unique("benefit", loaded.benefits, problems)
    known = {"achievement": {a.id for a in achievements}, "benefit": {b.id for b in benefits}}
    for kind, name, where in loaded.references:
        if name not in known[kind]:
            hint = did_you_mean(name, known[kind])
            problems.append(where(f"no {kind} '{name}' is defined{hint}"))
    if problems:
        # Like a compiler: file by file, top to bottom.
        raise RuleError(sorted(problems, key=lambda p: (p.file, p.line, p.col)))
    warnings = sorted(loaded.warnings, key=lambda p: (p.file, p.line, p.col))
    return RuleSet.of(rules, achievements, benefits, ZoneInfo(default_timezone), warnings)


def _unique(kind: str, items: list[tuple[Any, Any]], problems: list[Problem]) -> list[Any]:
    """Ids are unique across files; a second definition is a problem at its id."""
    seen: dict[str, str] = {}
    unique = []
    for item, where in items:
        if item.id in seen:
            problems.append(
                where(f"duplicate {kind} id '{item.id}' (first defined in {seen[item.id]})")
            )
            continue
        seen[item.id] = where.file
        unique.append(item)
    return unique


class _Locator:
    """Turns a path inside a file's data into a ``Problem`` at the nearest known position."""

    def __init__(self, file: str, positions: Positions) -> None:
        self.file = file
        self.positions = positions

    def at(self, path: Path_, message: str, offset: tuple[int, int] | None = None) -> Problem:
        """A problem at ``path``, or at ``offset`` (1-based line, col) inside its text."""
        if offset is None:
            offset = (1, 1)
        elif (*path, TEXT) in self.positions:
            path = (*path, TEXT)
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


class _At:
    """Reports problems at one place of one file (an item's id, an effect's key)."""

    def __init__(self, locate: _Locator, path: Path_) -> None:
        self.file = locate.file
        self._locate = locate
        self._path = path

    def __call__(self, message: str) -> Problem:
        return self._locate.at(self._path, message)


def _load_file(file: Path, default_timezone: str, problems: list[Problem], loaded: _Loaded) -> None:
    name = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, 1, 1, f"cannot read file: {exc}"))
        return
    try:
        data, positions = load_yaml(text, name)
    except RuleError as exc:
        problems.extend(exc.problems)
        return
    locate = _Locator(name, positions)
    if data is None:
        return
    try:
        spec = RuleFile.model_validate(data)
    except ValidationError as exc:
        _report(exc, (), locate, problems)
        return
    for index, raw in enumerate(spec.benefits):
        path: Path_ = ("benefits", index)
        benefit = _validated(BenefitSpec, raw, path, locate, problems)
        if benefit is not None:
            loaded.benefits.append((_benefit(benefit, raw), _At(locate, (*path, "id"))))
    for index, raw in enumerate(spec.achievements):
        path = ("achievements", index)
        achievement = _validated(AchievementSpec, raw, path, locate, problems)
        if achievement is not None:
            loaded.achievements.append((_achievement(achievement, raw), _At(locate, (*path, "id"))))
            for n, level in enumerate(achievement.levels):
                for j, reward in enumerate(level.then):
                    if reward.benefit is not None:
                        where = _At(locate, (*path, "levels", n, "then", j, "benefit"))
                        loaded.references.append(("benefit", reward.benefit, where))
    for index, raw in enumerate(spec.rules):
        path = ("rules", index)
        before = len(problems)
        rule_spec = _validated(RuleSpec, raw, path, locate, problems)
        if rule_spec is None:
            # Report the expressions' problems too, so one run shows everything to fix.
            _check_raw_expressions(raw, path, locate, problems)
            continue
        rule = _compile_rule(rule_spec, raw, path, locate, default_timezone, problems, loaded)
        if rule is not None and len(problems) == before:
            loaded.rules.append((rule, _At(locate, (*path, "id"))))


def _validated(model: Any, raw: Any, path: Path_, locate: _Locator, problems: list[Problem]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        _report(exc, path, locate, problems)
        return None


def _version(raw: Any) -> str:
    return hashlib.sha256(canonical_json(raw).encode()).hexdigest()[:12]


def _benefit(spec: BenefitSpec, raw: Any) -> Benefit:
    expires = parse_duration(spec.expires_after) if spec.expires_after else None
    return Benefit(spec.id, spec.name or spec.id, expires, _version(raw))


def _achievement(spec: AchievementSpec, raw: Any) -> Achievement:
    levels = tuple(
        Level(
            at=level.at,
            name=level.name or f"Level {n}",
            points=tuple(r.points for r in level.then if isinstance(r.points, int)),
            benefits=tuple(r.benefit for r in level.then if r.benefit is not None),
        )
        for n, level in enumerate(spec.levels, start=1)
    )
    return Achievement(spec.id, spec.name or spec.id, levels, spec.per, _version(raw))


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
        for i, effect in enumerate(effects):
            if not isinstance(effect, dict):
                continue
            for key, kind in BY_KEY.items():
                for where, source in kind.expression_sources(effect.get(key)):
                    sources.append(((*path, "then", i, key, *where), source))
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
    loaded: _Loaded,
) -> Rule | None:
    fields = _filter_fields(spec.event_types)
    when = (
        _compile(spec.when, (*path, "when"), fields, locate, problems)
        if spec.when is not None
        else None
    )
    if when is not None and spec.limit is None:
        for warning in exact_thresholds(when):
            offset = (warning.line, warning.col)
            loaded.warnings.append(locate.at((*path, "when"), warning.message, offset))
    effects: list[EffectSpec] = []
    for index, effect in enumerate(spec.then):
        for key, kind in BY_KEY.items():
            value = getattr(effect, key)
            if value is not None:
                at = _EffectSite(locate, (*path, "then", index, key), fields, problems, loaded)
                compiled = kind.compile(value, at)
                if compiled is not None:
                    effects.append(compiled)
    zone_name = spec.timezone or default_timezone
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(locate.at((*path, "timezone"), f"unknown time zone '{zone_name}'"))
        return None
    if len(effects) != len(spec.then) or (spec.when is not None and when is None):
        return None
    active = spec.active
    return Rule(
        id=spec.id,
        name=spec.name or spec.id,
        on=spec.event_types,
        when=when,
        effects=tuple(effects),
        limit=spec.limit,
        budget=spec.budget,
        enabled=spec.enabled,
        active_from=active.from_ if active else None,
        active_until=active.until if active else None,
        timezone=zone,
        on_revoke=spec.on_revoke,
        version=_version(raw),
        file=locate.file,
    )


class _EffectSite:
    """What the loader offers an effect kind compiling its entry at ``path`` (``Compiling``)."""

    def __init__(
        self,
        locate: _Locator,
        path: Path_,
        fields: Collection[str] | None,
        problems: list[Problem],
        loaded: _Loaded,
    ) -> None:
        self._locate, self._path, self._fields = locate, path, fields
        self._problems, self._loaded = problems, loaded

    def expression(self, source: str, *path: str | int) -> Expression | None:
        return _compile(source, (*self._path, *path), self._fields, self._locate, self._problems)

    def refer(self, catalog: str, name: str, *path: str | int) -> None:
        where = _At(self._locate, (*self._path, *path))
        self._loaded.references.append((catalog, name, where))

    def problem(self, message: str, *path: str | int) -> None:
        self._problems.append(self._locate.at((*self._path, *path), message))


def _compile(
    source: str,
    where: Path_,
    fields: Collection[str] | None,
    locate: _Locator,
    problems: list[Problem],
) -> Expression | None:
    """Compile one expression; its problems are added at their place in the file."""
    try:
        expression = compile_expression(source, names=NAMES, functions=FUNCTIONS)
    except ExpressionError as exc:
        problems.append(locate.at(where, exc.message, (exc.line, exc.col)))
        return None
    found = check_history_calls(expression, fields)
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
    "rules": list(RuleSpec.model_fields),
    "achievements": list(AchievementSpec.model_fields),
    "benefits": list(BenefitSpec.model_fields),
    "file": ["rules", "achievements", "benefits"],
}


def _message(error: ErrorDetails, loc: Path_) -> str:
    kind = error["type"]
    last = loc[-1] if loc else None
    if kind == "extra_forbidden" and isinstance(last, str):
        section = str(loc[0]) if len(loc) > 2 else "file"
        choices = _KNOWN_KEYS.get(section, [])
        return f"unknown key '{last}'{did_you_mean(last, choices)}"
    if kind == "missing":
        return f"missing required key '{last}'"
    message = error["msg"].removeprefix("Value error, ")
    if kind == "string_pattern_mismatch" and last == "id":
        pattern = RULE_ID_PATTERN.strip("^$")
        return f"rule id must match {pattern} (lowercase letters, digits, '-' and '_')"
    if kind == "string_pattern_mismatch" and "on" in loc:
        return f"'{error['input']}' is not an event type (like interaction.created)"
    return f"{last}: {message}" if isinstance(last, str) else message
