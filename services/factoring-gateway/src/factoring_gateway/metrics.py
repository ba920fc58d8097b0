"""The factoring gateway's own metrics (the shared ones are in servicekit.metrics)."""

from prometheus_client import Counter, Gauge

parked_events = Gauge(
    "ledgerline_factoring_parked_events",
    "Provider events waiting for an earlier event of their invoice (e.g. one that was refused to the dead letters).",
    ["provider"],
)
parked_oldest_age = Gauge(
    "ledgerline_factoring_parked_oldest_age_seconds",
    "How long the oldest parked event of a provider has waited; alert when it grows.",
    ["provider"],
)
activations_deferred = Counter(
    "ledgerline_factoring_activations_deferred_total",
    "Activation requests (or retries of one) that the ledger did not answer: each waits and is retried.",
)
deferred_activations = Gauge(
    "ledgerline_factoring_deferred_activations",
    "Activation requests waiting for the ledger to answer (as last seen by the retry loop).",
)
cross_client_refusals = Counter(
    "ledgerline_factoring_cross_client_refusals_total",
    "Events refused because they name an invoice whose case belongs to another client (each also a dead letter).",
    ["source"],
)
