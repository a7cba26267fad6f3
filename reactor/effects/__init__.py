"""The effects a rule can have, one module per kind: points, achievements, benefits.

Each kind owns how its entry of a rule's ``then`` compiles, what the engine's grant of it writes
inside the event's transaction, how a deletion reverses it and how a record shows it (see
``base.py``). ``KINDS`` is the default list, in the order a rule file lists them; a new kind
of effect is a new module with an ``EffectKind``, added here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from reactor.decisions import REVERSAL, Decision
from reactor.effects import points
from reactor.effects.achievements import Achievements, AchievementStep, Progress, Step
from reactor.effects.base import (
    Compiling,
    EffectContext,
    EffectKind,
    EffectSpec,
    Grant,
    LevelReached,
    Original,
)
from reactor.effects.benefits import Benefits, Issue, IssueBenefit
from reactor.effects.points import Award, GivePoints, Points
from reactor.storage import tables

KINDS: tuple[EffectKind, ...] = (Points(), Achievements(), Benefits())
"""Every kind of effect, in the order a rule file lists them."""
BY_KEY: dict[str, EffectKind] = {kind.key: kind for kind in KINDS}


def apply(ctx: EffectContext, decision: Decision) -> tuple[LevelReached, ...]:
    """Write what a fired decision gives, in the rule's order; the levels its steps reached."""
    reached: list[LevelReached] = []
    for grant in decision.grants:
        reached += grant.apply(ctx, decision.rule_id, decision.rule_version)
    return tuple(reached)


def settle(ctx: EffectContext) -> None:
    """Write what ``apply`` left for the end of the event (its awards, together)."""
    points.settle(ctx)


def reverse_interaction(ctx: EffectContext, interaction_id: str) -> Decision:
    """``interaction.deleted``: mark the member's events for ``interaction_id`` deleted (history
    stops counting them) and reverse every effect they had, except what is kept (I2, I8).

    One decision records it all, under the pseudo-rule ``reactor.reversal``.
    """
    events = tables.events
    # Found by the interaction alone, the member checked here: given the member too, SQLite
    # (which keeps no statistics) chose the member's index and read all of their events.
    originals = [
        Original(row.id, row.occurred_at)
        for row in ctx.conn.execute(
            select(events.c.id, events.c.occurred_at, events.c.member_id).where(
                events.c.interaction_id == interaction_id,
                events.c.type != "interaction.deleted",
            )
        )
        if row.member_id == ctx.event.member_id
    ]
    ctx.conn.execute(
        update(events)
        .where(events.c.id.in_([o.id for o in originals]), events.c.deleted_at.is_(None))
        .values(deleted_at=ctx.now)
    )
    reversed_: list[dict[str, Any]] = []
    by_kind: dict[EffectKind, list[tuple[Original, list[dict[str, Any]]]]] = {k: [] for k in KINDS}
    for original in originals:
        for kind in KINDS:
            done = kind.reverse(ctx, original)
            by_kind[kind].append((original, done))
            reversed_ += done
    for kind, done_by_original in by_kind.items():
        kind.after_reversal(ctx, done_by_original)
    return Decision(
        REVERSAL,
        "-",
        "fired" if reversed_ else "skipped",
        "interaction_deleted" if reversed_ else "nothing_to_reverse",
        details={
            "interaction_id": interaction_id,
            "events": [o.id for o in originals],
            "reversed": reversed_,
        },
    )


def describe(record: dict[str, Any]) -> str:
    """One effect of a decision record, as a person reads it (``+50 points``)."""
    for key, kind in BY_KEY.items():
        if key in record:
            return kind.describe(record)
    return repr(record)


__all__ = [
    "BY_KEY",
    "KINDS",
    "REVERSAL",
    "AchievementStep",
    "Award",
    "Compiling",
    "EffectContext",
    "EffectKind",
    "EffectSpec",
    "GivePoints",
    "Grant",
    "Issue",
    "IssueBenefit",
    "LevelReached",
    "Original",
    "Progress",
    "Step",
    "apply",
    "describe",
    "reverse_interaction",
    "settle",
]
