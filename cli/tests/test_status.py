"""`ledgerline status`: rows from two canned scrapes, the text format read like Prometheus reads it, the rendering,
and the command end to end against a stand-in /metrics server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import typer
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from typer.testing import CliRunner

from ledgerline_cli import status as status_module
from ledgerline_cli.status import GroupRow, ProcessRow, Scrape, Status, TopicRow, parse_exposition, render, status

LEDGER_BEFORE = """\
# HELP ledgerline_messages_consumed_total Records taken from Kafka by a consumer group.
# TYPE ledgerline_messages_consumed_total counter
ledgerline_messages_consumed_total{consumer="ledger",service="ledger",topic="ledger.commands.v1"} 100.0
ledgerline_messages_handled_total{consumer="ledger",service="ledger",topic="ledger.commands.v1"} 90.0
ledgerline_outbox_published_total{service="ledger",topic="ledger.events.v1"} 50.0
ledgerline_vouchers_posted_total{series="sales"} 10.0
ledgerline_vouchers_posted_total{series="factoring"} 5.0
ledgerline_consumer_lag{consumer="ledger",partition="0",service="ledger",topic="ledger.commands.v1"} 30.0
ledgerline_outbox_backlog{service="ledger"} 0.0
ledgerline_outbox_oldest_age_seconds{service="ledger"} 0.0
"""
LEDGER_AFTER = """\
ledgerline_messages_consumed_total{consumer="ledger",service="ledger",topic="ledger.commands.v1"} 300.0
ledgerline_messages_handled_total{consumer="ledger",service="ledger",topic="ledger.commands.v1"} 290.0
ledgerline_outbox_published_total{service="ledger",topic="ledger.events.v1"} 10.0
ledgerline_vouchers_posted_total{series="sales"} 40.0
ledgerline_vouchers_posted_total{series="factoring"} 5.0
ledgerline_vouchers_posted_total{series="credit"} 2.0
ledgerline_consumer_lag{consumer="ledger",partition="0",service="ledger",topic="ledger.commands.v1"} 3.0
ledgerline_consumer_lag{consumer="ledger",partition="1",service="ledger",topic="ledger.commands.v1"} 4.0
ledgerline_outbox_backlog{service="ledger"} 12.0
ledgerline_outbox_oldest_age_seconds{service="ledger"} 1.5
"""
INBOUND, OUTBOUND = "t1.factoring.abc-factoring.inbound.v1", "t1.factoring.abc-factoring.outbound.v1"
GROUP = "factoring-gateway.abc-factoring"
# The gateway: its lag monitor names the group as the broker knows it (namespaced), its counters as the code does.
GATEWAY_BEFORE = f"""\
ledgerline_messages_consumed_total{{consumer="{GROUP}",topic="{INBOUND}"}} 20.0
faststream_received_messages_total{{app_name="factoring-gateway",handler="{INBOUND}"}} 20.0
faststream_published_messages_total{{app_name="factoring-gateway",destination="{OUTBOUND}",status="success"}} 8.0
"""
GATEWAY_AFTER = f"""\
ledgerline_messages_consumed_total{{consumer="{GROUP}",topic="{INBOUND}"}} 60.0
ledgerline_consumer_lag{{consumer="t1.{GROUP}",partition="2",topic="{INBOUND}"}} 5.0
ledgerline_dead_letters_total{{consumer="{GROUP}",kind="refused",topic="{INBOUND}"}} 3.0
faststream_received_messages_total{{app_name="factoring-gateway",handler="{INBOUND}"}} 60.0
faststream_published_messages_total{{app_name="factoring-gateway",destination="{OUTBOUND}",status="success"}} 16.0
faststream_published_messages_total{{app_name="factoring-gateway",destination="{OUTBOUND}",status="error"}} 1.0
"""
SIMULATOR_BEFORE = f"""\
ledgerline_simulator_received_total{{simulator="abc-factoring",type="abc.InvoiceSubmission"}} 8.0
ledgerline_simulator_sent_total{{simulator="abc-factoring",type="abc.InvoiceEvent"}} 20.0
faststream_received_messages_total{{app_name="abc-factoring",handler="{OUTBOUND}"}} 8.0
faststream_published_messages_total{{app_name="abc-factoring",destination="{INBOUND}",status="success"}} 20.0
"""
SIMULATOR_AFTER = f"""\
ledgerline_simulator_received_total{{simulator="abc-factoring",type="abc.InvoiceSubmission"}} 16.0
ledgerline_simulator_sent_total{{simulator="abc-factoring",type="abc.InvoiceEvent"}} 60.0
faststream_received_messages_total{{app_name="abc-factoring",handler="{OUTBOUND}"}} 16.0
faststream_published_messages_total{{app_name="abc-factoring",destination="{INBOUND}",status="success"}} 60.0
"""
BEFORE = Scrape(
    100.0,
    {
        "ledger": parse_exposition(LEDGER_BEFORE),
        "factoring-gateway": parse_exposition(GATEWAY_BEFORE),
        "abc-factoring-simulator": parse_exposition(SIMULATOR_BEFORE),
        "invoicing": parse_exposition(""),
        "buffer-simulator": None,
    },
)
AFTER = Scrape(
    102.0,
    {
        "ledger": parse_exposition(LEDGER_AFTER),
        "factoring-gateway": parse_exposition(GATEWAY_AFTER),
        "abc-factoring-simulator": parse_exposition(SIMULATOR_AFTER),
        "invoicing": None,
        "buffer-simulator": parse_exposition(SIMULATOR_AFTER),
    },
)


def test_rows_from_two_scrapes() -> None:
    rows = status(BEFORE, AFTER)
    assert rows.processes == [
        # 200 records in 2 s; the outbox counter went down (a restart), so its 10 count from zero; a voucher series
        # that appeared in between started at zero.
        ProcessRow("ledger", True, 100.0, 100.0, 5.0, 7.0, 12.0, 1.5, None, 16.0),
        ProcessRow("factoring-gateway", True, 20.0, None, None, 5.0, None, None, 3.0, None),
        ProcessRow("abc-factoring-simulator", True, 4.0, None, 20.0, None, None, None, None, None),
        ProcessRow.down("invoicing"),
        # Up now, down before: no rate yet.
        ProcessRow("buffer-simulator", True, None, None, None, None, None, None, None, None),
    ]
    assert rows.groups == [
        GroupRow("ledger", "ledger", "ledger.commands.v1", 100.0, 100.0, 7.0),
        GroupRow("factoring-gateway", GROUP, INBOUND, 20.0, None, 5.0),
    ]
    assert rows.provider_topics == [
        # Both sides of each provider topic; a failed publish wrote nothing.
        TopicRow(INBOUND, "abc-factoring", "from provider", 20.0, 20.0, 5.0),
        TopicRow(OUTBOUND, "abc-factoring", "to provider", 4.0, 4.0, None),
    ]


def test_a_first_scrape_shows_gauges_and_no_rates() -> None:
    ledger = status(None, AFTER).processes[0]
    assert ledger == ProcessRow("ledger", True, None, None, None, 7.0, 12.0, 1.5, None, None)


def test_the_text_format_is_read_like_prometheus_reads_it() -> None:
    registry = CollectorRegistry()
    Counter("odd_total", "labels that need escaping", ["text"], registry=registry).labels('a "b" \\ c\nd, e}').inc(3)
    Histogram("latency_seconds", "a histogram", ["service"], registry=registry, buckets=(0.1, 1.0)).labels("x").observe(
        0.5
    )
    Gauge("plain", "no labels", registry=registry).set(-2.5e-3)
    exposition = generate_latest(registry).decode()
    expected = {
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }
    assert {(s.name, s.labels, s.value) for s in parse_exposition(exposition)} == expected


def test_rendering_shows_every_row() -> None:
    console = Console(record=True, width=220)
    console.print(render(status(BEFORE, AFTER)))
    rows = {
        tuple(cell.strip() for cell in line.strip("│").split("│"))
        for line in console.export_text().splitlines()
        if line.startswith("│")
    }
    assert ("ledger", "up", "100.0/s", "100.0/s", "5.0/s", "7", "12", "1.5 s", "-", "-", "16.0/s") in rows
    assert ("invoicing", "down", "-", "-", "-", "-", "-", "-", "-", "-", "-") in rows
    assert (GROUP, "factoring-gateway", INBOUND, "20.0/s", "-", "5") in rows
    assert (INBOUND, "abc-factoring", "from provider", "20.0/s", "20.0/s", "5") in rows


async def test_a_process_that_does_not_answer_200_is_down() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.host == "unreachable":
            raise httpx.ConnectError("refused", request=request)
        if request.url.host == "starting":
            return httpx.Response(503)
        return httpx.Response(200, text=LEDGER_AFTER)

    targets = {"ledger": "http://ledger", "invoicing": "http://starting", "buffer-simulator": "http://unreachable"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(serve)) as http:
        scraped = await status_module.scrape(targets, http)
    assert scraped.processes == {"ledger": parse_exposition(LEDGER_AFTER), "invoicing": None, "buffer-simulator": None}


@pytest.fixture
def counting_metrics_server() -> Iterator[str]:
    """A /metrics whose consumer counter grows by 10 at every scrape."""
    scrapes = iter(range(1_000_000))

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f'ledgerline_messages_consumed_total{{consumer="ledger",topic="t"}} {next(scrapes) * 10}\n'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_command_prints_json_rows(counting_metrics_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    targets = {"ledger": counting_metrics_server, "invoicing": f"http://127.0.0.1:{_closed_port()}"}
    monkeypatch.setattr(status_module, "_targets", lambda port_base: targets)
    app = typer.Typer()
    status_module.register(app)
    app.callback()(lambda: None)  # a group, like `ledgerline`, so the command is called by name
    result = CliRunner().invoke(app, ["status", "--once", "--json", "--interval", "0.2"])
    assert result.exit_code == 0, result.output
    rows = Status(**json.loads(result.output))
    ledger, invoicing = (ProcessRow(**row) for row in rows.processes)  # type: ignore[arg-type]
    assert ledger.up and ledger.consumed_per_s is not None and 10 <= ledger.consumed_per_s <= 50  # 10 per 0.2-1 s
    assert not invoicing.up


def test_register_adds_status_with_its_options() -> None:
    app = typer.Typer()
    status_module.register(app)
    app.callback()(lambda: None)
    result = CliRunner().invoke(app, ["status", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--watch", "--once", "--port-base", "--json", "--interval"):
        assert option in result.output
