"""The factoring gateway's own schema."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from servicekit.db import plumbing_tables

metadata = MetaData()
outbox, inbox = plumbing_tables(metadata)

integrations = Table(
    "integrations",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("client_name", Text, nullable=False),
    Column("organisation_number", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "provider"),
)

account_mappings = Table(
    "account_mappings",
    metadata,
    Column("client_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("accounts", JSONB, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("client_id", "provider"),
)

cases = Table(
    "cases",
    metadata,
    Column("invoice_id", UUID(as_uuid=True), primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("provider", Text, nullable=False),
    Column("invoice_number", Text, nullable=False),
    Column("customer_number", Integer, nullable=False),
    Column("gross_ore", BigInteger, nullable=False),
    Column("facts", JSONB, nullable=False),
    Column("status", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("status_sequence", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
Index("cases_client_provider", cases.c.client_id, cases.c.provider)

parked_events = Table(
    "parked_events",
    metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("provider", Text, nullable=False),
    Column("event_key", Text, nullable=False),
    Column("client_id", Text, nullable=False),  # whose cases its invoices are (checked before it was parked)
    Column("invoice_ids", ARRAY(UUID(as_uuid=True)), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("message_key", LargeBinary, nullable=True),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("provider", "event_key", name="parked_events_key"),
)
Index("parked_events_invoices", parked_events.c.invoice_ids, postgresql_using="gin")
Index("parked_events_client", parked_events.c.client_id)

deferred_activations = Table(
    "deferred_activations",
    metadata,
    Column("client_id", Text, primary_key=True),  # invoicing has one activation pending per client at a time
    Column("provider", Text, nullable=False),
    Column("request", LargeBinary, nullable=False),  # the FactoringActivationRequested, answered when it can be
    Column("reason", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("deferred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("tried_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
