"""Limits, budgets and history: budget counters, deleted interactions, history indexes.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reactor.storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("deleted_at", UTCDateTime()))
    # History functions read one member's events of some types by event time.
    op.drop_index("ix_events_member_id_occurred_at", "events")
    op.create_index(
        "ix_events_member_id_type_occurred_at", "events", ["member_id", "type", "occurred_at"]
    )
    op.create_index("ix_events_interaction_id", "events", ["interaction_id"])
    # Per-member limits sum a member's awards by one rule.
    op.create_index("ix_ledger_member_id_rule_id", "ledger", ["member_id", "rule_id"])
    op.create_table(
        "budgets",
        sa.Column("rule_id", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budgets")
    op.drop_index("ix_ledger_member_id_rule_id", "ledger")
    op.drop_index("ix_events_interaction_id", "events")
    op.drop_index("ix_events_member_id_type_occurred_at", "events")
    op.create_index("ix_events_member_id_occurred_at", "events", ["member_id", "occurred_at"])
    with op.batch_alter_table("events") as batch:
        batch.drop_column("deleted_at")
