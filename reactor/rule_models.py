"""The shape of a rule file (spec §3) as pydantic models; compiling happens in ``ruleset``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=100)]
EventTypeName = Annotated[
    str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$", max_length=100)
]

#: Keys of the spec that this version of Reactor does not act on yet. Accepting them silently
#: would let a team believe a limit or budget protects them when it does not.
NOT_YET_SUPPORTED = {
    "achievement": "achievement effects",
    "benefit": "benefit effects",
    "achievements": "achievements",
    "benefits": "benefits",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _refuse_unsupported(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if key in NOT_YET_SUPPORTED:
                raise ValueError(
                    f"'{key}' ({NOT_YET_SUPPORTED[key]}) is not supported by this version "
                    "of Reactor yet"
                )
    return value


class PointsEffect(Strict):
    """``- points: 50`` or ``- points: "duration // 60"``."""

    points: StrictInt | str

    @model_validator(mode="before")
    @classmethod
    def _only_points(cls, value: Any) -> Any:
        return _refuse_unsupported(value)


class Active(Strict):
    """The event-time window in which a rule applies: ``from`` inclusive, ``until`` exclusive."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: datetime | None = Field(default=None, alias="from")
    until: datetime | None = None

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
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    on: EventTypeName | Annotated[list[EventTypeName], Field(min_length=1)]
    when: Annotated[str, StringConstraints(min_length=1)] | None = None
    then: Annotated[list[PointsEffect], Field(min_length=1)]
    limit: Cap | None = None
    budget: Cap | None = None
    enabled: bool = True
    active: Active | None = None
    timezone: str | None = None
    on_revoke: Literal["clawback", "keep"] = "clawback"

    @model_validator(mode="before")
    @classmethod
    def _no_unsupported_keys(cls, value: Any) -> Any:
        return _refuse_unsupported(value)

    @property
    def event_types(self) -> tuple[str, ...]:
        return (self.on,) if isinstance(self.on, str) else tuple(self.on)


class RuleFile(Strict):
    """A whole rule file: its top-level keys."""

    # Each rule is validated on its own (RuleSpec), so one broken rule hides no other problem.
    rules: list[dict[str, Any]] = []

    @model_validator(mode="before")
    @classmethod
    def _no_unsupported_keys(cls, value: Any) -> Any:
        return _refuse_unsupported(value)
