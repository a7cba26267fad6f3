"""Keep each member's balance beside the ledger, so reading it costs the same at any size (I8).

``members.points`` starts as the sum of the member's ledger rows; from then on a trigger adds
every new row's points in the statement that writes it.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reactor.storage.tables import LEDGER_BALANCE

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: SQLite's table rebuild would trip the ledger's foreign keys.
    op.add_column(
        "members",
        sa.Column("points", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
    )
    op.execute(
        "UPDATE members SET points = "
        "(SELECT COALESCE(SUM(ledger.points), 0) FROM ledger WHERE ledger.member_id = members.id)"
    )
    for statement in LEDGER_BALANCE[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER ledger_balance")
    else:
        op.execute("DROP TRIGGER ledger_balance ON ledger")
        op.execute("DROP FUNCTION reactor_ledger_balance()")
    op.drop_column("members", "points")
