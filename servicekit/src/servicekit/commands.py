"""Answering commands: every command a service handles gets exactly one CommandResult, in the same transaction."""

from __future__ import annotations

from typing import Any

from ledgerline_contracts import topics
from ledgerline_contracts.messages import Command, CommandResult

from . import metrics
from .db import UnitOfWork


def answer(
    uow: UnitOfWork,
    service: str,
    command: Command,
    *,
    accepted: bool,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    uow.publish(
        topics.COMMAND_RESULTS,
        CommandResult(
            command_id=command.message_id,
            command_type=command.type,
            client_id=command.client_id,
            service=service,
            accepted=accepted,
            reason=reason,
            details=details or {},
            correlation_id=command.correlation_id,
        ),
        key=str(command.message_id),
    )
    outcome = metrics.command_results.labels(service, command.type, "accepted" if accepted else "refused")
    uow.after_commit(outcome.inc)
