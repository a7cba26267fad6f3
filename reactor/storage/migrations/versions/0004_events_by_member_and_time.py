"""Index a member's events by event time, for limits: what a rule gave in a period.

Revision ID: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_member_id_occurred_at", "events", ["member_id", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_events_member_id_occurred_at", table_name="events")
