"""Keep each member's balance beside the ledger, so reading it costs the same at any size (I8).

``members.points`` starts as the sum of the member's ledger rows; from then on a trigger adds
every new row's points in the statement that writes it.

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# As they were at this revision (0007 makes Postgres's a statement trigger).
_TRIGGER = {
    "sqlite": (
        "CREATE TRIGGER ledger_balance AFTER INSERT ON ledger BEGIN "
        "UPDATE members SET points = points + NEW.points WHERE id = NEW.member_id; END",
    ),
    "postgresql": (
        "CREATE FUNCTION reactor_ledger_balance() RETURNS trigger AS $$ BEGIN "
        "UPDATE members SET points = points + NEW.points WHERE id = NEW.member_id; "
        "RETURN NULL; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER ledger_balance AFTER INSERT ON ledger "
        "FOR EACH ROW EXECUTE FUNCTION reactor_ledger_balance()",
    ),
}

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
    for statement in _TRIGGER[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER ledger_balance")
    else:
        op.execute("DROP TRIGGER ledger_balance ON ledger")
        op.execute("DROP FUNCTION reactor_ledger_balance()")
    op.drop_column("members", "points")
