"""``reactor rules test``: run ``*.test.yaml`` cases through the production pipeline (I5).

Each case replays its events in a fresh replay (the CLI passes ``reactor.sandbox.Sandbox``:
the production inbox and processor on an in-memory database) and compares the members' state
(and, optionally, particular decisions) with what the case expects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StrictInt, ValidationError

from reactor.errors import InputError, Problem, RuleError
from reactor.rules._compiled import RuleSet
from reactor.rules._yaml import load_yaml
from reactor.shapes import Strict


class Replay(Protocol):
    """What a case needs of a replay: feed it envelopes, then read members and decisions."""

    def feed(self, document: dict[str, Any]) -> object:
        """Store and process one envelope; raises InputError for a bad one."""

    def member_ids(self) -> list[str]:
        """Every member an event named."""

    def member(self, member_id: str) -> dict[str, Any]:
        """A member's points, achievements, levels and active benefits."""

    def decisions(self, event_id: str) -> list[dict[str, Any]]:
        """An event's decision record."""

    def close(self) -> None:
        """Throw the replay away."""


class CaseEvent(Strict):
    """One event of a case; unset fields come from the file's ``defaults``."""

    id: str | None = None
    type: str | None = None
    member: str | None = None
    at: str | None = None
    interaction: str | None = None
    data: dict[str, Any] = {}


class MemberExpectation(Strict):
    points: StrictInt | None = None
    achievements: dict[str, StrictInt] | None = None
    levels: dict[str, str] | None = None
    benefits: list[str] | None = None


class DecisionExpectation(Strict):
    event: StrictInt | str
    rule: str
    outcome: Literal["fired", "skipped", "error"] | None = None
    reason: str | None = None


class Expectation(Strict):
    members: dict[str, MemberExpectation] = {}
    decisions: list[DecisionExpectation] = []


class Case(Strict):
    name: str
    events: list[CaseEvent] = Field(min_length=1)
    expect: Expectation


class Defaults(Strict):
    type: str = "interaction.created"
    timezone: str = "UTC"
    data: dict[str, Any] = {}


class RuleTestFile(Strict):
    defaults: Defaults = Defaults()
    cases: list[Case] = Field(min_length=1)


@dataclass
class CaseResult:
    """One case's verdict, with what differed when it failed."""

    file: str
    name: str
    differences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences


@dataclass
class Report:
    """Everything a run found: case results, broken test files, rules no case fired."""

    results: list[CaseResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    fired: set[str] = field(default_factory=set)
    unexercised: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.passed for r in self.results)


def find_test_files(path: Path) -> list[Path]:
    """The rule test files under ``path`` (or ``path`` itself), in stable order."""
    if path.is_file():
        return [path]
    return sorted([*path.rglob("*.test.yaml"), *path.rglob("*.test.yml")])


def run_rule_tests(
    rules: RuleSet,
    files: Iterable[Path],
    on_result: Callable[[CaseResult], None],
    replay: Callable[[RuleSet], Replay],
) -> Report:
    """Run every case of every file, each in a new ``replay(rules)``; ``on_result`` sees each
    verdict as it comes."""
    report = Report()
    for file in files:
        loaded = _load(file, report.problems)
        if loaded is None:
            continue
        for number, case in enumerate(loaded.cases, start=1):
            result = _run_case(
                replay(rules), str(file), loaded.defaults, number, case, report.fired
            )
            report.results.append(result)
            on_result(result)
    report.unexercised = [r.id for r in rules.rules if r.enabled and r.id not in report.fired]
    return report


def _load(file: Path, problems: list[Problem]) -> RuleTestFile | None:
    name = str(file)
    try:
        data, positions = load_yaml(file.read_text(encoding="utf-8"), name)
        return RuleTestFile.model_validate(data)
    except RuleError as exc:
        problems.extend(exc.problems)
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(name, 1, 1, f"cannot read file: {exc}"))
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            while loc and loc not in positions:
                loc = loc[:-1]
            line, col = positions.get(loc, (1, 1))
            where = ".".join(str(p) for p in error["loc"])
            problems.append(Problem(name, line, col, f"{where}: {error['msg']}"))
    return None


