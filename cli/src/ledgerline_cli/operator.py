"""Everything an operator can do, as one async API over Kafka commands and HTTP queries.

The `ledgerline` command, the demo and the end-to-end tests all drive the system through this class: never
through a service's tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx

from ledgerline_contracts import factoring, invoicing, ledger, topics
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.invoicing import CustomerData, InvoiceLine
from ledgerline_contracts.messages import Command, CommandResult
from ledgerline_contracts.norway import KidScheme

from .bus import Bus


@dataclass(frozen=True)
class Urls:
    ledger: str = "http://127.0.0.1:8101"
    invoicing: str = "http://127.0.0.1:8102"
    factoring: str = "http://127.0.0.1:8103"
    financing: str = "http://127.0.0.1:8104"
    abc_simulator: str = "http://127.0.0.1:8111"
    fjord_simulator: str = "http://127.0.0.1:8112"
    buffer_simulator: str = "http://127.0.0.1:8113"

    @classmethod
    def for_port_base(cls, base: int) -> Urls:
        return cls(*(f"http://127.0.0.1:{base + offset}" for offset in (1, 2, 3, 4, 11, 12, 13)))


class QueryFailed(Exception):
    pass


def raise_for_refusal(response: httpx.Response, what: str) -> None:
    """A service's refusal (4xx/5xx) as QueryFailed, with the reason from its JSON body (`error`) when it gives one."""
    if response.status_code < 400:
        return
    try:
        reason = response.json().get("error", response.text)
    except ValueError:
        reason = response.text
    raise QueryFailed(f"{what}: {reason}")


