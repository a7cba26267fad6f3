"""Limits and budgets in storage: how much a cap has used, and the budget rows.

A budget's row is created on first use and locked (``FOR UPDATE``) when the engine reads it,
until the event's transaction ends, so racing workers spend one budget one at a time (I2).
Every writer takes budget rows in rule-id order, after the member: no two transactions can
wait for each other in a circle.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select, update

from reactor.storage import Statement, insert_once, tables

_budgets = tables.budgets


@dataclass(frozen=True)
class Usage:
    """How much of a limit or budget is spent: times fired and points awarded."""

    count: int
    points: int


class _BudgetRow(NamedTuple):
    times: int
    points: int


_KEY = (_budgets.c.rule_id == bindparam("budget_rule")) & (
    _budgets.c.period == bindparam("budget_period")
)
# Bind names differ from column names: UPDATE … SET reserves those.
_READ = Statement(
    select(_budgets.c.count.label("times"), _budgets.c.points).where(_KEY).with_for_update(),
    _BudgetRow,
)
_MOVE = Statement(
    update(_budgets)
    .where(_KEY)
    .values(
        count=_budgets.c.count + bindparam("times"),
        points=_budgets.c.points + bindparam("spent"),
    )
)


def budget_usage(conn: Connection, rule_id: str, period: str) -> Usage:
    """What ``rule_id`` gave everyone in budget ``period``; the row stays locked until commit."""
    insert_once(conn, _budgets, {"rule_id": rule_id, "period": period, "count": 0, "points": 0})
    row = _READ.one(conn, {"budget_rule": rule_id, "budget_period": period})
    return Usage(int(row.times), int(row.points))


def spend(conn: Connection, rule_id: str, period: str, points: int) -> None:
    """A fired decision's firing and points, from the budget row the engine locked."""
    _MOVE.run(conn, {"budget_rule": rule_id, "budget_period": period, "times": 1, "spent": points})


def refund(conn: Connection, refunds: Mapping[tuple[str, str], Usage]) -> None:
    """Give budgets back what reversed awards took: ``(rule_id, period)`` → firings and points
    (budgets count what members still hold). Rows are taken in rule-id order."""
    for (rule_id, period), usage in sorted(refunds.items()):
        params = {
            "budget_rule": rule_id,
            "budget_period": period,
            "times": -usage.count,
            "spent": -usage.points,
        }
        _MOVE.run(conn, params)