def _run_case(
    sandbox: Replay, file: str, defaults: Defaults, number: int, case: Case, fired: set[str]
) -> CaseResult:
    result = CaseResult(file, case.name)
    try:
        ids: list[str] = []
        for n, event in enumerate(case.events, start=1):
            try:
                document = envelope(defaults, event, f"{number}-{n}")
                ids.append(document["id"])
                sandbox.feed(document)
            except (InputError, ValueError) as exc:
                result.differences.append(f"event {n}: {exc}")
                return result
        for event_id in ids:
            fired.update(
                d["rule_id"] for d in sandbox.decisions(event_id) if d["outcome"] == "fired"
            )
        result.differences += _compare_members(sandbox, case.expect.members)
        result.differences += _compare_decisions(sandbox, ids, case.expect.decisions)
    finally:
        sandbox.close()
    return result


def envelope(defaults: Defaults, event: CaseEvent, default_id: str) -> dict[str, Any]:
    """The webhook envelope a test event stands for."""
    event_type = event.type or defaults.type
    data: dict[str, Any] = {**defaults.data, **event.data}
    if event.member is not None:
        data["profile_id"] = event.member
    document: dict[str, Any] = {"id": event.id or default_id, "type": event_type, "data": data}
    interaction = event_type.startswith("interaction.")
    if interaction:
        data["id"] = event.interaction or data.get("id") or document["id"]
    if event.at is not None:
        moment = _moment(event.at, defaults.timezone)
        if interaction:
            data["interacted_at"] = moment
        else:
            document["created_at"] = moment
    return document


def _moment(text: str, zone: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a time like 2026-11-03 10:00") from exc
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{zone}'") from exc
    return moment.isoformat()


def _compare_members(sandbox: Replay, expected: dict[str, MemberExpectation]) -> list[str]:
    differences = []
    known = set(sandbox.member_ids())
    for member_id, want in expected.items():
        if member_id not in known:
            differences.append(f"{member_id}: no such member (no event named it)")
            continue
        got = sandbox.member(member_id)
        for key in ("points", "achievements", "levels", "benefits"):
            wanted = getattr(want, key)
            if wanted is None:
                continue
            actual = got[key]
            if key == "benefits":
                wanted, actual = sorted(wanted), sorted(actual)
            elif isinstance(wanted, dict):
                # Only the achievements a case names are checked (a missing one is None).
                actual = {name: actual.get(name) for name in wanted}
            if wanted != actual:
                differences.append(f"{member_id}.{key}: expected {wanted!r}, got {actual!r}")
    return differences


def _compare_decisions(
    sandbox: Replay, ids: list[str], expected: list[DecisionExpectation]
) -> list[str]:
    differences = []
    for want in expected:
        event_id = _event_id(want.event, ids)
        if event_id is None:
            differences.append(f"decision for event {want.event!r}: no such event in this case")
            continue
        found = next((d for d in sandbox.decisions(event_id) if d["rule_id"] == want.rule), None)
        label = f"event {want.event} rule {want.rule}"
        if found is None:
            differences.append(f"{label}: expected a decision, but the rule was not triggered")
            continue
        if want.outcome is not None and found["outcome"] != want.outcome:
            differences.append(f"{label}: expected {want.outcome}, got {_describe(found)}")
        elif want.reason is not None and found["reason"] != want.reason:
            differences.append(f"{label}: expected reason {want.reason}, got {_describe(found)}")
    return differences


def _event_id(reference: int | str, ids: list[str]) -> str | None:
    if isinstance(reference, int):
        return ids[reference - 1] if 1 <= reference <= len(ids) else None
    return reference if reference in ids else None


def _describe(decision: dict[str, Any]) -> str:
    reason = f" ({decision['reason']})" if decision["reason"] else ""
    return f"{decision['outcome']}{reason}"


def render_rule_tests(report: Report, elapsed: float) -> list[str]:
    """The closing lines: broken files, failures with their differences, the summary."""
    lines = [str(p) for p in report.problems]
    failures = [r for r in report.results if not r.passed]
    for result in failures:
        lines.append(f"___ {result.file}::{result.name} ___")
        lines += [f"    {d}" for d in result.differences]
    if report.unexercised:
        lines.append(f"rules no case fired: {', '.join(report.unexercised)}")
    passed = len(report.results) - len(failures)
    summary = f"{passed} passed, {len(failures)} failed"
    if report.problems:
        summary += f", {len(report.problems)} error(s) in test files"
    lines.append(f"{summary} in {elapsed:.2f}s")
    return lines
