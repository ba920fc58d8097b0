"""`ledgerline outbox`: the outbox rows a service has set aside because the broker refuses them, and their replay.

A row is quarantined after failing for its own sake several times (too large, a topic that does not exist or that
the service may not write); later rows of its key wait behind it. After the fix (the topic created, the ACL
granted, the limit raised), `replay` puts the rows back and the relay publishes them, then the rows held behind
them, in order. Each service answers for its own outbox over HTTP (`/outbox/quarantined`), to a platform
operator's token with the `outbox.quarantine` privilege: the CLI never reads a service's tables.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from ledgerline_contracts import auth

from .operator import QueryFailed, Urls, raise_for_refusal
from .tokens import local_issuer

console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def service_urls(urls: Urls) -> dict[str, str]:
    return {
        "ledger": urls.ledger,
        "invoicing": urls.invoicing,
        "factoring-gateway": urls.factoring,
        "financing-gateway": urls.financing,
    }


class OutboxAdmin:
    """The quarantine endpoints of every service, asked as a platform operator."""

    def __init__(self, urls: dict[str, str], token: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._urls = urls
        self._headers = {auth.HEADER: f"Bearer {token}"}
        self._transport = transport

    async def quarantined(self, service: str) -> list[dict[str, Any]]:
        return await self._call(service, "GET", "/outbox/quarantined")  # type: ignore[no-any-return]

    async def replay(self, service: str, ids: list[int] | None) -> list[int]:
        body = {"all": True} if ids is None else {"ids": ids}
        answer = await self._call(service, "POST", "/outbox/quarantined/replay", body)
        return list(answer["replayed"])

    async def _call(self, service: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if service not in self._urls:
            raise QueryFailed(f"no service {service!r}: one of {', '.join(self._urls)}")
        async with httpx.AsyncClient(base_url=self._urls[service], timeout=10, transport=self._transport) as http:
            try:
                response = await http.request(method, path, json=body, headers=self._headers)
            except httpx.HTTPError as error:
                raise QueryFailed(f"{service}: {error!r}") from None
        raise_for_refusal(response, f"{service} {path}")
        return response.json()


def render(service: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(
        "id", "topic", "key", "size", "attempts", "last error", "quarantined at", "held behind it",
        title=f"{service}: {len(rows)} quarantined outbox row(s)",
    )  # fmt: skip
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["topic"],
            row["key"] if row["key"] is not None else "-",
            f"{row['size']:,} B",
            str(row["attempts"]),
            (row["last_error"] or "")[:120],
            row["quarantined_at"][:19].replace("T", " "),
            str(row["held"]),
        )
    return table


def _admin() -> OutboxAdmin:
    base = int(os.environ.get("LEDGERLINE_PORT_BASE", "8100"))
    user = os.environ.get("LEDGERLINE_USER", "admin")
    token = local_issuer().operator(user, [auth.OUTBOX_QUARANTINE])
    return OutboxAdmin(service_urls(Urls.for_port_base(base)), token)


def register(app: typer.Typer) -> None:
    outbox_app = typer.Typer(help="Outbox rows the broker refuses: list them, replay them after a fix.")
    app.add_typer(outbox_app, name="outbox")

    @outbox_app.command("list")
    def list_rows(
        service: str = typer.Argument(..., help="ledger, invoicing, factoring-gateway or financing-gateway."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """A service's quarantined outbox rows: topic, key, size, attempts, last error (never the payload)."""
        try:
            rows = asyncio.run(_admin().quarantined(service))
        except QueryFailed as failure:
            err.print(f"[red]failed[/red]: {failure}")
            raise typer.Exit(1) from None
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        else:
            console.print(render(service, rows))

    @outbox_app.command("replay")
    def replay_rows(
        service: str = typer.Argument(..., help="ledger, invoicing, factoring-gateway or financing-gateway."),
        row_id: list[int] = typer.Option(None, "--id", help="A quarantined row's id (repeat the option)."),
        every: bool = typer.Option(False, "--all", help="Every quarantined row of the service."),
    ) -> None:
        """Puts quarantined rows back for publishing (after the fix): they go out, then the rows held behind them."""
        if every == bool(row_id):
            err.print("say which rows: --id N (repeatable) or --all")
            raise typer.Exit(2)
        try:
            replayed = asyncio.run(_admin().replay(service, None if every else list(row_id)))
        except QueryFailed as failure:
            err.print(f"[red]failed[/red]: {failure}")
            raise typer.Exit(1) from None
        console.print(f"{service}: {len(replayed)} row(s) back for publishing" + (f": {replayed}" if replayed else ""))
