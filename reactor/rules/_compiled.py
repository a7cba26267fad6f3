"""A compiled rule set: rules with their effects, the achievement and benefit catalogs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from reactor.effects import EffectSpec, Progress
from reactor.errors import Problem
from reactor.expressions import Expression
from reactor.rules._models import Cap

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class Rule:
    """A loaded rule: its expressions compiled, its version the hash of its content (I8)."""

    id: str
    name: str
    on: tuple[str, ...]
    when: Expression | None
    effects: tuple[EffectSpec, ...]
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

    @property
    def reads_member(self) -> bool:
        """Whether an expression of this rule uses ``member`` (its balance or achievements)."""
        expressions = [self.when] if self.when is not None else []
        for effect in self.effects:
            expressions += effect.expressions()
        return any("member" in e.names_used for e in expressions)


@dataclass(frozen=True)
class Level:
    """A level of an achievement and what reaching it gives."""

    at: int
    name: str
    points: tuple[int, ...]
    benefits: tuple[str, ...]


@dataclass(frozen=True)
class Achievement:
    """A badge (one level at 1) or levels; ``per`` restarts progress each calendar period."""

    id: str
    name: str
    levels: tuple[Level, ...]
    per: str | None
    version: str
    #: The zone its periods follow: that of the (first, by id) rule progressing it.
    timezone: ZoneInfo = UTC_ZONE

    @property
    def period(self) -> str:
        return self.per or "lifetime"

    def levels_reached(self, progress: int) -> int:
        """How many levels ``progress`` has reached (levels are in increasing order)."""
        return sum(1 for level in self.levels if progress >= level.at)

    def next_level_at(self, progress: int) -> int | None:
        return next((level.at for level in self.levels if progress < level.at), None)


@dataclass(frozen=True)
class Benefit:
    """A benefit in the catalog."""

    id: str
    name: str
    expires_after: timedelta | None
    version: str


@dataclass(frozen=True)
class RuleSet:
    """Every rule Reactor runs, indexed by event type so other types' rules cost nothing."""

    rules: tuple[Rule, ...]
    achievements: dict[str, Achievement]
    benefits: dict[str, Benefit]
    timezone: ZoneInfo
    version: str
    _by_type: dict[str, tuple[Rule, ...]] = field(repr=False, compare=False)
    _by_id: dict[str, Rule] = field(repr=False, compare=False)
    _reads_member: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    #: What loads but may not do what its author means, at file:line:col (``rules check``).
    warnings: tuple[Problem, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(
        cls,
        rules: Iterable[Rule],
        achievements: Iterable[Achievement] = (),
        benefits: Iterable[Benefit] = (),
        timezone: ZoneInfo | None = None,
        warnings: Iterable[Problem] = (),
    ) -> RuleSet:
        ordered = tuple(sorted(rules, key=lambda r: r.id))
        by_type: dict[str, list[Rule]] = {}
        for rule in ordered:
            if rule.enabled:
                for event_type in rule.on:
                    by_type.setdefault(event_type, []).append(rule)
        zone = timezone or UTC_ZONE
        zones: dict[str, ZoneInfo] = {}
        for rule in ordered:
            for effect in rule.effects:
                if isinstance(effect, Progress):
                    zones.setdefault(effect.achievement, rule.timezone)
        # One zone per achievement, so its steps, the member API and member.achievements all
        # agree on which month a recurring challenge is in.
        catalog = {
            a.id: replace(a, timezone=zones.get(a.id, zone))
            for a in sorted(achievements, key=lambda a: a.id)
        }
        offers = {b.id: b for b in sorted(benefits, key=lambda b: b.id)}
        parts = [f"{r.id}@{r.version}" for r in ordered]
        parts += [f"achievement:{a.id}@{a.version}" for a in catalog.values()]
        parts += [f"benefit:{b.id}@{b.version}" for b in offers.values()]
        version = hashlib.sha256(" ".join(parts).encode()).hexdigest()[:16]
        return cls(
            ordered,
            catalog,
            offers,
            zone,
            version,
            {k: tuple(v) for k, v in by_type.items()},
            {r.id: r for r in ordered},
            warnings=tuple(warnings),
        )

    def for_event(self, event_type: str) -> tuple[Rule, ...]:
        return self._by_type.get(event_type, ())

    @cached_property
    def periods(self) -> dict[str, tuple[str, ZoneInfo]]:
        """Each achievement's period ("lifetime" or its ``per``) and zone."""
        return {a.id: (a.period, a.timezone) for a in self.achievements.values()}

    def reads_member(self, event_type: str) -> bool:
        """Whether any rule this type triggers reads ``member``: else it need not be loaded."""
        readers = self._reads_member
        if event_type not in readers:
            readers[event_type] = any(rule.reads_member for rule in self.for_event(event_type))
        return readers[event_type]

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)
