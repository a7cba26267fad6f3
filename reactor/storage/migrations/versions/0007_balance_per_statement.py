"""On Postgres, keep the running balance with one update per statement instead of per row.

An event's awards are now written by one multi-row insert; a row trigger updated the member's
row once per award (a new row version each time), a statement trigger with a transition table
updates it once. SQLite has no statement triggers and keeps its row trigger.

Revision ID: 0007
"""

from __future__ import annotations

from alembic import op

from reactor.storage.tables import LEDGER_BALANCE

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS ledger_balance ON ledger")
    for statement in LEDGER_BALANCE["postgresql"]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER ledger_balance ON ledger")
    op.execute(
        "CREATE OR REPLACE FUNCTION reactor_ledger_balance() RETURNS trigger AS $$ BEGIN "
        "UPDATE members SET points = points + NEW.points WHERE id = NEW.member_id; "
        "RETURN NULL; END; $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER ledger_balance AFTER INSERT ON ledger "
        "FOR EACH ROW EXECUTE FUNCTION reactor_ledger_balance()"
    )
