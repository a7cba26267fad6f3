"""The history functions of spec §4 (count, sum_of, streak...) over one member's seen events.

Pure: the caller hands in a loader that fetches the member's events, so there is no database
and no wall clock here (I5). Each History answers for one current event in one time zone,
computes each distinct call once and loads as little as it can. ``reactor.rules`` refuses bad
calls when the rule loads, so the run-time errors here are a last line of defence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, TypeVar, cast
from zoneinfo import ZoneInfo

from reactor.errors import EvaluationError
from reactor.expressions import RESERVED, bounded, freeze, kind_of, thaw
from reactor.periods import (
    PERIOD_CHOICES,
    PERIODS,
    parse_duration,
    period_bounds,
    unit_index,
    unit_start,
)

LOOKBACK = 32
"""Units (days for ``days_since``) loaded before ``streak`` and ``days_since`` go to all time."""


class Past(NamedTuple):
    """One of the member's events as history functions see it (a tuple: history builds many)."""

    id: str
    type: str
    occurred_at: datetime  # aware UTC
    data: Mapping[str, Any]  # the event's raw JSON ``data``


Loader = Callable[[frozenset[str], datetime | None], Sequence[Past]]
"""``load(types, since)``: the member's seen events of ``types`` with ``since <= occurred_at
<= current.occurred_at`` (None: all time), the current event included, oldest first."""

_Filters = list[tuple[str, tuple[Any, ...]]]  # (field, any of these values), type taken out
_MISSING: Any = object()
_T = TypeVar("_T")


class History:
    """The history functions for one current event, seen in one time zone."""

    def __init__(self, current: Past, load: Loader, zone: ZoneInfo) -> None:
        if current.occurred_at.utcoffset() is None:
            raise ValueError("the current event's occurred_at must be timezone-aware")
        self.current, self.zone = current, zone
        self.calls: dict[str, Any] = {}
        """Every distinct call made so far, like ``count(period='month')``, and its result."""
        self._load = load
        self._memo: dict[Hashable, Any] = {}
        # For each set of types loaded: the earliest `since` asked for and what came back.
        self._loaded: dict[frozenset[str], tuple[datetime | None, tuple[Past, ...]]] = {}

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The eight history functions by name, to pass to Expression.evaluate."""
        return {  # sum_of("duration", ...) is aggregate("sum_of", "duration", ...)
            "count": self.count,
            **{name: partial(self.aggregate, name) for name in _AGGREGATES},
            "streak": self.streak,
            "days_since": self.days_since,
        }

    # --- the functions ------------------------------------------------------------------------

    def count(self, period: Any = None, within: Any = None, **filters: Any) -> int:
        """How many matching events are in the period and window."""

        def compute() -> int:
            return len(self._window("count", period, within, filters))

        return self._remember("count", (), {"period": period, "within": within}, filters, compute)

    def aggregate(
        self, name: str, field: Any, /, period: Any = None, within: Any = None, **filters: Any
    ) -> Any:
        """``sum_of``, ``avg_of``, ``min_of``, ``max_of`` or ``distinct`` (``name``) of ``field``.

        None values are skipped; the numeric ones refuse any other non-number (bools too).
        """
        if name not in _AGGREGATES:
            raise ValueError(f"{name!r} is not one of {', '.join(_AGGREGATES)}")

        def compute() -> Any:
            path = _path(name, field)
            events = self._window(name, period, within, filters)
            present = [(e, _frozen(v)) for e in events if (v := _lookup(e.data, path)) is not None]
            for event, value in present if name != "distinct" else ():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise EvaluationError(
                        f"{name}() needs numbers, but field {field!r} of event {event.id} "
                        f"holds {kind_of(value)} {_render(value)}"
                    )
            return _AGGREGATES[name]([value for _, value in present])

        window = {"period": period, "within": within}
        return self._remember(name, (field,), window, filters, compute)

    def streak(self, unit: Any = "day", **filters: Any) -> int:
        """Consecutive calendar units, ending with the current one, each with a matching event."""

        def compute() -> int:
            if unit not in PERIODS:
                raise EvaluationError(f"unit for streak() must be {PERIOD_CHOICES}, not {unit!r}")
            types, wanted = _split("streak", self.current.type, filters)
            now = unit_index(self.current.occurred_at, unit, self.zone)
            # Most streaks are short: look at the last LOOKBACK units, all time only if needed.
            for since in (unit_start(now - LOOKBACK + 1, unit, self.zone), None):
                events = self._matching(types, since, wanted)
                units = {unit_index(event.occurred_at, unit, self.zone) for event in events}
                length = 0
                while now - length in units:
                    length += 1
                if length < LOOKBACK:
                    break
            return length

        return self._remember("streak", (), {"unit": unit}, filters, compute)

    def days_since(self, **filters: Any) -> int | None:
        """Calendar days from the previous matching event to this one; None if there is none."""

        def compute() -> int | None:
            types, wanted = _split("days_since", self.current.type, filters)
            today = unit_index(self.current.occurred_at, "day", self.zone)
            for since in (unit_start(today - LOOKBACK, "day", self.zone), None):
                # Another event at the very same instant still came before this one.
                others = [
                    e for e in self._matching(types, since, wanted) if e.id != self.current.id
                ]
                if others:
                    latest = max(event.occurred_at for event in others)
                    return today - unit_index(latest, "day", self.zone)
            return None

        return self._remember("days_since", (), {}, filters, compute)

    # --- selecting and loading ------------------------------------------------------------------

    def _window(self, name: str, period: Any, within: Any, filters: dict[str, Any]) -> list[Past]:
        """The matching events in the calendar ``period`` and the rolling ``within`` window."""
        moment = self.current.occurred_at
        since: datetime | None = None  # inclusive
        after: datetime | None = None  # exclusive: an event exactly `within` ago is out
        if period is not None:
            if period not in PERIODS:
                raise EvaluationError(
                    f"period for {name}() must be {PERIOD_CHOICES}, not {period!r}"
                )
            since = period_bounds(moment, period, self.zone)[0]
        if within is not None:
            after = moment - _duration(name, within)
            since = after if since is None else max(since, after)
        types, wanted = _split(name, self.current.type, filters)
        events = self._matching(types, since, wanted)
        return events if after is None else [e for e in events if e.occurred_at > after]

    def _matching(
        self, types: frozenset[str], since: datetime | None, wanted: _Filters
    ) -> list[Past]:
        """Events of ``types`` from ``since`` on that pass every filter, loading only if needed."""
        if not types:
            return []
        events: tuple[Past, ...] | None = None
        for loaded_types, (loaded_since, loaded) in self._loaded.items():
            # An earlier load of these types (or more) reaching back as far covers this one.
            if types <= loaded_types and (
                loaded_since is None or (since is not None and loaded_since <= since)
            ):
                events = loaded
                break
        if events is None:
            events = tuple(self._load(types, since))
            self._loaded[types] = (since, events)
        return [
            event
            for event in events
            if event.type in types
            and (since is None or event.occurred_at >= since)
            and _passes(event, wanted)
        ]

    def _remember(
        self,
        name: str,
        args: tuple[Any, ...],
        controls: dict[str, Any],
        filters: dict[str, Any],
        compute: Callable[[], _T],
    ) -> _T:
        """``compute()`` once per distinct call; every call is recorded in ``calls``."""
        ordered = tuple(sorted(filters.items()))
        key: Hashable = (name, args, tuple(controls.items()), ordered)
        try:
            result = self._memo.get(key, _MISSING)
        except TypeError:  # an unhashable argument: frozen data never is, but stay correct
            key, result = _MISSING, _MISSING
        if result is _MISSING:
            result = compute()
            if key is not _MISSING:
                self._memo[key] = result
        parts = [_render(arg) for arg in args]
        parts += [f"{k}={_render(v)}" for k, v in controls.items() if v is not None]
        parts += [f"{k}={_render(v)}" for k, v in ordered]
        self.calls[f"{name}({', '.join(parts)})"] = result
        return cast(_T, result)


# --- filters ----------------------------------------------------------------------------------


def _split(
    name: str, current_type: str, filters: dict[str, Any]
) -> tuple[frozenset[str], _Filters]:
    """The event types to load (``type`` filter, default the current type) and the others."""
    wanted: _Filters = []
    types = frozenset({current_type})
    for key, value in filters.items():
        if key in RESERVED:
            raise EvaluationError(f"{name}() takes no {key!r}")
        options = tuple(value) if isinstance(value, tuple | list) else (value,)  # "any of"
        if key != "type":
            wanted.append((key, tuple(freeze(option) for option in options)))
        elif all(isinstance(option, str) for option in options):
            types = frozenset(options)
        else:
            raise EvaluationError(f"type for {name}() must be an event type or a list of them")
    return types, wanted


def _passes(event: Past, wanted: _Filters) -> bool:
    for key, options in wanted:
        actual = event.data.get(key)
        if key == "tags":
            # tags=None is "no tags"; otherwise one of the options must be among the tags.
            tags = actual if isinstance(actual, list | tuple) else ()
            if not any(actual is None if option is None else option in tags for option in options):
                return False
        elif _frozen(actual) not in options:
            return False
    return True


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path in ``data``; None where a key or a mapping is missing."""
    value: Any = data
    for segment in path:
        if type(value) is dict or isinstance(value, Mapping):  # the first test is the fast one
            value = value.get(segment)
        else:
            return None
    return value


