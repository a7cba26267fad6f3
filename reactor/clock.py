"""Where "now" comes from: the wall clock in production, the replay clock in replays (I5).

Nothing in Reactor asks the system for the time except ``SystemClock``; everything that stores
or compares a "now" is handed a clock (or the instant read from one) by its caller.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of the current instant, aware UTC."""

    def now(self) -> datetime:
        """The current instant."""


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ReplayClock:
    """A clock that moves only when told: forward, to the latest instant it has been shown.

    ``simulate`` and ``rules test`` move it to each accepted event's time, so a replay of the
    same events stores the same times, row for row. Tests use it as a fixed clock.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {start!r}")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, moment: datetime) -> None:
        """Move to ``moment`` if it is later; an earlier instant leaves the clock where it is."""
        self._now = max(self._now, moment)
