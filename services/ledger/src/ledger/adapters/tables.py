"""The ledger's own schema. Vouchers and their lines are append-only (a trigger refuses UPDATE and DELETE)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from servicekit.db import plumbing_tables

metadata = MetaData()
outbox, inbox = plumbing_tables(metadata)

books = Table(
    "books",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("company_name", Text, nullable=False),
    Column("chart_version", Integer, nullable=False, server_default="1"),
    Column("closed_through", Date, nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

accounts = Table(
    "accounts",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("number", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("account_type", Text, nullable=False),
    Column("control_role", Text, nullable=True),
    PrimaryKeyConstraint("client_id", "number"),
)

subledger_series = Table(
    "subledger_series",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("control_account", Text, nullable=False),
    Column("first_number", Integer, nullable=False),
    Column("last_number", Integer, nullable=False),
    PrimaryKeyConstraint("client_id", "code"),
)

parties = Table(
    "parties",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("series", Text, nullable=False),
    PrimaryKeyConstraint("client_id", "number"),
)

voucher_sequences = Table(
    "voucher_sequences",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("series", Text, nullable=False),
    Column("last_number", Integer, nullable=False),
    PrimaryKeyConstraint("client_id", "series"),
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("series", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("voucher_date", Date, nullable=False),
    Column("text", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False),
    Column("source", JSONB, nullable=False),
    Column("invoice_id", UUID(as_uuid=True), nullable=True),
    Column("provider_event_id", Text, nullable=True),
    Column("reverses_voucher_id", UUID(as_uuid=True), nullable=True),
    Column("posted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("client_id", "series", "number", name="vouchers_number_unique"),
    UniqueConstraint("client_id", "idempotency_key", name="vouchers_idempotency_unique"),
)
Index("vouchers_invoice", vouchers.c.client_id, vouchers.c.invoice_id)
Index(
    "vouchers_reverses",
    vouchers.c.reverses_voucher_id,
    unique=True,
    postgresql_where=vouchers.c.reverses_voucher_id.isnot(None),
)

voucher_lines = Table(
    "voucher_lines",
    metadata,
    Column("voucher_id", UUID(as_uuid=True), nullable=False),
    Column("line_number", Integer, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("voucher_date", Date, nullable=False),
    Column("account", Text, nullable=False),
    Column("amount_ore", BigInteger, nullable=False),
    Column("party", Integer, nullable=True),
    Column("open_item", Text, nullable=True),
    Column("due_date", Date, nullable=True),
    Column("vat_code", Text, nullable=True),
    Column("description", Text, nullable=True),
    PrimaryKeyConstraint("voucher_id", "line_number"),
    ForeignKeyConstraint(["voucher_id"], ["vouchers.id"], name="voucher_lines_voucher"),
)
Index("voucher_lines_account", voucher_lines.c.client_id, voucher_lines.c.account, voucher_lines.c.voucher_date)
Index(
    "voucher_lines_open_item",
    voucher_lines.c.client_id,
    voucher_lines.c.party,
    voucher_lines.c.open_item,
    postgresql_where=voucher_lines.c.open_item.isnot(None),
)

open_item_balances = Table(
    "open_item_balances",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("party", Integer, nullable=False),
    Column("open_item", Text, nullable=False),
    Column("account", Text, nullable=False),
    Column("original_ore", BigInteger, nullable=False),
    Column("balance_ore", BigInteger, nullable=False),
    Column("due_date", Date, nullable=True),
    PrimaryKeyConstraint("client_id", "party", "open_item"),
)
"""Each customer open item's running sum of postings, written with them: what OpenItemChanged announces."""

rejected_bookings = Table(
    "rejected_bookings",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("idempotency_key", Text, nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False),
    Column("code", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("source", JSONB, nullable=True),
    Column("rejected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "idempotency_key"),
)

operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("client_id", Text, nullable=False),
    Column("command_id", UUID(as_uuid=True), nullable=False),
    Column("command_type", Text, nullable=False),
    Column("operator", Text, nullable=False),
    Column("accepted", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("details", JSONB, nullable=False, server_default="{}"),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("operator_actions_by_client", "client_id", "id"),
)
"""What platform operators did to a client's books (chart, periods, vouchers by hand), accepted or not: kept for
the client's accountant and the auditor, never changed."""
