"""outbox correlation: the record's correlation_id header, kept with the row

Revision ID: e19c0a7d5f32
Revises: d18a0c6e4b22
Create Date: 2026-11-30 20:40:00

"""

from collections.abc import Sequence

from servicekit.migrations import add_outbox_correlation, drop_outbox_correlation

revision: str = "e19c0a7d5f32"
down_revision: str | Sequence[str] | None = "d18a0c6e4b22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_outbox_correlation()


def downgrade() -> None:
    drop_outbox_correlation()
