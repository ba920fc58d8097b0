"""Buffer (invoice financing by Sparebanken Vest) in miniature, over its two topics (`providers.buffer`).

Onboarding. On `ConsentGiven` Buffer "signs the user in with BankID" and checks that they may apply on the
company's behalf. The stand-in for the company-register check: the user must hold the administrator or the
general manager role, otherwise the onboarding is refused with `no_signing_authority`. Then it waits for the
receivables snapshot, analyses it, offers a credit limit and opens the account.

The credit limit follows the receivables:

    limit = 80 % of the balances of open receivables that are not more than 60 days past due,
            rounded down to whole kroner;
    available = limit − used, never below 0.

Only receivables with a positive balance count (a credit balance lowers nothing), and one without a due date
counts as not past due. A receivable withdrawn as `factored` (a factoring provider holds it) is dropped, as a
settled one is, until it comes back as `opened`. Every applied snapshot and change is answered with
`CreditLimitChanged` naming the sequence it is based on; so is every drawdown and repayment.

The stream. Buffer applies sequences in order: a change whose sequence is not the next one is a gap, and
Buffer asks for a resnapshot once and ignores changes until a snapshot arrives; a sequence already applied is
a repeat. A client it does not remember (the simulator restarted) is treated as a gap too.

HTTP, beyond the shared routes: `POST /clients/{client_id}/drawdowns` and `/repayments` with
`{"amount_ore": …}` move money on the Buffer account (409 with the reason when Buffer would refuse), and
`GET /clients/{client_id}` shows Buffer's view of the client. `mode: manual` in a client's script keeps Buffer
silent for that client.

Answers to a stream message have ids derived from that message's id, so a replay after a crash sends the same
ids again and the gateway drops the repeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ledgerline_contracts import topics
from ledgerline_contracts.invoicing import ADMINISTRATOR, GENERAL_MANAGER
from ledgerline_contracts.messages import ClientMessage, Message, utc_now
from ledgerline_contracts.money import PositiveOre
from ledgerline_contracts.providers import buffer
from servicekit.http import JSONResponse
from servicekit.logging import get_logger

from .runtime import Script, Simulator, SimulatorSettings, script_from_env

log = get_logger(__name__)

ADVANCE_PERCENT = 80
MAX_DAYS_PAST_DUE = 60
SIGNING_ROLES = frozenset({ADMINISTRATOR, GENERAL_MANAGER})

Send = Callable[[list[tuple[Message, str]]], Awaitable[None]]
"""Publishes answers (message, key) in order; returns once the broker has them all."""


def credit_limit(receivables: Iterable[buffer.Receivable], today: date) -> int:
    """The limit in øre Buffer offers on these receivables (the rule in the module docstring)."""
    oldest_due = today - timedelta(days=MAX_DAYS_PAST_DUE)
    eligible = sum(
        r.balance_ore for r in receivables if r.balance_ore > 0 and (r.due_date is None or r.due_date >= oldest_due)
    )
    whole_kroner = eligible * ADVANCE_PERCENT // 100 // 100
    return whole_kroner * 100


class Stage(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


@dataclass
class _Snapshot:
    snapshot_id: UUID
    last_sequence: int
    receivables: list[buffer.Receivable] = field(default_factory=list)


@dataclass
class BufferClient:
    """What Buffer knows of one client."""

    onboarding_id: UUID
    stage: Stage
    receivables: dict[tuple[int, str], buffer.Receivable] = field(default_factory=dict)
    last_sequence: int = 0
    in_sync: bool = False
    resnapshot_asked: bool = False
    pending: _Snapshot | None = None
    limit_ore: int = 0
    used_ore: int = 0

    @property
    def available_ore(self) -> int:
        return max(self.limit_ore - self.used_ore, 0)

    def view(self) -> dict[str, object]:
        return {
            "onboarding_id": str(self.onboarding_id),
            "stage": self.stage.value,
            "in_sync": self.in_sync,
            "last_sequence": self.last_sequence,
            "receivables": len(self.receivables),
            "receivables_ore": sum(r.balance_ore for r in self.receivables.values()),
            "limit_ore": self.limit_ore,
            "used_ore": self.used_ore,
            "available_ore": self.available_ore,
        }


class Refusal(Exception):
    """Buffer says no to a request on the account (HTTP 409)."""


class Buffer:
    """Buffer's side of the contract, independent of how messages travel.

    Each message is answered by plain state changes that collect the answers; they are sent together, in
    order, before the next batch or request is taken.
    """

    def __init__(self, send: Send, script_for: Callable[[str], Script], today: Callable[[], date] = date.today):
        self._send = send
        self._script_for = script_for
        self._today = today
        self.clients: dict[str, BufferClient] = {}
        self._lock = asyncio.Lock()  # batches and HTTP requests change the same clients

    # --- the outbound topic --------------------------------------------------------------------------------------
    async def handle_batch(self, batch: list[Message]) -> None:
        async with self._lock:
            answers: list[ClientMessage] = []
            for message in batch:
                if isinstance(message, ClientMessage) and self._script_for(message.client_id).mode == "auto":
                    self._handle(message, answers)
            await self._send([(answer, answer.client_id) for answer in answers])

    def _handle(self, message: ClientMessage, answers: list[ClientMessage]) -> None:
        match message:
            case buffer.ConsentGiven():
                self._consent(message, answers)
            case buffer.ReceivablesSnapshot():
                self._snapshot(message, answers)
            case buffer.ReceivableChanged():
                self._change(message, answers)
            case buffer.ConsentWithdrawn():
                self._withdrawn(message)

    def _consent(self, message: buffer.ConsentGiven, answers: list[ClientMessage]) -> None:
        earlier = self.clients.get(message.client_id)
        client = BufferClient(message.onboarding_id, Stage.ONBOARDING, used_ore=earlier.used_ore if earlier else 0)
        self.clients[message.client_id] = client
        reply = _Replies(message, answers)
        if not SIGNING_ROLES & set(message.user.roles):
            client.stage = Stage.REFUSED
            reply(
                "refused",
                buffer.OnboardingRefused(
                    client_id=message.client_id,
                    onboarding_id=message.onboarding_id,
                    code=buffer.RefusalCode.NO_SIGNING_AUTHORITY,
                    reason=f"{message.user.name} has no signing authority for {message.company.name} "
                    f"({message.company.organisation_number}) and may not apply for credit on its behalf",
                ),
            )
            return
        reply.progress(client, buffer.OnboardingStep.SIGNED_IN)
        reply.progress(client, buffer.OnboardingStep.SIGNING_AUTHORITY_CONFIRMED)

    def _snapshot(self, message: buffer.ReceivablesSnapshot, answers: list[ClientMessage]) -> None:
        client = self._client_for(message)
        if client is None or message.sequence <= client.last_sequence:
            return
        reply = _Replies(message, answers)
        if message.part == 1:
            client.pending = _Snapshot(message.snapshot_id, message.sequence - 1)
        pending = client.pending
        if (
            pending is None
            or pending.snapshot_id != message.snapshot_id
            or message.sequence != pending.last_sequence + 1
        ):
            if not client.resnapshot_asked:  # the later parts of a broken snapshot need no second request
                self._gap(client, reply, client.last_sequence + 1, message.sequence)
            return
        pending.receivables += message.receivables
        pending.last_sequence = message.sequence
        if message.part < message.parts:
            return
        client.receivables = {(r.debtor_number, r.invoice_reference): r for r in pending.receivables}
        client.last_sequence, client.in_sync, client.resnapshot_asked = message.sequence, True, False
        client.pending = None
        if client.stage is Stage.ONBOARDING:
            reply.progress(client, buffer.OnboardingStep.ANALYSING)
            reply.progress(client, buffer.OnboardingStep.OFFER_MADE)
            self._analyse(client, reply)
            reply.progress(client, buffer.OnboardingStep.ACCOUNT_OPENED)
            client.stage = Stage.ACTIVE
        else:
            self._analyse(client, reply)

    def _change(self, message: buffer.ReceivableChanged, answers: list[ClientMessage]) -> None:
        client = self._client_for(message)
        if client is None or message.sequence <= client.last_sequence:
            return  # no access, or a repeat
        reply = _Replies(message, answers)
        if not client.in_sync:
            if not client.resnapshot_asked:  # e.g. forgotten in a restart
                self._gap(client, reply, client.last_sequence + 1, message.sequence)
            return  # waiting for the snapshot asked for
        if message.sequence != client.last_sequence + 1:
            self._gap(client, reply, client.last_sequence + 1, message.sequence)
            return
        item = message.receivable
        key = (item.debtor_number, item.invoice_reference)
        if item.balance_ore == 0 or message.change is buffer.ReceivableChange.FACTORED:
            client.receivables.pop(key, None)  # settled, or a factoring provider's now: no collateral either way
        else:
            client.receivables[key] = item
        client.last_sequence = message.sequence
        self._analyse(client, reply)

    def _withdrawn(self, message: buffer.ConsentWithdrawn) -> None:
        client = self.clients.get(message.client_id)
        if client is not None and client.onboarding_id == message.onboarding_id:
            # Access ends: the data goes, the account and what is owed on it stay.
            client.stage, client.receivables, client.in_sync, client.pending = Stage.WITHDRAWN, {}, False, None

    def _client_for(self, message: buffer.ReceivablesSnapshot | buffer.ReceivableChanged) -> BufferClient | None:
        """The client the stream message is for, if Buffer may read it now."""
        client = self.clients.setdefault(message.client_id, BufferClient(message.onboarding_id, Stage.ACTIVE))
        if client.onboarding_id != message.onboarding_id or client.stage in (Stage.REFUSED, Stage.WITHDRAWN):
            return None
        return client

    @staticmethod
    def _gap(client: BufferClient, reply: _Replies, expected: int, received: int) -> None:
        log.info("gap in the receivables stream", client_id=reply.cause.client_id, expected=expected, received=received)
        client.in_sync, client.resnapshot_asked, client.pending = False, True, None
        reply(
            "resnapshot",
            buffer.ResnapshotRequested(
                client_id=reply.cause.client_id,
                onboarding_id=client.onboarding_id,
                expected_sequence=expected,
                received_sequence=received,
            ),
        )

    def _analyse(self, client: BufferClient, reply: _Replies) -> None:
        """Computes the limit on the receivables as they are now and tells the new figures."""
        client.limit_ore = credit_limit(client.receivables.values(), self._today())
        reply("limit", figures(reply.cause.client_id, client))

    # --- the account (HTTP) --------------------------------------------------------------------------------------
    async def draw(self, client_id: str, amount_ore: int) -> dict[str, object]:
        async with self._lock:
            client = self._account(client_id)
            if amount_ore > client.available_ore:
                raise Refusal(f"{amount_ore} øre exceeds the available credit of {client.available_ore} øre")
            client.used_ore += amount_ore
            drawdown = buffer.DrawdownMade(
                client_id=client_id,
                drawdown_id=f"dd-{uuid4().hex[:16]}",
                amount_ore=amount_ore,
                paid_out_on=self._today(),
            )
            await self._send([(drawdown, client_id), (figures(client_id, client), client_id)])
            return {"drawdown_id": drawdown.drawdown_id, "message_id": str(drawdown.message_id), **client.view()}

    async def repay(self, client_id: str, amount_ore: int) -> dict[str, object]:
        async with self._lock:
            client = self._account(client_id)
            if amount_ore > client.used_ore:
                raise Refusal(f"{amount_ore} øre is more than the {client.used_ore} øre owed")
            client.used_ore -= amount_ore
            repayment = buffer.RepaymentMade(
                client_id=client_id,
                repayment_id=f"rp-{uuid4().hex[:16]}",
                amount_ore=amount_ore,
                repaid_on=self._today(),
            )
            await self._send([(repayment, client_id), (figures(client_id, client), client_id)])
            return {"repayment_id": repayment.repayment_id, "message_id": str(repayment.message_id), **client.view()}

    def _account(self, client_id: str) -> BufferClient:
        client = self.clients.get(client_id)
        if client is None or client.stage is not Stage.ACTIVE:
            raise Refusal(f"client {client_id} has no open Buffer account")
        return client


def figures(client_id: str, client: BufferClient) -> buffer.CreditLimitChanged:
    return buffer.CreditLimitChanged(
        client_id=client_id,
        onboarding_id=client.onboarding_id,
        limit_ore=client.limit_ore,
        used_ore=client.used_ore,
        available_ore=client.available_ore,
        based_on_sequence=client.last_sequence,
        calculated_at=utc_now(),
    )


@dataclass
class _Replies:
    """Collects the answers to one message, each with an id derived from it: a replay repeats the same ids."""

    cause: ClientMessage
    answers: list[ClientMessage]

    def __call__(self, what: str, answer: ClientMessage) -> None:
        derived = uuid5(NAMESPACE_URL, f"buffer:{self.cause.message_id}:{what}")
        self.answers.append(answer.model_copy(update={"message_id": derived}))

    def progress(self, client: BufferClient, step: buffer.OnboardingStep) -> None:
        self(
            step.value,
            buffer.OnboardingProgressed(client_id=self.cause.client_id, onboarding_id=client.onboarding_id, step=step),
        )


class _Amount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_ore: PositiveOre


def _account_route(path: str, move: Callable[[str, int], Awaitable[dict[str, object]]]) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            amount = _Amount.model_validate_json(await request.body())
        except ValidationError as error:
            return JSONResponse(
                {"error": f'expected {{"amount_ore": <positive øre>}}: {error.errors()[0]["msg"]}'}, 400
            )
        try:
            return JSONResponse(await move(request.path_params["client_id"], amount.amount_ore))
        except Refusal as refusal:
            return JSONResponse({"error": str(refusal)}, 409)

    return Route(path, endpoint, methods=["POST"])


def run() -> None:
    settings = SimulatorSettings()
    simulator = Simulator(
        "buffer",
        topics.TOPIC_BUFFER_OUTBOUND,
        topics.TOPIC_BUFFER_INBOUND,
        buffer.OUTBOUND,
        settings,
        script_from_env(),
    )
    provider = Buffer(simulator.send, simulator.scripts.for_client)
    simulator.on_batch(provider.handle_batch)

    async def client_view(request: Request) -> Response:
        client = provider.clients.get(request.path_params["client_id"])
        if client is None:
            return JSONResponse({"error": "Buffer has never heard of this client"}, 404)
        return JSONResponse(client.view())

    simulator.run(
        [
            Route("/clients/{client_id}", client_view),
            _account_route("/clients/{client_id}/drawdowns", provider.draw),
            _account_route("/clients/{client_id}/repayments", provider.repay),
        ]
    )
