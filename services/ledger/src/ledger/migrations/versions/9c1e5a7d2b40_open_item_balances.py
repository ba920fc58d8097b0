"""open item balances: the running sum of each customer open item's postings, kept with the postings

Revision ID: 9c1e5a7d2b40
Revises: 4b877fbd59bf
Create Date: 2026-11-30 13:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c1e5a7d2b40"
down_revision: str | Sequence[str] | None = "4b877fbd59bf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open_item_balances",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("party", sa.Integer(), nullable=False),
        sa.Column("open_item", sa.Text(), nullable=False),
        sa.Column("account", sa.Text(), nullable=False),
        sa.Column("original_ore", sa.BigInteger(), nullable=False),
        sa.Column("balance_ore", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("client_id", "party", "open_item"),
    )
    op.execute(
        "INSERT INTO open_item_balances (client_id, party, open_item, account, original_ore, balance_ore, due_date) "
        "SELECT l.client_id, l.party, l.open_item, min(l.account), "
        "COALESCE(sum(l.amount_ore) FILTER (WHERE l.due_date IS NOT NULL), 0), sum(l.amount_ore), max(l.due_date) "
        "FROM voucher_lines l JOIN parties p ON p.client_id = l.client_id AND p.number = l.party "
        "WHERE l.open_item IS NOT NULL AND p.kind = 'customer' GROUP BY l.client_id, l.party, l.open_item"
    )


def downgrade() -> None:
    op.drop_table("open_item_balances")
