"""The financing gateway's own schema.

Projections of other services' events (clients, users' privileges, the chart, customer open items, the invoices
factoring providers hold) and the gateway's own state: onboardings, the receivables stream per client, credit
limits with their history, the posting option and the provider account's transactions.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
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
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from servicekit.db import plumbing_tables

metadata = MetaData()
outbox, inbox = plumbing_tables(metadata)

# --- projections ---------------------------------------------------------------------------------------------------
clients = Table(
    "clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("company_name", Text, nullable=False),
    Column("organisation_number", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

users = Table(
    "users",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("roles", ARRAY(Text), nullable=False),
    Column("privileges", ARRAY(Text), nullable=False),
    Column("sequence", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "user_id"),
)

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("number", Text, nullable=False),
    Column("account_type", Text, nullable=False),
    Column("control_role", Text, nullable=True),
    PrimaryKeyConstraint("client_id", "number"),
)

ledger_parties = Table(
    "ledger_parties",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("number", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("control_account", Text, nullable=False),
    PrimaryKeyConstraint("client_id", "number"),
)

open_items = Table(
    "open_items",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("party", Integer, nullable=False),
    Column("open_item", Text, nullable=False),
    Column("account", Text, nullable=False),
    Column("original_ore", BigInteger, nullable=False),
    Column("balance_ore", BigInteger, nullable=False),
    Column("due_date", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "party", "open_item"),
    CheckConstraint("balance_ore <> 0", name="open_items_only_open"),
)
"""Only items still open: a settled one is deleted, as the ledger's open-items report leaves it out."""

factored_invoices = Table(
    "factored_invoices",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("invoice_id", UUID(as_uuid=True), nullable=False),
    Column("provider", Text, nullable=False),
    Column("party", Integer, nullable=True),
    Column("open_item", Text, nullable=True),
    Column("status", Text, nullable=True),
    Column("status_sequence", BigInteger, nullable=False, server_default="0"),
    Column("held", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "invoice_id"),
)
"""Invoices handed to a factoring provider (`domain.factored`): party and open item from invoicing's delivery,
status from the factoring gateway. `held` (the provider holds the open item) keeps it out of the stream."""
Index(
    "factored_invoices_held",
    factored_invoices.c.client_id,
    factored_invoices.c.party,
    factored_invoices.c.open_item,
    postgresql_where=factored_invoices.c.held,
)

# --- the gateway's own state ---------------------------------------------------------------------------------------
onboardings = Table(
    "onboardings",
    metadata,
    Column("onboarding_id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("consent_given_by", Text, nullable=False),
    Column("consent_given_at", DateTime(timezone=True), nullable=False),
    Column("consent_text", Text, nullable=False),
    Column("consent_text_version", Text, nullable=False),
    Column("refusal_code", Text, nullable=True),
    Column("refusal_reason", Text, nullable=True),
    Column("withdrawn_by", Text, nullable=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("withdrawal_reason", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("onboardings_client", onboardings.c.client_id, onboardings.c.consent_given_at)

receivable_streams = Table(
    "receivable_streams",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("onboarding_id", UUID(as_uuid=True), nullable=True),
    Column("streaming", Boolean, nullable=False, server_default="false"),
    Column("last_sequence", BigInteger, nullable=False, server_default="0"),
    Column("snapshots_sent", Integer, nullable=False, server_default="0"),
    Column("changes_sent", BigInteger, nullable=False, server_default="0"),
    Column("last_sent_at", DateTime(timezone=True), nullable=True),
)
"""One row per client, also its lock: every handler that reads or moves the client's stream holds it."""

credit_limits = Table(
    "credit_limits",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("onboarding_id", UUID(as_uuid=True), nullable=False),
    Column("limit_ore", BigInteger, nullable=False),
    Column("used_ore", BigInteger, nullable=False),
    Column("available_ore", BigInteger, nullable=False),
    Column("based_on_sequence", BigInteger, nullable=False),
    Column("calculated_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("limit_ore >= 0 AND used_ore >= 0 AND available_ore >= 0", name="credit_limits_not_negative"),
)
Index("credit_limits_client", credit_limits.c.client_id, credit_limits.c.id)

posting_settings = Table(
    "posting_settings",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("enabled", Boolean, nullable=False),
    Column("bank_account", Text, nullable=True),
    Column("liability_account", Text, nullable=True),
    Column("liability_party", Integer, nullable=True),
    Column("changed_by", Text, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

provider_transactions = Table(
    "provider_transactions",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("transaction_id", Text, nullable=False),
    Column("amount_ore", BigInteger, nullable=False),
    Column("transaction_date", Date, nullable=False),
    Column("idempotency_key", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "kind", "transaction_id"),
)
"""Drawdowns and repayments, once each; `idempotency_key` is set when the gateway booked it, else it is manual."""
