"""The first schema: members, identities, events, decisions and an append-only ledger.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reactor.storage.tables import LEDGER_APPEND_ONLY, BigId, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "identities",
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(320), primary_key=True),
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), nullable=False),
    )
    op.create_index("ix_identities_member_id", "identities", ["member_id"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("interaction_id", sa.String(255)),
        sa.Column("dedupe_key", sa.String(400), unique=True),
        sa.Column("body_hash", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("enqueued_at", UTCDateTime(), nullable=False),
        sa.Column("processed_at", UTCDateTime()),
        sa.Column("rules_version", sa.String(64)),
    )
    op.create_index("ix_events_status_enqueued_at", "events", ["status", "enqueued_at"])
    op.create_index("ix_events_member_id_occurred_at", "events", ["member_id", "occurred_at"])
    op.create_table(
        "decisions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(255), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(255), nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("effects", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.UniqueConstraint("event_id", "rule_id", name="uq_decisions_event_id_rule_id"),
    )
    op.create_table(
        "ledger",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("rule_id", sa.String(255), nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(255), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("effect_index", sa.Integer, nullable=False),
        sa.Column("reverses_id", BigId, sa.ForeignKey("ledger.id")),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "event_id",
            "rule_id",
            "effect_index",
            "kind",
            name="uq_ledger_event_id_rule_id_effect_index_kind",
        ),
    )
    op.create_index("ix_ledger_member_id_id", "ledger", ["member_id", "id"])
    _make_ledger_append_only()


def _make_ledger_append_only() -> None:
    """I8: the database itself refuses to change or remove a ledger row."""
    for statement in LEDGER_APPEND_ONLY[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TABLE ledger")
        op.execute("DROP FUNCTION reactor_ledger_append_only()")
    else:
        op.drop_table("ledger")
    for table in ("decisions", "events", "identities", "members"):
        op.drop_table(table)
