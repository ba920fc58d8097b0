"""The ledger's own metrics (the shared ones are in servicekit.metrics)."""

from prometheus_client import Counter, Histogram

from servicekit.metrics import LATENCY_BUCKETS

vouchers_posted = Counter("ledgerline_vouchers_posted_total", "Vouchers posted, by voucher series.", ["series"])
vouchers_rejected = Counter(
    "ledgerline_vouchers_rejected_total", "Booking commands rejected, by reason code.", ["code"]
)
posting_lines = Counter("ledgerline_posting_lines_total", "Posting lines written.")
booking_latency = Histogram(
    "ledgerline_booking_latency_seconds",
    "From booking command published to voucher committed.",
    ["source"],
    buckets=LATENCY_BUCKETS,
)
