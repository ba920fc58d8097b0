"""reliability plumbing: outbox attempts and quarantine, inbox fingerprints

Revision ID: d18a0c6e4b24
Revises: 8ce296e1dcd6
Create Date: 2026-11-30 17:30:00

"""

from collections.abc import Sequence

from servicekit.migrations import add_reliability_columns, drop_reliability_columns

revision: str = "d18a0c6e4b24"
down_revision: str | Sequence[str] | None = "8ce296e1dcd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_reliability_columns()


def downgrade() -> None:
    drop_reliability_columns()
