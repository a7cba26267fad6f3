"""What every kind of effect shares: the context it works in and the three shapes it takes.

A kind of effect (points, achievement progress, a benefit) appears three times on its way:

- an ``EffectSpec``, one entry of a rule's ``then`` as loaded (``- points: 50``);
- a ``Grant``, what the engine decided that entry gives for one event (``Award(0, 50)``),
  which the processor applies inside the event's transaction;
- an ``EffectKind``, the kind itself: how its entry compiles from a rule file, how what it gave
  is reversed when the interaction is deleted, and how the decision record shows it.

Each kind lives in a module of its own beside this one; ``reactor.effects`` lists them. The hooks
here do nothing by default, so a kind writes only what it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from sqlalchemy import Connection

from reactor.expressions import Expression
from reactor.facts import EventFacts
from reactor.outbox import Notifier

if TYPE_CHECKING:  # the rules compile effects, so effects take only the types from there
    from reactor.rules import RuleSet

Path = tuple[str | int, ...]
"""A place inside one effect's value in a rule file: () is the value itself, ("by",) a key."""


@dataclass(frozen=True)
class EffectContext:
    """What an effect may use while it is applied or reversed, for one event of one member.

    ``now`` is the caller's clock, read once for the event: the production wall clock, or a
    replay's clock in ``simulate`` and ``rules test``. ``notify`` is None when notifications
    are off.
    """

    conn: Connection
    event: EventFacts
    rules: RuleSet
    now: datetime
    notify: Notifier | None = None
    #: Ledger awards of the event not written yet: ``effects.settle`` writes them together.
    awards: list[dict[str, Any]] = field(default_factory=list)

    def tell(self, kind: str, key: str, **data: Any) -> None:
        """Announce an effect: with notifications on, an outbox row in this transaction.

        ``key`` names the effect, so a retried transaction writes the same notification.
        """
        if self.notify is not None:
            self.notify.write(
                self.conn,
                type=kind,
                member_id=self.event.member_id,
                key=f"{kind} {key}",
                data={"event_id": self.event.id, **data},
                now=self.now,
            )

    def kept(self, rule_id: str) -> bool:
        """Whether what ``rule_id`` gave stays when its interaction is deleted: level rewards
        always do (as in Omneo); rules keep their awards with ``on_revoke: keep``."""
        if rule_id.startswith("achievement:"):
            return True
        rule = self.rules.rule(rule_id)
        return rule is not None and rule.on_revoke == "keep"


@dataclass(frozen=True)
class LevelReached:
    """A level a step reached: applying a decision gives these back for its record."""

    rule_id: str
    achievement: str
    level: int
    name: str

    def record(self) -> dict[str, Any]:
        return {"achievement": self.achievement, "level": self.level, "name": self.name}


class Grant:
    """What one effect of a fired rule gives for one event, as the engine decided it."""

    __slots__ = ()
    effect_index: int
    #: The points it awards; only a points award has any, and limits and budgets cap them.
    points: int = 0

    def record(self) -> dict[str, Any]:
        """How the decision record shows it."""
        raise NotImplementedError

    def apply(self, ctx: EffectContext, rule_id: str, version: str) -> Sequence[LevelReached]:
        """Write it, exactly once (I2): a retried transaction finds its unique key taken."""
        return ()


Amount = Callable[[int | Expression, str, int], int]
"""``amount(value, what, minimum)``: the engine's evaluation of a whole-number value."""


class EffectSpec:
    """One entry of a rule's ``then``, compiled."""

    __slots__ = ()

    def plan(self, index: int, amount: Amount) -> Grant | None:
        """What it gives for the event being decided (None: nothing, and no error)."""
        raise NotImplementedError

    def expressions(self) -> tuple[Expression, ...]:
        """The expressions it evaluates, so a rule knows which names it reads."""
        return ()


class Compiling(Protocol):
    """What the rule loader offers a kind while it compiles the kind's entry of a rule."""

    def expression(self, source: str, *path: str | int) -> Expression | None:
        """The compiled expression, or None after reporting its problems at ``path``."""

    def refer(self, catalog: str, name: str, *path: str | int) -> None:
        """Note that ``name`` must be defined in the ``achievement`` or ``benefit`` catalog."""

    def problem(self, message: str, *path: str | int) -> None:
        """Report a problem at ``path``."""


class Original(NamedTuple):
    """An event whose effects a deletion reverses."""

    id: str
    occurred_at: datetime


class EffectKind:
    """A kind of effect: one key of a rule's ``then``. Hooks do nothing by default."""

    key: ClassVar[str]
    """Its key in a rule file: ``points``, ``achievement``, ``benefit``."""
    value_type: ClassVar[Any]
    """The pydantic type of its value in a rule file."""
    description: ClassVar[str]
    """One sentence for the JSON schema, for the analyst writing the file."""

    def compile(self, value: Any, at: Compiling) -> EffectSpec | None:
        """The entry compiled, or None after reporting its problems through ``at``."""
        raise NotImplementedError

    def expression_sources(self, value: Any) -> Iterable[tuple[Path, str]]:
        """The expression texts in a raw value, to check them even when the rule is broken."""
        return ()

    def json_schema(self, expression: dict[str, Any]) -> dict[str, Any] | None:
        """The schema of its value, tighter than pydantic's (None: keep pydantic's)."""
        return None

    def reverse(self, ctx: EffectContext, original: Original) -> list[dict[str, Any]]:
        """Take back what ``original`` was given of this kind, except what is kept; what was
        reversed, for the deletion's decision record."""
        return []

    def after_reversal(
        self, ctx: EffectContext, reversed_: Sequence[tuple[Original, list[dict[str, Any]]]]
    ) -> None:
        """Called once a deletion has reversed every original, with what this kind reversed."""

    def describe(self, record: dict[str, Any]) -> str:
        """One effect of a decision record, as ``reactor explain`` prints it."""
        raise NotImplementedError


def whole_or_expression(
    value: int | str, at: Compiling, what: str, *path: str | int
) -> int | Expression | None:
    """A positive whole number as written, or the expression a string holds."""
    if isinstance(value, int):
        if value <= 0:
            at.problem(f"{what} must be a positive whole number", *path)
        return value
    return at.expression(value, *path)
