"""payments passed on: what debtors paid the client by mistake and the client passed on to the provider

Revision ID: 431d93f70e30
Revises: ae827df47d4f
Create Date: 2026-11-23 17:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "431d93f70e30"
down_revision: str | Sequence[str] | None = "ae827df47d4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("invoices", sa.Column("passed_on_ore", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("invoices", "passed_on_ore")
