"""The database schema: members, their events (the durable inbox), decisions and the ledger."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    literal_column,
    text,
)
from sqlalchemy.sql.expression import ColumnClause
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite has no 64-bit autoincrement under the name BIGINT; INTEGER PRIMARY KEY is its rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always hands back aware UTC datetimes.

    SQLite keeps no offset, so without this a stored time would come back naive.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # On SQLite, each of the two steps above is followed (or preceded) by SQLAlchemy's own
    # conversion to or from its text format. Every event binds and reads a few dozen times,
    # so there the two are done in one step each, with the very same text.

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], str | None] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        check = self.process_bind_param

        def to_text(value: Any) -> str | None:
            naive = check(value, dialect)
            # SQLAlchemy's SQLite format: "2026-11-22 09:59:12.000000".
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return to_text

    def result_processor(
        self, dialect: Dialect, coltype: Any
    ) -> Callable[[Any], datetime | None] | None:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def from_text(value: Any) -> datetime | None:
            return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

        return from_text


members = Table(
    "members",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    # The member's balance: the sum of their ledger rows, kept by LEDGER_BALANCE below in the
    # transaction that writes each row, so reading it does not grow with the ledger (I8).
    Column("points", BigInteger, nullable=False, server_default=text("0")),
)

identities = Table(
    "identities",
    metadata,
    Column("type", String(32), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("member_id", String(255), ForeignKey("members.id"), nullable=False, index=True),
)

events = Table(
    "events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("member_id", String(255), ForeignKey("members.id"), nullable=False),
    Column("interaction_id", String(255)),
    # "<type> <interaction id>": a second interaction.created for one interaction is a duplicate.
    Column("dedupe_key", String(400), unique=True),
    Column("body_hash", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("enqueued_at", UTCDateTime(), nullable=False),
    Column("processed_at", UTCDateTime()),
    Column("rules_version", String(64)),
    # Set when an interaction.deleted arrives: history functions no longer count the event.
    Column("deleted_at", UTCDateTime()),
    # The decision record's skips, as one JSON array written with the status (its fired and
    # failed decisions are rows of ``decisions``): see ``decisions.write_decisions``.
    Column("skipped", Text),
    Index("ix_events_status_enqueued_at", "status", "enqueued_at"),
    Index("ix_events_member_id_type_occurred_at", "member_id", "type", "occurred_at"),
    # Limits count a member's firings in a period: without it, every event the member has.
    Index("ix_events_member_id_occurred_at", "member_id", "occurred_at"),
    Index("ix_events_interaction_id", "interaction_id"),
    # A member's pending events in event-time order, read before each event is processed (I3):
    # only pending rows, so the cost does not grow with the member's history.
    Index(
        "ix_events_pending_member_id_occurred_at",
        "member_id",
        "occurred_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(255), ForeignKey("events.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("rule_id", String(255), nullable=False),
    Column("rule_version", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("reason", Text),
    Column("effects", Text, nullable=False),
    Column("details", Text, nullable=False),
    UniqueConstraint("event_id", "rule_id"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("member_id", String(255), ForeignKey("members.id"), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("rule_id", String(255), nullable=False),
    Column("rule_version", String(64), nullable=False),
    Column("event_id", String(255), ForeignKey("events.id"), nullable=False),
    Column("effect_index", Integer, nullable=False),
    Column("reverses_id", BigId, ForeignKey("ledger.id")),
    Column("created_at", UTCDateTime(), nullable=False),
    # The database, not the broker, makes a redelivered event unable to award twice (I2).
    UniqueConstraint("event_id", "rule_id", "effect_index", "kind"),
    Index("ix_ledger_member_id_id", "member_id", "id"),
    Index("ix_ledger_member_id_rule_id", "member_id", "rule_id"),
)

PENDING: ColumnClause[str] = literal_column("'pending'")
PROCESSED: ColumnClause[str] = literal_column("'processed'")
"""Statuses as SQL literals, for prebuilt statements that test ``events.status``. Bound as a
parameter, a status could decide whether the partial index of pending events applies, so SQLite
prepares such a statement again at every execution: that made the history query three to
four times slower in replays (0.2 s to 0.7-0.8 s of statement time over 10,000 events).
Written into the SQL, the plan is made once (and a literal is what lets SQLite use the partial
index at all)."""

LEDGER_APPEND_ONLY: dict[str, tuple[str, ...]] = {
    "sqlite": tuple(
        f"CREATE TRIGGER ledger_no_{action.lower()} BEFORE {action} ON ledger "
        "BEGIN SELECT RAISE(ABORT, 'ledger is append-only'); END"
        for action in ("UPDATE", "DELETE")
    ),
    "postgresql": (
        "CREATE FUNCTION reactor_ledger_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'ledger is append-only'; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger "
        "FOR EACH ROW EXECUTE FUNCTION reactor_ledger_append_only()",
        "CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger "
        "FOR EACH STATEMENT EXECUTE FUNCTION reactor_ledger_append_only()",
    ),
}
"""I8 in the database itself: the statements, per dialect, that refuse to change or remove a
ledger row. Migration 0001 runs them; ``metadata.create_all`` (the sandbox) runs them too."""

LEDGER_BALANCE: dict[str, tuple[str, ...]] = {
    "sqlite": (
        "CREATE TRIGGER ledger_balance AFTER INSERT ON ledger BEGIN "
        "UPDATE members SET points = points + NEW.points WHERE id = NEW.member_id; END",
    ),
    # Once per statement, from its new rows: an event's awards are one multi-row insert, and
    # its member's row is then updated once, not once per award.
    "postgresql": (
        "CREATE OR REPLACE FUNCTION reactor_ledger_balance() RETURNS trigger AS $$ BEGIN "
        "UPDATE members SET points = members.points + added.points FROM "
        "(SELECT member_id, SUM(points) AS points FROM new_rows GROUP BY member_id) AS added "
        "WHERE members.id = added.member_id; "
        "RETURN NULL; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER ledger_balance AFTER INSERT ON ledger REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION reactor_ledger_balance()",
    ),
}
"""I8 again: every ledger row adds its points to ``members.points`` in the same statement, so
the balance is the ledger's sum by construction. Migrations 0006 and 0007 put them in place, as
does ``metadata.create_all``."""

for _dialect in ("sqlite", "postgresql"):
    for _statement in (*LEDGER_APPEND_ONLY[_dialect], *LEDGER_BALANCE[_dialect]):
        event.listen(ledger, "after_create", DDL(_statement).execute_if(dialect=_dialect))  # type: ignore[no-untyped-call]

# What each budgeted rule has spent per budget period, across all members. The row is locked
# while an event spends from it, so concurrent workers can never overspend.
budgets = Table(
    "budgets",
    metadata,
    Column("rule_id", String(255), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
)

# A benefit instance. ``source`` names what issued it (a rule's effect on an event, or an
# achievement level), unique, so it is issued exactly once. Expiry is derived when read.
benefits_issued = Table(
    "benefits_issued",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("member_id", String(255), ForeignKey("members.id"), nullable=False, index=True),
    Column("benefit_id", String(255), nullable=False),
    Column("event_id", String(255), ForeignKey("events.id"), nullable=False, index=True),
    Column("source", String(600), nullable=False, unique=True),
    Column("rule_id", String(255), nullable=False),
    Column("rule_version", String(64), nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("revoked_at", UTCDateTime()),
)

# Every change to an achievement's progress: steps, and reversals of steps. Unique per effect
# (I2); the progress row below is their running sum.
achievement_steps = Table(
    "achievement_steps",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("member_id", String(255), ForeignKey("members.id"), nullable=False),
    Column("achievement_id", String(255), nullable=False),
    Column("period", String(32), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("event_id", String(255), ForeignKey("events.id"), nullable=False),
    Column("rule_id", String(255), nullable=False),
    Column("effect_index", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("event_id", "rule_id", "effect_index", "kind"),
    Index("ix_achievement_steps_member_id_achievement_id", "member_id", "achievement_id"),
)

achievement_progress = Table(
    "achievement_progress",
    metadata,
    Column("member_id", String(255), ForeignKey("members.id"), primary_key=True),
    Column("achievement_id", String(255), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("progress", BigInteger, nullable=False),
    Column("level", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# A level reached, once per member, achievement, period and level: its rewards hang off this.
achievement_levels = Table(
    "achievement_levels",
    metadata,
    Column("member_id", String(255), ForeignKey("members.id"), primary_key=True),
    Column("achievement_id", String(255), primary_key=True),
    Column("period", String(32), primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("event_id", String(255), ForeignKey("events.id"), nullable=False),
    Column("reached_at", UTCDateTime(), nullable=False),
)

# Outbound notifications, written in the effect's transaction and delivered afterwards.
outbox = Table(
    "outbox",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("member_id", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("delivered_at", UTCDateTime()),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)
