"""The real Prometheus raises the lag alert: the stack's own Prometheus (rules from infra/prometheus/rules/, with
`for:` shortened to seconds) watches the test stack while the ledger is stopped under load, and the alert for the
ledger's group fires; with the ledger back, every command is booked and the alert resolves."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledgerline_cli.bus import Bus
from ledgerline_cli.monitoring import Monitoring, rule_files, throughput, with_short_for
from ledgerline_cli.stack import Stack
from ledgerline_contracts import ledger as L
from ledgerline_contracts import topics

pytestmark = pytest.mark.integration
COMMANDS = 800  # more than the alert's 500 records of lag


@pytest.fixture
def prometheus(services: Stack, tmp_path: Path) -> Iterator[Monitoring]:
    watcher = Monitoring(
        services,
        scrape_interval="1s",
        evaluation_interval="1s",
        rules=with_short_for(rule_files(), tmp_path / "rules", "5s"),
        exporter_interval=1.0,
    )
    assert watcher.start(), "Prometheus is not installed: `bash infra/prometheus/prometheus.sh install`"
    try:
        yield watcher
    finally:
        watcher.stop()


def lag_alerts(watcher: Monitoring, state: str) -> list[dict[str, Any]]:
    return [
        a
        for a in watcher.alerts()
        if a["labels"]["alertname"] == "LedgerlineConsumerLagHigh"
        and a["labels"]["group"] == "ledger"
        and a["state"] == state
    ]


async def poll(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := await asyncio.to_thread(probe):
            return found
        await asyncio.sleep(1)
    raise AssertionError(f"not seen in {timeout:.0f} s: {what}")


async def test_stopping_the_ledger_under_load_raises_the_lag_alert_in_prometheus_and_it_resolves(
    services: Stack, prometheus: Monitoring, bus: Bus
) -> None:
    clients = [f"lag-{uuid.uuid4().hex[:10]}" for _ in range(8)]
    for client in clients:  # the ledger handles these, so its group has committed offsets to count from
        opening = L.OpenBooks(client_id=client, company_name="Lag AS")
        await bus.command(topics.TOPIC_LEDGER_COMMANDS, opening, key=client)
    await poll(
        lambda: prometheus.query('ledgerline:consumer_group_lag:sum{group="ledger"}'),
        30,
        "the ledger group's lag, measured by the broker-side exporter and recorded",
    )
    assert lag_alerts(prometheus, "firing") == []

    commands = [
        L.PostVoucher(
            client_id=client,
            idempotency_key=f"lag-{i}",
            voucher_date=date.today(),
            text=f"Sale {i}",
            lines=[
                L.VoucherLine(account="1920", side="debit", amount_ore=100 + i),
                L.VoucherLine(account="3000", side="credit", amount_ore=100 + i),
            ],
            source=L.BookingSource(service="prometheus-test"),
        )
        for i in range(COMMANDS // len(clients))
        for client in clients
    ]
    services.stop("ledger")
    try:
        await asyncio.gather(*(bus.send(topics.TOPIC_LEDGER_COMMANDS, c, c.client_id) for c in commands))
        started = time.monotonic()
        firing = await poll(lambda: lag_alerts(prometheus, "firing"), 60, "LedgerlineConsumerLagHigh for the ledger")
        print(f"lag alert firing {time.monotonic() - started:.1f} s after the load: {firing[0]['annotations']}")
        assert float(firing[0]["value"]) >= COMMANDS
        assert firing[0]["annotations"]["runbook_url"] == "docs/runbook.md#ledgerlineconsumerlaghigh"
        down = [
            a
            for a in prometheus.alerts()
            if a["labels"]["alertname"] == "LedgerlineServiceDown" and a["labels"]["service"] == "ledger"
        ]
        assert down, "the stopped ledger is also seen down"
    finally:
        services.start("ledger")
        services.wait_ready(["ledger"])

    results = await asyncio.gather(*(bus.result(c.message_id, timeout=90) for c in commands))
    assert all(r.accepted for r in results), "every command waiting during the outage is booked"
    await poll(
        lambda: not lag_alerts(prometheus, "firing") and not lag_alerts(prometheus, "pending"),
        60,
        "the lag alert resolved",
    )
    # The demo's summary reads the same Prometheus: the ledger handled the load, booked for the test's source.
    booked = time.time()
    await poll(lambda: prometheus.scraped_since(booked), 10, "a scrape after the bookings")
    per_service, _ = throughput(prometheus, 120)
    ledger = next(row for row in per_service if row[0] == "ledger")
    assert float(ledger[1]) >= COMMANDS  # since its restart
    vouchers = prometheus.query('sum(ledgerline_booking_latency_seconds_count{source="prometheus-test"})')
    assert vouchers and vouchers[0]["value"] >= COMMANDS
