"""parked events carry their client

Every row carries its client (DOMAIN.md), and a parked event belongs to exactly one: the client whose cases it
names, checked before it was parked (an event that names another client's invoice, or several clients', is
refused, never parked). The per-client view of parked events reads the column instead of guessing through cases.

Rows parked so far get the client of their cases. One without any case cannot exist (an event is parked only once
each invoice it names was found), and would get '' (no client), so that, as before, no client sees it.

Revision ID: b5d2e8f41a93
Revises: f77db7386853
Create Date: 2026-11-24 10:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5d2e8f41a93"
down_revision: str | Sequence[str] | None = "f77db7386853"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("parked_events", sa.Column("client_id", sa.Text(), nullable=True))
    op.execute(
        "UPDATE parked_events p SET client_id = COALESCE("
        "(SELECT min(c.client_id) FROM cases c WHERE c.invoice_id = ANY(p.invoice_ids)), '')"
    )
    op.alter_column("parked_events", "client_id", nullable=False)
    op.create_index("parked_events_client", "parked_events", ["client_id"], unique=False)


def downgrade() -> None:
    op.drop_index("parked_events_client", table_name="parked_events")
    op.drop_column("parked_events", "client_id")