def _frozen(value: Any) -> Any:
    # Data holds dicts and lists, expressions hold Records and tuples: meet on the frozen side.
    return freeze(value) if type(value) is dict or type(value) is list else value


def _path(name: str, field: Any) -> tuple[str, ...]:
    path = tuple(field.split(".")) if isinstance(field, str) else ()
    if not path or not all(path):
        raise EvaluationError(
            f"the field for {name}() must be a name like 'duration', not {field!r}"
        )
    return path


def _duration(name: str, within: Any) -> timedelta:
    try:
        return parse_duration(within)
    except ValueError as exc:
        raise EvaluationError(f"within for {name}(): {exc}") from None


def _render(value: Any) -> str:
    """How a value reads in ``calls``: as the rule author would have written it."""
    if isinstance(value, tuple):
        inner = ", ".join(_render(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(thaw(value))


# --- aggregates -------------------------------------------------------------------------------


def _total(numbers: list[int | float]) -> int | float:
    # Ints add exactly, and fsum adds floats exactly, so the loader's order cannot matter (I5).
    try:
        total: int | float = bounded(
            sum(numbers) if all(type(n) is int for n in numbers) else math.fsum(numbers)
        )
        return total
    except OverflowError:
        raise EvaluationError("number too large") from None


_AGGREGATES: dict[str, Callable[[list[int | float]], Any]] = {
    "sum_of": _total,
    "avg_of": lambda numbers: _total(numbers) / len(numbers) if numbers else None,
    "min_of": lambda numbers: min(numbers, default=None),
    "max_of": lambda numbers: max(numbers, default=None),
    "distinct": lambda values: len(set(values)),  # any values: frozen data is hashable
}
