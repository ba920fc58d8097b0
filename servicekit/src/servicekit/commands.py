"""Answering commands: every command a service handles gets exactly one CommandResult, in the same transaction."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledgerline_contracts import topics
from ledgerline_contracts.auth import NotAuthenticated, NotAuthorised
from ledgerline_contracts.messages import Command, CommandResult

from . import metrics
from .unit_of_work import UnitOfWork


def answer(
    uow: UnitOfWork,
    service: str,
    command: Command,
    *,
    accepted: bool,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    if not command.reply:
        return
    answer_later(
        uow,
        service,
        command.message_id,
        command.type,
        command.client_id,
        accepted=accepted,
        reason=reason,
        details=details,
        correlation_id=command.correlation_id,
    )


def answer_later(
    uow: UnitOfWork,
    service: str,
    command_id: UUID,
    command_type: str,
    client_id: str,
    *,
    accepted: bool,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> None:
    """Answers a command whose outcome was known only later (e.g. at the end of a saga)."""
    uow.publish(
        topics.TOPIC_COMMAND_RESULTS,
        CommandResult(
            command_id=command_id,
            command_type=command_type,
            client_id=client_id,
            service=service,
            accepted=accepted,
            reason=reason,
            details=details or {},
            correlation_id=correlation_id,
        ),
        key=str(command_id),
    )
    outcome = metrics.command_results.labels(service, command_type, "accepted" if accepted else "refused")
    uow.after_commit(outcome.inc)


def refuse_caller(uow: UnitOfWork, service: str, command: Command, refusal: NotAuthenticated) -> None:
    """A command whose sender has no valid token, or may not do this: refused with the reason, nothing changed."""
    kind = "unauthorised" if isinstance(refusal, NotAuthorised) else "unauthenticated"
    uow.after_commit(metrics.auth_refusals.labels(service, command.type, kind).inc)
    answer(uow, service, command, accepted=False, reason=f"{kind}: {refusal.reason}", details={"refused": kind})
