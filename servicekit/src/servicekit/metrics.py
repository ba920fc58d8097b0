"""The metrics every service exports, defined once. Labels stay bounded: topics, groups, kinds; never ids."""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter, Gauge, Histogram

registry = REGISTRY

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

messages_consumed = Counter(
    "ledgerline_messages_consumed_total",
    "Records taken from Kafka by a consumer group.",
    ["service", "consumer", "topic"],
)
messages_handled = Counter(
    "ledgerline_messages_handled_total",
    "Records whose effect committed (including duplicates skipped).",
    ["service", "consumer", "topic"],
)
batch_seconds = Histogram(
    "ledgerline_batch_handling_seconds",
    "Time to handle one batch of records in one transaction.",
    ["service", "consumer"],
    buckets=LATENCY_BUCKETS,
)
batch_size = Histogram(
    "ledgerline_batch_size",
    "Records per handled batch.",
    ["service", "consumer"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000),
)
dead_letters = Counter(
    "ledgerline_dead_letters_total",
    "Records sent to a dead-letter topic.",
    ["service", "consumer", "topic", "kind"],
)
retries = Counter(
    "ledgerline_retries_total",
    "Handler retries, by kind (transient infrastructure or suspected poison).",
    ["service", "consumer", "kind"],
)
handler_errors = Counter(
    "ledgerline_handler_errors_total",
    "Handler exceptions by exception type.",
    ["service", "consumer", "error"],
)
inbox_duplicates = Counter(
    "ledgerline_inbox_duplicates_total",
    "Messages skipped because their key was handled before.",
    ["service", "consumer"],
)
inbox_conflicts = Counter(
    "ledgerline_inbox_conflicts_total",
    "Messages refused because their key was handled before with other content (a reused id: a bug or a forgery).",
    ["service", "consumer"],
)
inbox_pruned = Counter(
    "ledgerline_inbox_pruned_total",
    "Inbox keys forgotten because they are older than the inbox retention.",
    ["service"],
)
offset_commit_failures = Counter(
    "ledgerline_offset_commit_failures_total",
    "Offset commits that failed (e.g. during a rebalance).",
    ["service", "consumer"],
)
batches_cut_short = Counter(
    "ledgerline_batches_cut_short_total",
    "Batches whose time budget ran out while failing records were isolated: what was finished is committed, the "
    "rest rewound and delivered again.",
    ["service", "consumer"],
)
consumer_lag = Gauge(
    "ledgerline_consumer_lag",
    "High watermark minus position, per assigned partition.",
    ["service", "consumer", "topic", "partition"],
)
outbox_backlog = Gauge("ledgerline_outbox_backlog", "Outbox rows not yet published.", ["service"])
outbox_oldest_age = Gauge(
    "ledgerline_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row.",
    ["service"],
)
outbox_published = Counter(
    "ledgerline_outbox_published_total",
    "Outbox rows published to Kafka, by topic.",
    ["service", "topic"],
)
outbox_quarantined = Gauge(
    "ledgerline_outbox_quarantined",
    "Outbox rows set aside because the broker refuses them (later rows of their key wait behind them).",
    ["service"],
)
outbox_quarantines = Counter(
    "ledgerline_outbox_quarantines_total",
    "Outbox rows set aside after failing for their own sake too many times, by topic.",
    ["service", "topic"],
)
outbox_publish_seconds = Histogram(
    "ledgerline_outbox_publish_seconds",
    "Time to publish and mark one outbox batch.",
    ["service"],
    buckets=LATENCY_BUCKETS,
)
command_results = Counter(
    "ledgerline_command_results_total",
    "Commands answered, accepted or refused.",
    ["service", "command", "outcome"],
)
auth_refusals = Counter(
    "ledgerline_auth_refusals_total",
    "Commands refused for their sender: no valid token (unauthenticated) or not allowed to (unauthorised).",
    ["service", "command", "kind"],
)
auth_seconds = Gauge(
    "ledgerline_auth_seconds",
    "Seconds spent checking tokens (commands and HTTP queries) since the process started.",
    ["service"],
)
