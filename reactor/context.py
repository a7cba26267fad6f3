"""What an expression can see: the names of spec §4, built as frozen data for one event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reactor.envelope import INTERACTION_FIELDS
from reactor.expressions import HELPER_IMPLS, HELPERS, FunctionSpec, Record, freeze
from reactor.history_checks import HISTORY_FUNCTIONS
from reactor.periods import period_key
from reactor.records import pick

TIME_NAMES = ("hour", "weekday", "day", "month", "year")

#: Every name a rule expression may use; anything else is refused when the rule loads.
NAMES: frozenset[str] = frozenset(
    (*INTERACTION_FIELDS, "type", "data", "event", "member", "occurred_at", *TIME_NAMES)
)

#: The functions a rule expression may call, with their argument rules.
FUNCTIONS: Mapping[str, FunctionSpec] = {**HELPERS, **HISTORY_FUNCTIONS}
#: The plain helpers; history functions are bound per event (see ``reactor.history.History``).
IMPLEMENTATIONS: Mapping[str, Callable[..., Any]] = dict(HELPER_IMPLS)


@dataclass(frozen=True)
class EventFacts:
    """The stored event as the engine needs it."""

    id: str
    type: str
    member_id: str
    data: Mapping[str, Any]
    created_at: str | None
    occurred_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class MemberFacts:
    """The member as it stood before this event: balance, and achievement progress by period
    (``{"monthly-distance": {"2026-11": 6000}}``)."""

    id: str
    points: int
    achievements: Mapping[str, Mapping[str, int]]


def event_names(event: EventFacts) -> dict[str, Any]:
    """The time-zone independent names for one event, frozen so no expression can change them."""
    data = freeze(dict(event.data))
    names = pick(data, INTERACTION_FIELDS)
    names["type"] = event.type
    names["data"] = data
    names["event"] = Record(
        {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at,
            "occurred_at": event.occurred_at.isoformat(),
            "received_at": event.received_at.isoformat(),
            "data": data,
        }
    )
    return names


def member_names(
    member: MemberFacts, periods: Mapping[str, tuple[str, ZoneInfo]], moment: datetime
) -> dict[str, Any]:
    """``member``: progress of each achievement in its period containing the event.

    ``periods`` maps achievement ids to their ``per`` (or "lifetime") and time zone.
    """
    progress = {}
    for achievement, (per, zone) in periods.items():
        held = member.achievements.get(achievement)
        current = None if held is None else held.get(period_key(moment, per, zone))
        if current is not None:
            progress[achievement] = current
    record = {"id": member.id, "points": member.points, "achievements": progress}
    return {"member": freeze(record)}


def time_names(moment: datetime, zone: ZoneInfo) -> dict[str, Any]:
    """``occurred_at``, ``hour``, ``weekday``, ``day``, ``month``, ``year`` in a rule's zone."""
    local = moment.astimezone(zone)
    return {
        "occurred_at": local.isoformat(),
        "hour": local.hour,
        "weekday": local.weekday(),
        "day": local.day,
        "month": local.month,
        "year": local.year,
    }
