"""Authentication at a service's edges: the token on each consumed command, and on each HTTP query.

Verification itself (signatures, expiry, kinds of token) is `ledgerline_contracts.auth`; what a principal may do
is each service's own decision (its command batch), with the common checks here.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from ledgerline_contracts.auth import HEADER, NotAuthenticated, NotAuthorised, Principal, Verifier
from ledgerline_contracts.messages import Command, Message

from .consumer import Delivery

Caller = Principal | NotAuthenticated
"""Who sent a message, or why that is not known."""


def callers(verifier: Verifier | None, deliveries: Sequence[Delivery]) -> dict[UUID, Caller]:
    """The caller of each delivered message, from its record's token; judged at the broker's append time."""
    if verifier is None:
        raise RuntimeError("this consumer's commands carry tokens, but the service has no verifier (auth keys)")
    found: dict[UUID, Caller] = {}
    for delivery in deliveries:
        try:
            found[delivery.message.message_id] = verifier.verify(delivery.headers.get(HEADER), delivery.appended_at)
        except NotAuthenticated as refusal:
            found[delivery.message.message_id] = refusal
    return found


def caller_of(known: dict[UUID, Caller], message: Message) -> Principal:
    caller = known.get(message.message_id)
    if caller is None:
        raise NotAuthenticated("no token: the authorization header is missing")
    if isinstance(caller, NotAuthenticated):
        raise caller
    return caller


def authorise_user_command(caller: Principal, command: Command) -> None:
    """A user acts only on their own client, and only as themselves: the acting user is the token's subject."""
    caller.require_tenant(command.client_id)
    acting = getattr(command, "acting_user", None)
    if acting is not None and acting != caller.subject:
        raise NotAuthorised(f"acting_user {acting!r} is not the token's user {caller.subject!r}")
