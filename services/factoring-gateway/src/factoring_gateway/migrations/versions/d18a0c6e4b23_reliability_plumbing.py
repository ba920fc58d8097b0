"""reliability plumbing: outbox attempts and quarantine, inbox fingerprints

Revision ID: d18a0c6e4b23
Revises: b5d2e8f41a93
Create Date: 2026-11-30 17:30:00

"""

from collections.abc import Sequence

from servicekit.migrations import add_reliability_columns, drop_reliability_columns

revision: str = "d18a0c6e4b23"
down_revision: str | Sequence[str] | None = "b5d2e8f41a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    add_reliability_columns()


def downgrade() -> None:
    drop_reliability_columns()
