"""What the engine is told about one event and its member: plain, frozen facts from storage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


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
