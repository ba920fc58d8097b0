"""booking problems: bookings of invoicing's that the ledger refused

Revision ID: ae827df47d4f
Revises: fed9f16e724e
Create Date: 2026-11-23 16:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ae827df47d4f"
down_revision: str | Sequence[str] | None = "fed9f16e724e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "booking_problems",
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("invoice_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rejected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_index("booking_problems_invoice", "booking_problems", ["invoice_id"], unique=False)


def downgrade() -> None:
    op.drop_index("booking_problems_invoice", table_name="booking_problems")
    op.drop_table("booking_problems")
