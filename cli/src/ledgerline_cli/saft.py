"""`ledgerline report saft`: the ledger's SAF-T Financial 1.30 file for a period, written to disk.

The ledger builds the file (it owns the postings); the organisation number, which invoicing keeps with the
client, is asked of invoicing and handed to the ledger, unless given with --org-number.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

from .operator import Operator, raise_for_refusal

Runner = Callable[[Callable[[Operator], Awaitable[Any]], str], Any]


async def fetch_saft(
    op: Operator,
    client_id: str,
    start: date,
    end: date,
    organisation_number: str | None = None,
    contact: str | None = None,
    phone: str | None = None,
) -> tuple[str, bytes]:
    """The suggested file name and the XML, from the ledger's `/saft` query (asked with a token of the client)."""
    if organisation_number is None:
        organisation_number = (await op.client(client_id)).get("organisation_number")
    params = {"from": start.isoformat(), "to": end.isoformat()}
    extra = {"organisation_number": organisation_number, "contact": contact, "phone": phone}
    params |= {k: v for k, v in extra.items() if v}
    headers = {"authorization": f"Bearer {op.token(client_id)}"}
    async with httpx.AsyncClient(base_url=op.urls.ledger, timeout=60) as http:
        response = await http.get(f"/clients/{client_id}/saft", params=params, headers=headers)
    raise_for_refusal(response, f"/clients/{client_id}/saft")
    disposition = response.headers.get("content-disposition", "")
    name = disposition.partition('filename="')[2].rstrip('"') or f"SAF-T Financial_{client_id}.xml"
    return name, response.content


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def register(report_app: typer.Typer, run: Runner) -> None:
    console = Console(stderr=True)

    @report_app.command("saft")
    def report_saft(
        client: str,
        start: str = typer.Option(..., "--from", help="First day of the period (YYYY-MM-DD)."),
        end: str = typer.Option(..., "--to", help="Last day of the period (YYYY-MM-DD)."),
        output: Path = typer.Option(
            None, "--output", "-o", help="File to write ('-' for stdout); default: Skatteetaten's file name."
        ),
        org_number: str = typer.Option(None, "--org-number", help="Default: the client's, from invoicing."),
        contact: str = typer.Option(None, help="Contact person for the header (first and last name)."),
        phone: str = typer.Option(None, help="The contact person's telephone."),
    ) -> None:
        """SAF-T Financial 1.30 export (Norway) of the ledger for a period: chart with balances, customers and
        suppliers, VAT codes and the period's vouchers."""
        first, last = _day(start, "--from"), _day(end, "--to")
        name, xml = run(lambda op: fetch_saft(op, client, first, last, org_number, contact, phone), "fetching")
        if str(output) == "-":
            sys.stdout.buffer.write(xml)
            return
        target = output or Path(name)
        target.write_bytes(xml)
        console.print(f"wrote {target} ({len(xml):,} bytes)")
