"""Rewards members can see: benefits, achievements, reversals' bookkeeping, the outbox.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reactor.storage.tables import BigId, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "benefits_issued",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("benefit_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("source", sa.String(600), nullable=False, unique=True),
        sa.Column("rule_id", sa.String(255), nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("revoked_at", UTCDateTime()),
    )
    op.create_index("ix_benefits_issued_member_id", "benefits_issued", ["member_id"])
    op.create_index("ix_benefits_issued_event_id", "benefits_issued", ["event_id"])
    op.create_table(
        "achievement_steps",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("achievement_id", sa.String(255), nullable=False),
        sa.Column("period", sa.String(32), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(255), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("rule_id", sa.String(255), nullable=False),
        sa.Column("effect_index", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint(
            "event_id",
            "rule_id",
            "effect_index",
            "kind",
            name="uq_achievement_steps_event_id_rule_id_effect_index_kind",
        ),
    )
    op.create_index(
        "ix_achievement_steps_member_id_achievement_id",
        "achievement_steps",
        ["member_id", "achievement_id"],
    )
    op.create_table(
        "achievement_progress",
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("achievement_id", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("progress", sa.BigInteger, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "achievement_levels",
        sa.Column("member_id", sa.String(255), sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("achievement_id", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("level", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(255), sa.ForeignKey("events.id"), nullable=False),
        sa.Column("reached_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("member_id", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime()),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_next_attempt_at", "outbox")
    for table in (
        "outbox",
        "achievement_levels",
        "achievement_progress",
        "achievement_steps",
        "benefits_issued",
    ):
        op.drop_table(table)
