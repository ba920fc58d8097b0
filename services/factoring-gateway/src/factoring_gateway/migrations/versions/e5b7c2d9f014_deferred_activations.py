"""deferred activations: activation requests that wait for the ledger to answer

Revision ID: e5b7c2d9f014
Revises: d18a0c6e4b23
Create Date: 2026-11-30 18:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e5b7c2d9f014"
down_revision: str | Sequence[str] | None = "d18a0c6e4b23"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deferred_activations",
        sa.Column("client_id", sa.Text(), primary_key=True),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("request", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("deferred_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("tried_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("deferred_activations")
