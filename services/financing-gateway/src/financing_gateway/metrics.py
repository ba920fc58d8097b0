"""The financing gateway's own metrics (the shared ones are in servicekit.metrics)."""

from prometheus_client import Counter, Gauge

stream_sequence = Gauge(
    "ledgerline_receivable_stream_sequence",
    "Last sequence number sent on a client's receivables stream to the provider.",
    # One series per client that ever consented: bounded by the clients using invoice financing, and it is
    # exactly what an operator compares with the provider's view when a client's limit looks stale.
    ["client_id"],
)
snapshots_sent = Counter(
    "ledgerline_receivable_snapshots_sent_total", "Receivables snapshots sent to the provider (all parts as one)."
)
snapshot_parts_sent = Counter("ledgerline_receivable_snapshot_parts_sent_total", "Snapshot messages sent.")
changes_sent = Counter(
    "ledgerline_receivable_changes_sent_total", "Receivable changes sent to the provider, by kind.", ["change"]
)
onboarding_transitions = Counter(
    "ledgerline_financing_onboarding_transitions_total", "Onboardings entering a state.", ["state"]
)
refusals = Counter("ledgerline_financing_refusals_total", "Financing commands refused, by reason code.", ["code"])
transactions = Counter(
    "ledgerline_financing_transactions_total",
    "Drawdowns and repayments on the provider account, booked by us or left manual.",
    ["kind", "posting"],
)
