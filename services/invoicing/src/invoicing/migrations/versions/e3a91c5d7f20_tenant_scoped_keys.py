"""tenant-scoped keys: refused bookings per (client, key), payment ids claimed per client

Invoice ids stay global (one client owns each; another client's command naming it is refused, and the upsert
never overwrites another client's row), so the invoices table keeps its key. What was not scoped by client:

- booking_problems was keyed on the ledger's idempotency key alone, but the ledger's keys are per client
  (`credit:<credit note id>` of two clients collided): its key becomes (client_id, idempotency_key).
- payment ids were claimed in the inbox as `<invoice>:<payment>`; they are claimed as
  `<client>:<invoice>:<payment>` now, and the claims made so far are rewritten so (the invoice names its client).
- credit-note ids were claimed as `<credit note>`; new claims are `<client>:<credit note>`. The old claims do not
  say whose they were, so they stay as they are and the handler treats such an id as taken for every client.

Revision ID: e3a91c5d7f20
Revises: 431d93f70e30
Create Date: 2026-11-24 10:00:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "e3a91c5d7f20"
down_revision: str | Sequence[str] | None = "431d93f70e30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("booking_problems_pkey", "booking_problems", type_="primary")
    op.create_primary_key("booking_problems_pkey", "booking_problems", ["client_id", "idempotency_key"])
    op.execute(
        "UPDATE inbox SET message_key = i.client_id || ':' || inbox.message_key FROM invoices i "
        "WHERE inbox.consumer = 'invoicing.payments' "
        "AND inbox.message_key ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:' "
        "AND i.invoice_id = left(inbox.message_key, 36)::uuid"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE inbox SET message_key = substr(inbox.message_key, length(i.client_id) + 2) FROM invoices i "
        "WHERE inbox.consumer = 'invoicing.payments' "
        "AND starts_with(inbox.message_key, i.client_id || ':' || i.invoice_id::text || ':')"
    )
    # Two clients' refusals under one key cannot both stay: the older one does.
    op.execute(
        "DELETE FROM booking_problems p USING booking_problems q WHERE p.idempotency_key = q.idempotency_key "
        "AND (p.rejected_at, p.client_id) > (q.rejected_at, q.client_id)"
    )
    op.drop_constraint("booking_problems_pkey", "booking_problems", type_="primary")
    op.create_primary_key("booking_problems_pkey", "booking_problems", ["idempotency_key"])
