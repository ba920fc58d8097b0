"""Every Kafka topic of the system, in one place: names, partition counts and keys.

Names carry a contract version suffix (`.v1`): a breaking change gets a new topic, consumed side by side until
the old one drains. Partition keys keep what must stay in order together (one client's bookings, one invoice's
provider events). Topics are created explicitly (see `all_topics`); the brokers run without auto-creation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .providers import registry

PREFIX = os.environ.get("LEDGERLINE_TOPIC_PREFIX", "")
"""Namespaces every topic and consumer group (e.g. `staging.`), so several environments can share one cluster.
Empty by default; each test session sets its own."""


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    description: str
    envelopes: bool = False
    """Our services publish a unit of work's messages for one key as one record (`messages.envelope`); every
    consumer of the topic reads both envelopes and single messages."""
    authenticated: bool = False
    """Every record carries a signed token (`ledgerline_contracts.auth`) naming who sends it, which the consumer
    checks before acting. The broker stamps the append time on these topics, and a token's expiry is judged
    against it: a command that waited in Kafka is judged by when it was sent."""
    retention_days: int = 7
    """How long the broker keeps a record, so how long it can be delivered again (a rewind, a replay). The
    services' inboxes remember what they handled for longer than the longest of these (`replay_horizon_days`)."""

    def __post_init__(self) -> None:
        if PREFIX and not self.name.startswith(PREFIX):
            object.__setattr__(self, "name", PREFIX + self.name)

    @property
    def configs(self) -> dict[str, str]:
        """Topic configuration the topic is created (and kept) with."""
        configs = {"retention.ms": str(self.retention_days * 24 * 3600 * 1000)}
        if self.authenticated:
            configs["message.timestamp.type"] = "LogAppendTime"
        return configs


def group(name: str) -> str:
    """A consumer group's id on the cluster (namespaced like the topics)."""
    return PREFIX + name


# --- commands and events between our own services -------------------------------------------------------------
TOPIC_LEDGER_COMMANDS = Topic(
    "ledger.commands.v1",
    8,
    "client_id",
    "Chart of accounts, sub-ledgers, periods and booking commands (PostVoucher, ReverseVoucher) for the ledger. "
    "Written by invoicing, the factoring and financing gateways (each signs its records) and platform operators.",
    envelopes=True,
    authenticated=True,
)
TOPIC_LEDGER_EVENTS = Topic(
    "ledger.events.v1",
    8,
    "client_id",
    "What the ledger did: VoucherPosted, OpenItemChanged, chart and sub-ledger changes.",
    envelopes=True,
)
TOPIC_LEDGER_REJECTIONS = Topic(
    "ledger.booking-rejections.v1",
    4,
    "client_id",
    "BookingRejected: a booking command the ledger refused, with the reason. Never half-applied.",
    envelopes=True,
)
TOPIC_INVOICING_COMMANDS = Topic(
    "invoicing.commands.v1",
    8,
    "client_id",
    "Clients, users and roles, customer cards, invoices, legacy factoring and integration activation.",
    authenticated=True,
)
TOPIC_INVOICING_EVENTS = Topic(
    "invoicing.events.v1",
    8,
    "client_id",
    "What invoicing did: invoice deliveries for factoring, activation requests, privilege changes, payments.",
    envelopes=True,
)
TOPIC_FACTORING_COMMANDS = Topic(
    "factoring.commands.v1",
    4,
    "client_id",
    "Account mappings for factoring integrations.",
    authenticated=True,
)
TOPIC_FACTORING_EVENTS = Topic(
    "factoring.events.v1",
    8,
    "client_id",
    "What the factoring gateway did: activation answers, factoring status of invoices, reconciliation.",
    envelopes=True,
)
TOPIC_FINANCING_COMMANDS = Topic(
    "financing.commands.v1",
    4,
    "client_id",
    "Invoice-financing onboarding: consent, withdrawal, automatic-posting option.",
    authenticated=True,
)
TOPIC_FINANCING_EVENTS = Topic(
    "financing.events.v1",
    4,
    "client_id",
    "What the financing gateway did: onboarding state and credit limit changes.",
    envelopes=True,
)
TOPIC_COMMAND_RESULTS = Topic(
    "ledgerline.command-results.v1",
    4,
    "command_id",
    "CommandResult: every service's answer to every command it handled (accepted or refused, with reason).",
)


# --- provider topics: one pair per provider, so each provider reads and writes only its own --------------------
def factoring_providers() -> tuple[str, ...]:
    """The slugs of every installed factoring provider (one package each: `ledgerline_contracts.providers`)."""
    return tuple(registry.factoring_providers())


