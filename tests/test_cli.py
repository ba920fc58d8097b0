"""The operator CLI against the test stack: commands go out over Kafka, reports come back over HTTP."""

from __future__ import annotations

import json
import uuid

import pytest
from typer.testing import CliRunner

from ledgerline_cli.main import app
from ledgerline_cli.stack import Stack

pytestmark = pytest.mark.integration


def test_the_cli_drives_a_client_and_says_why_when_refused(services: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERLINE_PORT_BASE", str(services.port_base))
    monkeypatch.setenv("LEDGERLINE_KAFKA", services.bootstrap)
    runner = CliRunner()
    client = f"cli-{uuid.uuid4().hex[:8]}"

    created = runner.invoke(app, ["client", "create", client, "--company", "CLI AS", "--org-no", "912345678"])
    assert created.exit_code == 0, created.output
    assert "accepted by invoicing" in created.output

    refused = runner.invoke(app, ["factoring", "activate", client, "abc-factoring"])
    assert refused.exit_code == 1
    assert "the client's address is missing" in " ".join(refused.output.split())  # rich wraps lines
    address = ["--street", "Dronningens gate 10", "--postcode", "0152", "--city", "Oslo"]
    assert runner.invoke(app, ["client", "settings", client, *address]).exit_code == 0
    refused = runner.invoke(app, ["factoring", "activate", client, "abc-factoring"])
    assert refused.exit_code == 1
    assert "no account mapped for intermediate" in " ".join(refused.output.split())

    customer = runner.invoke(
        app,
        ["customer", "add", client, "--first-name", "Kari", "--last-name", "Nordmann", "--email", "kari@example.no"],
    )
    assert customer.exit_code == 0, customer.output
    draft = runner.invoke(app, ["invoice", "create", client, "--customer", "10001", "--line", "Consulting:1000"])
    assert draft.exit_code == 0, draft.output
    invoice_id = draft.output.split()[-1]
    assert runner.invoke(app, ["invoice", "send", client, invoice_id]).exit_code == 0

    report = runner.invoke(app, ["report", "invoices", client, "--unpaid", "--json"])
    assert report.exit_code == 0, report.output
    rows = json.loads(report.output)
    assert [(r["number"], r["gross_ore"], r["delivery_method"]) for r in rows] == [("1001", 125_000, "email")]
    trial = runner.invoke(app, ["report", "trial-balance", client])
    assert trial.exit_code == 0 and "Trial balance" in trial.output
