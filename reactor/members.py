"""A member's rows as both sides read them: whether they exist, their balance, their progress.

The inbox and the processor (the write side) and ``queries`` (the read side) share these;
neither side imports the other.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select

from reactor.storage import Statement, tables


class _Id(NamedTuple):
    id: str


class _Balance(NamedTuple):
    points: int


class Progress(NamedTuple):
    """A member's progress on one achievement in one period, and the level reached."""

    member_id: str
    achievement_id: str
    period: str
    progress: int
    level: int
    updated_at: datetime


_progress = tables.achievement_progress
_MEMBER = Statement(
    select(tables.members.c.id).where(tables.members.c.id == bindparam("member_id")), _Id
)
_BALANCE = Statement(
    select(tables.members.c.points).where(tables.members.c.id == bindparam("member_id")),
    _Balance,
)
_PROGRESS = Statement(
    select(_progress).where(_progress.c.member_id == bindparam("member_id")), Progress
)


def member_exists(conn: Connection, member_id: str) -> bool:
    """Whether a member with this id has been seen."""
    return _MEMBER.first(conn, {"member_id": member_id}) is not None


def balance(conn: Connection, member_id: str) -> int:
    """A member's points: the sum of their ledger (I8), kept with it by the database (see
    ``tables.LEDGER_BALANCE``); 0 for a member not seen yet."""
    row = _BALANCE.one_or_none(conn, {"member_id": member_id})
    return 0 if row is None else int(row.points)


def progress(conn: Connection, member_id: str) -> list[Progress]:
    """The member's progress rows, one per achievement and period."""
    return _PROGRESS.rows(conn, {"member_id": member_id})