PROVIDER_KEY = (
    "invoice_id, or client_id for a message about the client as a whole (onboarding, offboarding, a remittance "
    "report); each message's schema names its key as `x-kafka-key`, a JSON Pointer into the payload"
)
"""A factoring provider topic's record key: one invoice's messages stay in one partition, in order."""


def factoring_outbound(slug: str) -> Topic:
    return Topic(
        f"factoring.{slug}.outbound.v1",
        registry.provider(slug).partitions,
        PROVIDER_KEY,
        f"Invoice deliveries (and onboarding) for {slug}, in {slug}'s own format. Only {slug} reads it.",
    )


def factoring_inbound(slug: str) -> Topic:
    return Topic(
        f"factoring.{slug}.inbound.v1",
        registry.provider(slug).partitions,
        PROVIDER_KEY,
        f"Events from {slug} about its invoices. Only {slug} writes it.",
    )


TOPIC_BUFFER_OUTBOUND = Topic(
    "financing.buffer.outbound.v1",
    4,
    "client_id",
    "To Buffer: consent/onboarding, receivables snapshot and changes with a per-client sequence, withdrawal.",
)
TOPIC_BUFFER_INBOUND = Topic(
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
        retention_days=28,  # four weeks to fix the cause and replay
    )


# --- consumer groups: one per (service, topic) it reads; each has its own dead-letter topic -----------------------
GROUP_LEDGER = "ledger"
GROUP_INVOICING_COMMANDS = "invoicing"
GROUP_INVOICING_LEDGER_EVENTS = "invoicing.ledger-events"
GROUP_INVOICING_FACTORING_EVENTS = "invoicing.factoring-events"
GROUP_INVOICING_BOOKING_REJECTIONS = "invoicing.booking-rejections"
GROUP_FACTORING_INVOICING_EVENTS = "factoring-gateway"
GROUP_FACTORING_COMMANDS = "factoring-gateway.commands"
GROUP_FINANCING_COMMANDS = "financing-gateway"
GROUP_FINANCING_INVOICING_EVENTS = "financing-gateway.invoicing-events"
GROUP_FINANCING_LEDGER_EVENTS = "financing-gateway.ledger-events"
GROUP_FINANCING_BUFFER = "financing-gateway.buffer"
GROUP_FINANCING_FACTORING_EVENTS = "financing-gateway.factoring-events"
# (The first group of each service kept the service's name when groups were split per topic; renaming a live
# group would re-read its topics from the start, so the names stay.)


def group_for_provider(slug: str) -> str:
    """The factoring gateway's consumer group for one provider's inbound topic (scaled per provider)."""
    return f"factoring-gateway.{slug}"


def consumer_groups() -> tuple[str, ...]:
    """Every consumer group of our services (each has its own dead-letter topic)."""
    return (
        GROUP_LEDGER,
        GROUP_INVOICING_COMMANDS,
        GROUP_INVOICING_LEDGER_EVENTS,
        GROUP_INVOICING_FACTORING_EVENTS,
        GROUP_INVOICING_BOOKING_REJECTIONS,
        GROUP_FACTORING_INVOICING_EVENTS,
        GROUP_FACTORING_COMMANDS,
        *(group_for_provider(slug) for slug in factoring_providers()),
        GROUP_FINANCING_COMMANDS,
        GROUP_FINANCING_INVOICING_EVENTS,
        GROUP_FINANCING_LEDGER_EVENTS,
        GROUP_FINANCING_BUFFER,
        GROUP_FINANCING_FACTORING_EVENTS,
    )


def all_topics() -> list[Topic]:
    topics = [
        TOPIC_LEDGER_COMMANDS,
        TOPIC_LEDGER_EVENTS,
        TOPIC_LEDGER_REJECTIONS,
        TOPIC_INVOICING_COMMANDS,
        TOPIC_INVOICING_EVENTS,
        TOPIC_FACTORING_COMMANDS,
        TOPIC_FACTORING_EVENTS,
        TOPIC_FINANCING_COMMANDS,
        TOPIC_FINANCING_EVENTS,
        TOPIC_COMMAND_RESULTS,
        TOPIC_BUFFER_OUTBOUND,
        TOPIC_BUFFER_INBOUND,
    ]
    for slug in factoring_providers():
        topics += [factoring_outbound(slug), factoring_inbound(slug)]
    topics += [dead_letters(group) for group in consumer_groups()]
    return topics


def replay_horizon_days() -> int:
    """The longest any record can come again (the longest topic retention): an inbox must remember longer."""
    return max(topic.retention_days for topic in all_topics())
