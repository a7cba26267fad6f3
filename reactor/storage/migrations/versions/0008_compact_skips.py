"""Keep an event's skipped decisions as one JSON array on the event, not a row each.

Most of a decision record is skips (a rule whose condition was false): with 20 rules and 3
firing, 17 of the 20 rows each event wrote to ``decisions``. Existing rows stay where they are;
readers merge both (``queries.record``).

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("skipped", sa.Text()))


def downgrade() -> None:
    op.drop_column("events", "skipped")
