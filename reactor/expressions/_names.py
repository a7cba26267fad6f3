"""What an expression can see and call: the names and functions of spec §4.

``NAMES`` and ``FUNCTIONS`` are what the gate allows a rule to use; ``event_names``,
``member_names`` and ``time_names`` build the values of those names for one event, as frozen
data no expression can change. The history functions themselves run in ``reactor.history``;
what each accepts is declared here, beside the plain helpers, so the gate and the load-time
checks of ``reactor.rules`` read one table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reactor.envelope import INTERACTION_FIELDS
from reactor.expressions._frozen import Record, freeze, pick
from reactor.expressions._gate import FunctionSpec
from reactor.expressions._helpers import HELPER_IMPLS, HELPERS
from reactor.facts import EventFacts, MemberFacts
from reactor.periods import period_key

_OF_FIELD = ("sum_of", "avg_of", "min_of", "max_of", "distinct")  # (field, ...)

HISTORY_FUNCTIONS: dict[str, FunctionSpec] = {
    "count": FunctionSpec("count", 0, 0, any_keywords=True),
    **{name: FunctionSpec(name, 1, 1, any_keywords=True) for name in _OF_FIELD},
    "streak": FunctionSpec("streak", 0, 1, any_keywords=True),
    "days_since": FunctionSpec("days_since", 0, 0, any_keywords=True),
}
"""What each history function accepts, for the gate; ``reactor.rules`` checks the rest."""

HISTORY_CONTROLS: dict[str, frozenset[str]] = {
    "count": frozenset({"period", "within"}),
    **dict.fromkeys(_OF_FIELD, frozenset({"period", "within"})),
    "streak": frozenset({"unit"}),
    "days_since": frozenset(),
}
"""The keywords each history function takes besides filters."""
RESERVED = frozenset({"period", "within", "unit"})
"""Keywords that are never filters, so ``streak(period=...)`` is refused, not a field match."""
FIELD_FUNCTIONS = frozenset(_OF_FIELD)
"""The history functions whose first argument is a field: ``sum_of("duration", ...)``."""

TIME_NAMES = ("hour", "weekday", "day", "month", "year")

#: Every name a rule expression may use; anything else is refused when the rule loads.
NAMES: frozenset[str] = frozenset(
    (*INTERACTION_FIELDS, "type", "data", "event", "member", "occurred_at", *TIME_NAMES)
)

#: The functions a rule expression may call, with their argument rules.
FUNCTIONS: Mapping[str, FunctionSpec] = {**HELPERS, **HISTORY_FUNCTIONS}
#: The plain helpers; history functions are bound per event (see ``reactor.history.History``).
IMPLEMENTATIONS: Mapping[str, Callable[..., Any]] = dict(HELPER_IMPLS)


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