class Operator:
    def __init__(self, bus: Bus, urls: Urls, user: str = "admin", timeout: float = 30.0) -> None:
        self.bus = bus
        self.urls = urls
        self.user = user
        self.timeout = timeout

    # --- plumbing -------------------------------------------------------------------------------------------------
    async def _command(self, topic: topics.Topic, command: Command, *, expect_accepted: bool = True) -> CommandResult:
        """Sent as the command's acting user (else the operator's own user) of its client; the ledger's chart and
        periods, and new clients, as a platform operator."""
        as_platform = topic == topics.TOPIC_LEDGER_COMMANDS or isinstance(command, invoicing.CreateClient)
        user = getattr(command, "acting_user", None) or self.user
        token = self.bus.signer().operator(self.user) if as_platform else self.token(command.client_id, user)
        return await self.bus.command(
            topic, command, key=command.client_id, timeout=self.timeout, expect_accepted=expect_accepted, token=token
        )

    def token(self, client_id: str, user: str | None = None) -> str:
        """A token of `user` (default: the operator's own user) of one client, from the local issuer."""
        return self.bus.signer().user(client_id, user or self.user)

    async def get(self, url: str, path: str, user: str | None = None, **params: Any) -> Any:
        """A query about the client the path names, with a token of `user` (default: the operator's user)."""
        client_id = path.removeprefix("/clients/").split("/")[0]
        headers = {"authorization": f"Bearer {self.token(client_id, user)}"}
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            response = await http.get(path, params={k: v for k, v in params.items() if v is not None}, headers=headers)
        raise_for_refusal(response, path)
        return response.json()

    async def put(self, url: str, path: str, body: dict[str, Any]) -> Any:
        return await self._send("PUT", url, path, body)

    async def post(self, url: str, path: str, body: dict[str, Any]) -> Any:
        return await self._send("POST", url, path, body)

    async def _send(self, method: str, url: str, path: str, body: dict[str, Any]) -> Any:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            response = await http.request(method, path, json=body)
        if response.status_code >= 400:
            raise QueryFailed(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    # --- clients, users, roles ------------------------------------------------------------------------------------
    async def create_client(
        self,
        client_id: str,
        company: str,
        organisation_number: str,
        admin_name: str = "Administrator",
        *,
        address: invoicing.Address | None = None,
        vat_registered: bool = False,
        kid_scheme: str = "MOD10",
    ) -> CommandResult:
        """A new client; `address`, `vat_registered` («MVA») and `kid_scheme` are what its invoices show."""
        result = await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.CreateClient(
                client_id=client_id,
                company_name=company,
                organisation_number=organisation_number,
                administrator=self.user,
                administrator_name=admin_name,
                address=address,
                vat_registered=vat_registered,
                kid_scheme=KidScheme(kid_scheme),
            ),
        )
        await self.wait_for_books(client_id)
        return result

    async def wait_for_books(self, client_id: str) -> None:
        """Invoicing opens the books in the ledger asynchronously; wait until they are there."""
        import asyncio

        for _ in range(int(self.timeout * 10)):
            chart = await self.get(self.urls.ledger, f"/clients/{client_id}/chart")
            if chart["books"] is not None:
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the ledger has not opened books for {client_id}")

    async def add_user(self, client_id: str, user_id: str, name: str, roles: list[str]) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.AddUser(client_id=client_id, acting_user=self.user, user_id=user_id, name=name, roles=roles),
        )

    async def grant(self, client_id: str, role: str, privilege: str, *, revoke: bool = False) -> CommandResult:
        kind = invoicing.RevokePrivilege if revoke else invoicing.GrantPrivilege
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            kind(client_id=client_id, acting_user=self.user, role=role, privilege=privilege),
        )

    async def settings(
        self, client_id: str, expect_accepted: bool = True, **changes: bool | str | invoicing.Address
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.ChangeClientSettings(client_id=client_id, acting_user=self.user, **changes),
            expect_accepted=expect_accepted,
        )

    async def follow_up(
        self, client_id: str, kind: str, service_name: str | None, expect_accepted: bool = True
    ) -> CommandResult:
        """Connects a reminder or debt-collection service (`service_name`), or disconnects it (None)."""
        command: Command
        if service_name is None:
            command = invoicing.DisconnectFollowUpIntegration(
                client_id=client_id, acting_user=self.user, kind=invoicing.FollowUp(kind)
            )
        else:
            command = invoicing.ConnectFollowUpIntegration(
                client_id=client_id, acting_user=self.user, kind=invoicing.FollowUp(kind), service_name=service_name
            )
        return await self._command(topics.TOPIC_INVOICING_COMMANDS, command, expect_accepted=expect_accepted)

    async def posting_accounts(
        self, client_id: str, accounts: dict[str, str], expect_accepted: bool = True
    ) -> CommandResult:
        """Where invoicing books the client's receivables, sales, output VAT and payments."""
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.SetPostingAccounts(client_id=client_id, acting_user=self.user, **accounts),
            expect_accepted=expect_accepted,
        )

    async def transfer_legacy_invoices(self, client_id: str) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.TransferUnsentLegacyInvoices(client_id=client_id, acting_user=self.user),
        )

    # --- ledger set-up --------------------------------------------------------------------------------------------
    async def add_account(
        self, client_id: str, number: str, name: str, account_type: str, control_role: str | None = None
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_LEDGER_COMMANDS,
            ledger.UpsertAccount(
                client_id=client_id,
                number=number,
                name=name,
                account_type=account_type,  # type: ignore[arg-type]
                control_role=control_role,
            ),
        )  # type: ignore[arg-type]

    async def add_series(
        self, client_id: str, code: str, name: str, kind: str, control_account: str, first: int, last: int
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_LEDGER_COMMANDS,
            ledger.CreateSubledgerSeries(
                client_id=client_id,
                code=code,
                name=name,
                kind=kind,
                control_account=control_account,  # type: ignore[arg-type]
                first_number=first,
                last_number=last,
            ),
        )

    async def add_party(self, client_id: str, number: int, name: str, kind: str) -> CommandResult:
        return await self._command(
            topics.TOPIC_LEDGER_COMMANDS, ledger.UpsertParty(client_id=client_id, number=number, name=name, kind=kind)
        )  # type: ignore[arg-type]

    async def map_accounts(
        self, client_id: str, provider: str, accounts: dict[str, AccountRef], expect_accepted: bool = True
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_FACTORING_COMMANDS,
            factoring.SetAccountMapping(client_id=client_id, provider=provider, accounts=accounts),
            expect_accepted=expect_accepted,
        )

    # --- factoring integration ------------------------------------------------------------------------------------
    async def activate(self, client_id: str, provider: str, expect_accepted: bool = True) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.ActivateFactoringIntegration(client_id=client_id, acting_user=self.user, provider=provider),
            expect_accepted=expect_accepted,
        )

    async def deactivate(self, client_id: str) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.DeactivateFactoringIntegration(client_id=client_id, acting_user=self.user),
        )

    # --- customers and invoices -----------------------------------------------------------------------------------
    async def upsert_customer(
        self,
        client_id: str,
        customer: CustomerData,
        number: int | None = None,
        expect_accepted: bool = True,
        **card: Any,
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.UpsertCustomerCard(
                client_id=client_id, acting_user=self.user, customer_number=number, customer=customer, **card
            ),
            expect_accepted=expect_accepted,
        )

    async def exclude_customer(self, client_id: str, number: int, method: str) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.ExcludeCustomerFromFactoring(
                client_id=client_id, acting_user=self.user, customer_number=number, delivery_method=method
            ),
        )  # type: ignore[arg-type]

    async def create_invoice(
        self,
        client_id: str,
        customer: int,
        lines: list[InvoiceLine],
        *,
        origin: str = "created",
        invoice_date: date | None = None,
        days: int = 14,
        invoice_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        invoice_id = invoice_id or uuid.uuid4()
        day = invoice_date or date.today()
        await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.CreateInvoiceDraft(
                client_id=client_id,
                correlation_id=str(invoice_id),
                acting_user=self.user,
                invoice_id=invoice_id,
                customer_number=customer,
                origin=origin,
                invoice_date=day,
                due_date=day + timedelta(days=days),
                lines=lines,
            ),
        )  # type: ignore[arg-type]
        return invoice_id

    async def send_invoice(
        self, client_id: str, invoice_id: uuid.UUID, method: str | None = None, expect_accepted: bool = True
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.SendInvoice(
                client_id=client_id,
                correlation_id=str(invoice_id),
                acting_user=self.user,
                invoice_id=invoice_id,
                delivery_method=method,
            ),
            expect_accepted=expect_accepted,
        )

    async def register_payment(
        self,
        client_id: str,
        invoice_id: uuid.UUID,
        amount_ore: int,
        paid_on: date | None = None,
        payment_id: uuid.UUID | None = None,
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.RegisterPayment(
                client_id=client_id,
                correlation_id=str(invoice_id),
                acting_user=self.user,
                invoice_id=invoice_id,
                amount_ore=amount_ore,
                paid_on=paid_on or date.today(),
                payment_id=payment_id,
            ),
        )

    async def credit_invoice(
        self,
        client_id: str,
        invoice_id: uuid.UUID,
        amount_ore: int | None,
        reason: str = "Credit note",
        credit_note_id: uuid.UUID | None = None,
    ) -> CommandResult:
        return await self._command(
            topics.TOPIC_INVOICING_COMMANDS,
            invoicing.IssueCreditNote(
                client_id=client_id,
                correlation_id=str(invoice_id),
                acting_user=self.user,
                invoice_id=invoice_id,
                credit_note_id=credit_note_id or uuid.uuid4(),
                amount_ore=amount_ore,
                reason=reason,
                credited_on=date.today(),
            ),
        )

    # --- invoice financing ----------------------------------------------------------------------------------------
    async def financing(self, command: Command, expect_accepted: bool = True) -> CommandResult:
        return await self._command(topics.TOPIC_FINANCING_COMMANDS, command, expect_accepted=expect_accepted)

    # --- reports --------------------------------------------------------------------------------------------------
    async def invoices(
        self, client_id: str, unpaid: bool = False, numbers: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """`numbers`: only those invoices (sent as repeated `number` parameters; keep the list to a few hundred)."""
        if numbers == []:  # no numbers asked for, none found: not the unfiltered list
            return []
        path = f"/clients/{client_id}/unpaid-invoices" if unpaid else f"/clients/{client_id}/invoices"
        return await self.get(self.urls.invoicing, path, number=numbers)  # type: ignore[no-any-return]

    async def invoice(self, client_id: str, invoice_id: uuid.UUID) -> dict[str, Any]:
        return await self.get(self.urls.invoicing, f"/clients/{client_id}/invoices/{invoice_id}")  # type: ignore

    async def client(self, client_id: str) -> dict[str, Any]:
        return await self.get(self.urls.invoicing, f"/clients/{client_id}")  # type: ignore[no-any-return]

    async def customers(self, client_id: str) -> list[dict[str, Any]]:
        return await self.get(self.urls.invoicing, f"/clients/{client_id}/customers")  # type: ignore

    async def trial_balance(self, client_id: str, as_of: date | None = None) -> dict[str, Any]:
        return await self.get(
            self.urls.ledger,
            f"/clients/{client_id}/trial-balance",  # type: ignore
            as_of=as_of.isoformat() if as_of else None,
        )

    async def open_items(self, client_id: str) -> dict[str, Any]:
        return await self.get(self.urls.ledger, f"/clients/{client_id}/open-items")  # type: ignore

    async def aged_receivables(self, client_id: str) -> dict[str, Any]:
        return await self.get(self.urls.ledger, f"/clients/{client_id}/aged-receivables")  # type: ignore

    async def account(self, client_id: str, number: str) -> dict[str, Any]:
        return await self.get(self.urls.ledger, f"/clients/{client_id}/accounts/{number}")  # type: ignore

    async def vouchers(self, client_id: str, invoice_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
        return await self.get(
            self.urls.ledger,
            f"/clients/{client_id}/vouchers",  # type: ignore
            invoice_id=str(invoice_id) if invoice_id else None,
        )

    async def rejections(self, client_id: str) -> list[dict[str, Any]]:
        return await self.get(self.urls.ledger, f"/clients/{client_id}/rejections")  # type: ignore[no-any-return]

    async def reconciliation(self, client_id: str, provider: str) -> dict[str, Any]:
        return await self.get(
            self.urls.factoring,
            f"/clients/{client_id}/reconciliation",  # type: ignore
            provider=provider,
        )

    async def widget(self, client_id: str, user: str | None = None) -> dict[str, Any]:
        return await self.get(self.urls.financing, f"/clients/{client_id}/widget", user=user or self.user)  # type: ignore

    async def simulator_script(self, simulator_url: str, client_id: str, **script: Any) -> dict[str, Any]:
        return await self.put(simulator_url, f"/clients/{client_id}/script", script)  # type: ignore[no-any-return]
