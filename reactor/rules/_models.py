"""The shape of a rule file (spec §3) as pydantic models; compiling happens in ``_loader``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import (
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    create_model,
    field_validator,
    model_validator,
)

from reactor.effects import KINDS, AchievementStep
from reactor.periods import DURATION_PATTERN
from reactor.shapes import EventType, RuleId, Strict

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _exactly_one(model: BaseModel, keys: Sequence[str]) -> None:
    given = [key for key in keys if getattr(model, key, None) is not None]
    if len(given) != 1:
        listed = f"{', '.join(keys[:-1])} or {keys[-1]}"
        raise ValueError(f"an effect is exactly one of {listed}")


def _effect_model() -> type[Strict]:
    """``Effect``: one entry of a rule's ``then``, exactly one key of an effect kind."""
    keys = [kind.key for kind in KINDS]

    def exactly_one(self: Strict) -> Strict:
        _exactly_one(self, keys)
        return self

    fields: dict[str, Any] = {kind.key: (kind.value_type | None, None) for kind in KINDS}
    return create_model(
        "Effect",
        __base__=Strict,
        __doc__=f"One effect of ``then``: exactly one of {', '.join(keys)}.",
        __module__=__name__,
        __validators__={"_exactly_one": cast(Any, model_validator(mode="after")(exactly_one))},
        **fields,
    )


# Built from the effect kinds, so a new kind needs no change here; to type checkers it is the
# strict base it derives from.
if TYPE_CHECKING:
    Effect = Strict
else:
    Effect = _effect_model()


class LevelReward(Strict):
    """A level's reward: points or a benefit (levels do not progress achievements)."""

    points: StrictInt | str | None = None
    achievement: RuleId | AchievementStep | None = None
    benefit: RuleId | None = None

    @model_validator(mode="after")
    def _points_or_benefit(self) -> LevelReward:
        _exactly_one(self, ("points", "achievement", "benefit"))
        if self.achievement is not None:
            raise ValueError("a level's rewards are points or benefits, not achievements")
        if isinstance(self.points, str):
            raise ValueError("a level's points are a whole number, not an expression")
        if self.points is not None and self.points <= 0:
            raise ValueError("a level's points must be a positive whole number")
        return self


class Level(Strict):
    """``{at: 5, name: Bronze, then: [...]}``: reached when progress gets to ``at``."""

    at: Annotated[StrictInt, Field(gt=0)]
    name: Name | None = None
    then: list[LevelReward] = []


class AchievementSpec(Strict):
    """A badge or a levelled achievement; ``per`` makes it a recurring challenge."""

    id: RuleId
    name: Name | None = None
    levels: Annotated[list[Level], Field(min_length=1)] = [Level(at=1)]
    per: Literal["day", "week", "month", "year"] | None = None

    @model_validator(mode="after")
    def _levels_in_order(self) -> AchievementSpec:
        ats = [level.at for level in self.levels]
        if ats != sorted(set(ats)):
            raise ValueError("levels must be in increasing order of 'at'")
        return self


class BenefitSpec(Strict):
    """A benefit in the catalog: issued by rules and levels, optionally expiring."""

    id: RuleId
    name: Name | None = None
    expires_after: Duration | None = None


class Active(Strict):
    """The event-time window in which a rule applies: ``from`` inclusive, ``until`` exclusive."""

    from_: datetime | None = Field(default=None, alias="from")
    until: datetime | None = None

    @field_validator("from_", "until", mode="before")
    @classmethod
    def _written_as_times(cls, value: Any) -> Any:
        # pydantic would read a bare number as a Unix timestamp; a rule author means a time.
        if value is not None and not isinstance(value, str):
            raise ValueError("write a time like 2026-12-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _ordered_and_aware(self) -> Active:
        for moment in (self.from_, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("active times need an offset, e.g. 2026-12-01T00:00:00Z")
        if self.from_ and self.until and self.until <= self.from_:
            raise ValueError("active 'until' must be after 'from'")
        return self


class Cap(Strict):
    """A ``limit`` (per member) or ``budget`` (all members): a count and/or points per period."""

    count: Annotated[StrictInt, Field(gt=0)] | None = None
    points: Annotated[StrictInt, Field(gt=0)] | None = None
    per: Literal["day", "week", "month", "year", "lifetime"] = "lifetime"

    @model_validator(mode="after")
    def _caps_something(self) -> Cap:
        if self.count is None and self.points is None:
            raise ValueError("give a count, points, or both")
        return self


class RuleSpec(Strict):
    """One rule as written in YAML."""

    id: RuleId
    name: Name | None = None
    on: EventType | Annotated[list[EventType], Field(min_length=1)]
    when: Annotated[str, StringConstraints(min_length=1)] | None = None
    then: Annotated[list[Effect], Field(min_length=1)]
    limit: Cap | None = None
    budget: Cap | None = None
    enabled: StrictBool = True
    active: Active | None = None
    timezone: str | None = None
    on_revoke: Literal["clawback", "keep"] = "clawback"

    @property
    def event_types(self) -> tuple[str, ...]:
        return (self.on,) if isinstance(self.on, str) else tuple(self.on)


class RuleFile(Strict):
    """A whole rule file: its top-level keys."""

    # Each entry is validated on its own, so one broken rule hides no other problem.
    rules: list[dict[str, Any]] = []
    achievements: list[dict[str, Any]] = []
    benefits: list[dict[str, Any]] = []
