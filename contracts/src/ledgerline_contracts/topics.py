"""Every Kafka topic of the system, in one place: names, partition counts and keys.

Names carry a contract version suffix (`.v1`): a breaking change gets a new topic, consumed side by side until
the old one drains. Partition keys keep what must stay in order together (one client's bookings, one invoice's
provider events). Topics are created explicitly (see `all_topics`); the brokers run without auto-creation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

PREFIX = os.environ.get("LEDGERLINE_TOPIC_PREFIX", "")
"""Namespaces every topic and consumer group (e.g. `staging.`), so several environments can share one cluster.
Empty by default; each test session sets its own."""


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    description: str

    def __post_init__(self) -> None:
        if PREFIX and not self.name.startswith(PREFIX):
            object.__setattr__(self, "name", PREFIX + self.name)


def group(name: str) -> str:
    """A consumer group's id on the cluster (namespaced like the topics)."""
    return PREFIX + name


# --- commands and events between our own services -------------------------------------------------------------
LEDGER_COMMANDS = Topic(
    "ledger.commands.v1",
    8,
    "client_id",
    "Chart of accounts, sub-ledgers, periods and booking commands (PostVoucher, ReverseVoucher) for the ledger.",
)
LEDGER_EVENTS = Topic(
    "ledger.events.v1",
    8,
    "client_id",
    "What the ledger did: VoucherPosted, OpenItemChanged, chart and sub-ledger changes.",
)
LEDGER_REJECTIONS = Topic(
    "ledger.booking-rejections.v1",
    4,
    "client_id",
    "BookingRejected: a booking command the ledger refused, with the reason. Never half-applied.",
)
INVOICING_COMMANDS = Topic(
    "invoicing.commands.v1",
    8,
    "client_id",
    "Clients, users and roles, customer cards, invoices, legacy factoring and integration activation.",
)
INVOICING_EVENTS = Topic(
    "invoicing.events.v1",
    8,
    "client_id",
    "What invoicing did: invoice deliveries for factoring, activation requests, privilege changes, payments.",
)
FACTORING_COMMANDS = Topic(
    "factoring.commands.v1",
    4,
    "client_id",
    "Account mappings for factoring integrations.",
)
FACTORING_EVENTS = Topic(
    "factoring.events.v1",
    8,
    "client_id",
    "What the factoring gateway did: activation answers, factoring status of invoices, reconciliation.",
)
FINANCING_COMMANDS = Topic(
    "financing.commands.v1",
    4,
    "client_id",
    "Invoice-financing onboarding: consent, withdrawal, automatic-posting option.",
)
FINANCING_EVENTS = Topic(
    "financing.events.v1",
    4,
    "client_id",
    "What the financing gateway did: onboarding state and credit limit changes.",
)
COMMAND_RESULTS = Topic(
    "ledgerline.command-results.v1",
    4,
    "command_id",
    "CommandResult: every service's answer to every command it handled (accepted or refused, with reason).",
)

# --- provider topics: one pair per provider, so each provider reads and writes only its own --------------------
DEFAULT_PROVIDER_PARTITIONS = 6
PROVIDER_PARTITIONS: dict[str, int] = {"abc-factoring": 6, "fjord-invoice-sale": 4}
"""Partition count per provider; a provider's consumers scale up to this many instances."""

FACTORING_PROVIDERS = ("abc-factoring", "fjord-invoice-sale")
"""Every factoring provider the gateway ships an adapter for (their wire formats: ledgerline_contracts.providers)."""


def factoring_outbound(slug: str) -> Topic:
    return Topic(
        f"factoring.{slug}.outbound.v1",
        PROVIDER_PARTITIONS.get(slug, DEFAULT_PROVIDER_PARTITIONS),
        "invoice_id",
        f"Invoice deliveries (and onboarding) for {slug}, in {slug}'s own format. Only {slug} reads it.",
    )


def factoring_inbound(slug: str) -> Topic:
    return Topic(
        f"factoring.{slug}.inbound.v1",
        PROVIDER_PARTITIONS.get(slug, DEFAULT_PROVIDER_PARTITIONS),
        "invoice_id",
        f"Events from {slug} about its invoices. Only {slug} writes it.",
    )


BUFFER_OUTBOUND = Topic(
    "financing.buffer.outbound.v1",
    4,
    "client_id",
    "To Buffer: consent/onboarding, receivables snapshot and changes with a per-client sequence, withdrawal.",
)
BUFFER_INBOUND = Topic(
    "financing.buffer.inbound.v1",
    4,
    "client_id",
    "From Buffer: onboarding progress, refusals, credit limit offers and changes, drawdowns, resnapshot requests.",
)


def dead_letters(consumer_group: str) -> Topic:
    return Topic(
        f"deadletter.{consumer_group}.v1",
        1,
        "original key",
        f"Messages {consumer_group} could not handle: error, attempts, and the original bytes for replay.",
    )


CONSUMER_GROUPS = (
    "ledger",
    "invoicing",
    "invoicing.ledger-events",
    "invoicing.factoring-events",
    "invoicing.booking-rejections",
    "factoring-gateway",
    "factoring-gateway.commands",
    *(f"factoring-gateway.{slug}" for slug in FACTORING_PROVIDERS),
    "financing-gateway",
    "financing-gateway.invoicing-events",
    "financing-gateway.ledger-events",
    "financing-gateway.buffer",
)
"""Every consumer group of our services (each has its own dead-letter topic)."""


def all_topics() -> list[Topic]:
    topics = [
        LEDGER_COMMANDS,
        LEDGER_EVENTS,
        LEDGER_REJECTIONS,
        INVOICING_COMMANDS,
        INVOICING_EVENTS,
        FACTORING_COMMANDS,
        FACTORING_EVENTS,
        FINANCING_COMMANDS,
        FINANCING_EVENTS,
        COMMAND_RESULTS,
        BUFFER_OUTBOUND,
        BUFFER_INBOUND,
    ]
    for slug in FACTORING_PROVIDERS:
        topics += [factoring_outbound(slug), factoring_inbound(slug)]
    topics += [dead_letters(group) for group in CONSUMER_GROUPS]
    return topics
