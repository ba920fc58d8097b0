"""Who may send the ledger what.

Several producers write `ledger.commands.v1` (the broker lets only them): invoicing, the two gateways and
platform operators. Each record carries a token that says which one (services sign their own; operators get
theirs from the users' issuer), and this table decides. A service books only what it owns — its vouchers carry
its own name as their source — and a platform operator needs the privilege for the kind of change. Users of a
client never write to the ledger directly: their actions reach it through the service that owns them.
"""

from __future__ import annotations

from ledgerline_contracts import auth
from ledgerline_contracts.auth import NotAuthorised, Principal
from ledgerline_contracts.ledger import (
    ClosePeriod,
    CreateSubledgerSeries,
    OpenBooks,
    PostVoucher,
    ReopenPeriod,
    ReverseVoucher,
    UpsertAccount,
    UpsertParty,
)
from ledgerline_contracts.messages import Command

SERVICE_COMMANDS: dict[str, frozenset[type[Command]]] = {
    # A new client's books, its customers as sub-ledger parties, and sales, payments and credit notes.
    "invoicing": frozenset({OpenBooks, UpsertParty, PostVoucher}),
    # Factoring bookings (advances, fees, interest, settlements, recourse).
    "factoring-gateway": frozenset({PostVoucher}),
    # Invoice-financing bookings (drawdowns, fees, repayments).
    "financing-gateway": frozenset({PostVoucher}),
}

OPERATOR_PRIVILEGES: dict[type[Command], str] = {
    OpenBooks: auth.LEDGER_CHART,
    UpsertAccount: auth.LEDGER_CHART,
    CreateSubledgerSeries: auth.LEDGER_CHART,
    UpsertParty: auth.LEDGER_CHART,
    ClosePeriod: auth.LEDGER_PERIODS,
    ReopenPeriod: auth.LEDGER_PERIODS,
    PostVoucher: auth.LEDGER_VOUCHERS,
    ReverseVoucher: auth.LEDGER_VOUCHERS,
}


def authorise(caller: Principal, command: Command) -> None:
    """Raises NotAuthorised, with the reason, unless `caller` may send `command`."""
    if caller.kind == "service":
        allowed = SERVICE_COMMANDS.get(caller.subject, frozenset())
        if type(command) not in allowed:
            raise NotAuthorised(f"the {caller.subject} service may not send {command.type}")
        if isinstance(command, PostVoucher) and command.source.service != caller.subject:
            raise NotAuthorised(
                f"the {caller.subject} service may book only its own vouchers, not {command.source.service}'s"
            )
    elif caller.kind == "operator":
        caller.require_operator(OPERATOR_PRIVILEGES[type(command)])
    else:
        raise NotAuthorised(
            f"{caller.describe()} cannot write to the ledger directly: the service that owns the action books it"
        )
