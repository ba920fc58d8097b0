"""factored invoices: open items a factoring provider holds, left out of the receivables stream

Revision ID: a4c9e2f7b315
Revises: d18a0c6e4b24
Create Date: 2026-11-30 20:30:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a4c9e2f7b315"
down_revision: str | Sequence[str] | None = "d18a0c6e4b24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "factored_invoices",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("party", sa.Integer(), nullable=True),
        sa.Column("open_item", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("status_sequence", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "invoice_id"),
    )
    op.create_index(
        "factored_invoices_held",
        "factored_invoices",
        ["client_id", "party", "open_item"],
        unique=False,
        postgresql_where=sa.text("held"),
    )


def downgrade() -> None:
    op.drop_index("factored_invoices_held", table_name="factored_invoices")
    op.drop_table("factored_invoices")
