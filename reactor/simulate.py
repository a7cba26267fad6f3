"""``reactor simulate``: replay envelopes through a rule set in a throwaway database (I5).

What it reports is what production would have done with the same events, in file order: per
rule, how often it fired, the points, members, benefits and levels it gave; per member, the
final state. ``--compare`` replays the same events against a second rule set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from reactor.decisions import REVERSAL
from reactor.effects import Issue
from reactor.errors import InputError
from reactor.processor import Processed
from reactor.rules import RuleSet
from reactor.sandbox import Sandbox
from reactor.strictjson import parse_json


@dataclass
class RuleTally:
    """What one rule did over the whole replay."""

    fired: int = 0
    points: int = 0
    members: set[str] = field(default_factory=set)
    benefits: int = 0
    levels: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "fired": self.fired,
            "points": self.points,
            "members": len(self.members),
            "benefits": self.benefits,
            "levels": self.levels,
        }


@dataclass
class Simulation:
    """The outcome of one replay."""

    events: int = 0
    duplicates: int = 0
    reversals: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    rules: dict[str, RuleTally] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The shape of spec §6, plus duplicates, reversals and rejected lines."""
        return {
            "events": self.events,
            "duplicates": self.duplicates,
            "reversals": self.reversals,
            "rejected": [{"line": n, "error": e} for n, e in self.rejected],
            "rules": {rule_id: t.as_dict() for rule_id, t in sorted(self.rules.items())},
            "members": {
                member_id: {
                    "points": state["points"],
                    "achievements": state["achievements"],
                    "benefits": state["benefits"],
                }
                for member_id, state in sorted(self.members.items())
            },
        }

    @property
    def points(self) -> int:
        return sum(state["points"] for state in self.members.values())


def simulate(
    rules: RuleSet, lines: Iterable[bytes], progress: Callable[[int], None] | None = None
) -> Simulation:
    """Replay JSON-lines envelopes in order; bad lines are reported, not fatal."""
    result = Simulation(rules={rule.id: RuleTally() for rule in rules.rules})
    sandbox = Sandbox(rules)
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                fed = sandbox.feed(parse_json(line.strip()))
            except InputError as exc:
                result.rejected.append((number, exc.message))
                continue
            result.events += 1
            if progress is not None:
                progress(result.events)
            if fed.processed is None:
                result.duplicates += 1
                continue
            _tally(result, fed.processed)
        result.members = {m: sandbox.member(m) for m in sandbox.member_ids()}
    finally:
        sandbox.close()
    return result


def _tally(result: Simulation, processed: Processed) -> None:
    member_id = processed.member_id or ""
    for decision in processed.decisions:
        if decision.rule_id == REVERSAL:
            result.reversals += decision.outcome == "fired"
            continue
        if decision.outcome != "fired":
            continue
        tally = result.rules.setdefault(decision.rule_id, RuleTally())
        tally.fired += 1
        tally.points += decision.points
        tally.members.add(member_id)
        tally.benefits += sum(isinstance(grant, Issue) for grant in decision.grants)
        tally.levels += len(processed.levels.get(decision.rule_id, ()))


def render(result: Simulation, elapsed: float) -> list[str]:
    """A table a loyalty analyst reads: one line per rule, then totals."""
    rate = result.events / elapsed if elapsed > 0 else 0.0
    lines = [
        f"simulated {result.events:,} events ({result.duplicates:,} duplicates, "
        f"{len(result.rejected):,} rejected lines, {result.reversals:,} reversals) "
        f"in {elapsed:.1f}s ({rate:,.0f} events/s)",
        "",
        f"{'rule':32} {'fired':>8} {'points':>10} {'members':>8} {'benefits':>9} {'levels':>7}",
    ]
    for rule_id, t in sorted(result.rules.items()):
        lines.append(
            f"{rule_id:32} {t.fired:>8,} {t.points:>10,} {len(t.members):>8,} "
            f"{t.benefits:>9,} {t.levels:>7,}"
        )
    lines += ["", f"{len(result.members):,} members hold {result.points:,} points in total"]
    lines += [f"line {n}: {error}" for n, error in result.rejected[:20]]
    if len(result.rejected) > 20:
        lines.append(f"... and {len(result.rejected) - 20:,} more rejected lines")
    return lines


def render_comparison(before: Simulation, after: Simulation) -> list[str]:
    """What changing the rule set would do to the same events: cost and grants per rule."""
    lines = [
        f"{'rule':32} {'fired':>15} {'points':>21} {'members':>15}",
    ]
    for rule_id in sorted(set(before.rules) | set(after.rules)):
        a, b = before.rules.get(rule_id, RuleTally()), after.rules.get(rule_id, RuleTally())
        if (a.fired, a.points) == (b.fired, b.points) == (0, 0):
            continue
        lines.append(
            f"{rule_id:32} {_change(a.fired, b.fired):>15} {_change(a.points, b.points):>21} "
            f"{_change(len(a.members), len(b.members)):>15}"
        )
    changed = sum(
        1
        for member_id in set(before.members) | set(after.members)
        if before.members.get(member_id) != after.members.get(member_id)
    )
    lines += [
        "",
        f"total points: {_change(before.points, after.points)}",
        f"members whose rewards change: {changed:,} of {len(after.members):,}",
    ]
    return lines


def _change(old: int, new: int) -> str:
    delta = new - old
    return f"{old:,} → {new:,}" + (f" ({delta:+,})" if delta else "")
