"""Index a member's pending events by event time: they are processed oldest first (I3).

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index(
        "ix_events_pending_member_id_occurred_at",
        "events",
        ["member_id", "occurred_at"],
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_events_pending_member_id_occurred_at", table_name="events")
