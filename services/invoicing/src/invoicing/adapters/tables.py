"""Invoicing's own schema. A client (with its users, roles and settings) is one row; cards and invoices are rows."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from servicekit.db import plumbing_tables

metadata = MetaData()
outbox, inbox = plumbing_tables(metadata)

clients = Table(
    "clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("company_name", Text, nullable=False),
    Column("organisation_number", Text, nullable=False),
    Column("settings", JSONB, nullable=False),
    Column("integration", JSONB, nullable=True),
    Column("roles", JSONB, nullable=False),
    Column("users", JSONB, nullable=False),
    Column("accounts", JSONB, nullable=False),
    Column("next_customer_number", Integer, nullable=False),
    Column("next_invoice_number", Integer, nullable=False),
    Column("privilege_sequence", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

customers = Table(
    "customers",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("use_factoring", Boolean, nullable=False),
    Column("delivery_method", Text, nullable=False),
    Column("delivery_method_before_factoring", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "number"),
)

# An invoice id is global, not per client: the client that created it owns it, and any other client's command
# naming it is refused ("invoice id X belongs to another client"; the upsert never overwrites another client's
# row). The id travels on to the factoring gateway, to the providers (their topics are keyed by it, their events
# name the invoice by it alone) and into the ledger's bookings, so one id must mean one invoice everywhere:
# composite keys here would leave the providers' events ambiguous.
invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("number", Text, nullable=True),
    Column("customer_number", Integer, nullable=False),
    Column("origin", Text, nullable=False),
    Column("invoice_date", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("net_ore", BigInteger, nullable=False),
    Column("vat_ore", BigInteger, nullable=False),
    Column("gross_ore", BigInteger, nullable=False),
    Column("state", Text, nullable=False),
    Column("delivery_method", Text, nullable=True),
    Column("factoring_provider", Text, nullable=True),
    Column("factoring_status", Text, nullable=True),
    Column("factoring_description", Text, nullable=True),
    Column("status_sequence", Integer, nullable=False, server_default="0"),
    Column("reminders", Boolean, nullable=False, server_default="false"),
    Column("debt_collection", Boolean, nullable=False, server_default="false"),
    Column("legacy_transfer", Text, nullable=True),
    Column("paid_ore", BigInteger, nullable=False, server_default="0"),
    Column("credited_ore", BigInteger, nullable=False, server_default="0"),
    Column("passed_on_ore", BigInteger, nullable=False, server_default="0"),
    Column("sent_at", DateTime(timezone=True), nullable=True),
)
Index(
    "invoices_number",
    invoices.c.client_id,
    invoices.c.number,
    unique=True,
    postgresql_where=invoices.c.number.isnot(None),
)
Index("invoices_client_state", invoices.c.client_id, invoices.c.state)

booking_problems = Table(
    "booking_problems",
    metadata,
    Column("idempotency_key", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("invoice_id", UUID(as_uuid=True), nullable=False),
    Column("event_type", Text, nullable=True),
    Column("code", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("rejected_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "idempotency_key"),  # the ledger's idempotency keys are per client
)
Index("booking_problems_invoice", booking_problems.c.invoice_id)

factoring_status_history = Table(
    "factoring_status_history",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("invoice_id", UUID(as_uuid=True), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("status", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("provider_event_id", Text, nullable=True),
    Column("applied", Boolean, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("factoring_status_history_invoice", factoring_status_history.c.invoice_id)
