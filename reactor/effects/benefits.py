"""Benefits: ``- benefit: id`` issues an instance of a catalog benefit, which may expire.

An instance is a ``benefits_issued`` row whose ``source`` names what issued it (a rule's effect
on an event, or an achievement level), unique, so it is issued exactly once (I2). Expiry is
counted from the event's time, so a replay gives the same expiry (I5). Reversing revokes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from reactor.effects.base import (
    Amount,
    Compiling,
    EffectContext,
    EffectKind,
    EffectSpec,
    Grant,
    LevelReached,
    Original,
)
from reactor.shapes import RuleId
from reactor.storage import insert_once, tables

_issued = tables.benefits_issued


@dataclass(frozen=True, slots=True)
class IssueBenefit(EffectSpec):
    """``- benefit: id``."""

    benefit: str

    def plan(self, index: int, amount: Amount) -> Issue:
        return Issue(index, self.benefit)


@dataclass(frozen=True, slots=True)
class Issue(Grant):
    """A benefit a fired rule issues."""

    effect_index: int
    benefit: str

    def record(self) -> dict[str, Any]:
        return {"benefit": self.benefit}

    def apply(self, ctx: EffectContext, rule_id: str, version: str) -> Sequence[LevelReached]:
        source = f"rule {ctx.event.id} {rule_id} {self.effect_index}"
        issue(ctx, self.benefit, source, rule_id, version)
        return ()


def issue(ctx: EffectContext, benefit_id: str, source: str, rule_id: str, version: str) -> None:
    """Issue ``benefit_id`` to the event's member, once per ``source``."""
    benefit = ctx.rules.benefits[benefit_id]
    # Event time, not processing time: replaying the same events gives the same expiry (I5).
    issued_at = ctx.event.occurred_at
    expires_at = issued_at + benefit.expires_after if benefit.expires_after else None
    instance = insert_once(
        ctx.conn,
        _issued,
        {
            "id": stable_id("ben", source),
            "member_id": ctx.event.member_id,
            "benefit_id": benefit_id,
            "event_id": ctx.event.id,
            "source": source,
            "rule_id": rule_id,
            "rule_version": version,
            "issued_at": issued_at,
            "expires_at": expires_at,
        },
    )
    if instance is not None:
        ctx.tell(
            "benefit.issued",
            f"benefit {instance}",
            id=instance,
            benefit=benefit_id,
            issued_at=issued_at.isoformat(),
            expires_at=expires_at.isoformat() if expires_at else None,
        )


def stable_id(prefix: str, source: str) -> str:
    """An id derived from what issued a row, the same on every retry."""
    return f"{prefix}_{hashlib.sha256(source.encode()).hexdigest()[:24]}"


class Benefits(EffectKind):
    """Instances of the rule set's benefit catalog."""

    key = "benefit"
    value_type = RuleId
    description = "The id of a benefit from the catalog to issue to the member."

    def compile(self, value: str, at: Compiling) -> IssueBenefit:
        at.refer("benefit", value)
        return IssueBenefit(value)

    def reverse(self, ctx: EffectContext, original: Original) -> list[dict[str, Any]]:
        done = []
        rows = ctx.conn.execute(
            select(_issued).where(_issued.c.event_id == original.id, _issued.c.revoked_at.is_(None))
        ).all()
        for row in rows:
            if ctx.kept(row.rule_id):
                continue
            ctx.conn.execute(
                update(_issued).where(_issued.c.id == row.id).values(revoked_at=ctx.now)
            )
            done.append({"benefit": row.benefit_id, "revoked": row.id})
            ctx.tell("benefit.revoked", row.id, id=row.id, benefit=row.benefit_id)
        return done

    def describe(self, record: dict[str, Any]) -> str:
        return f"benefit {record['benefit']}"
