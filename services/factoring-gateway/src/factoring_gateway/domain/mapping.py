"""Account mappings: what a provider's adapter needs and whether the client's ledger has it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ledgerline_contracts.chart import AccountClass, ChartAccount
from ledgerline_contracts.factoring import AccountRef
from ledgerline_contracts.ledger import PartyKind


@dataclass(frozen=True)
class AccountRole:
    name: str
    purpose: str
    required: bool = True
    expects: AccountClass | None = None
    """The kind of account the role's postings make sense on (e.g. fees on an expense); None: any."""


@dataclass(frozen=True)
class KnownLedger:
    """The client's chart as the ledger announced it: accounts, and parties with their control account."""

    accounts: dict[str, ChartAccount]
    parties: dict[int, str]
    party_kinds: dict[int, PartyKind] = field(default_factory=dict)

    @classmethod
    def of(cls, numbers: Iterable[str], parties: dict[int, str] | None = None) -> KnownLedger:
        """A chart of account numbers alone (types unknown: only the NS 4102 number ranges are checked)."""
        return cls({n: ChartAccount(n) for n in numbers}, parties or {})


@dataclass
class Problems:
    """What stands in the way of a mapping, in the roles' order: accounts or parties the ledger does not have yet
    (they can be added before activation), and what is wrong whatever is added (an account of the wrong kind for
    its role, a party under another account, a role the provider does not use)."""

    found: list[tuple[bool, str]] = field(default_factory=list)

    def missing(self, text: str) -> None:
        self.found.append((False, text))

    def wrong(self, text: str) -> None:
        self.found.append((True, text))

    def all(self) -> list[str]:
        return [text for _, text in self.found]

    def never_right(self) -> list[str]:
        return [text for wrong, text in self.found if wrong]


def check(
    roles: list[AccountRole],
    mapping: dict[str, AccountRef] | None,
    ledger: KnownLedger,
    receivables_account: str | None = None,
) -> Problems:
    """`receivables_account`: where invoicing books the client's customer receivables, when it said so; the
    provider's receivables role must be the same account (the claims it takes over are those)."""
    mapping = mapping or {}
    found = Problems()
    for role in roles:
        ref = mapping.get(role.name)
        if ref is None:
            if role.required:
                found.missing(f"no account mapped for {role.name} ({role.purpose})")
            continue
        account = ledger.accounts.get(ref.account)
        if account is None:
            found.missing(f"{role.name}: account {ref.account} does not exist in the ledger")
        if ref.party is not None:
            control = ledger.parties.get(ref.party)
            if control is None:
                found.missing(f"{role.name}: sub-ledger party {ref.party} does not exist in the ledger")
            elif control != ref.account:
                found.wrong(f"{role.name}: party {ref.party} belongs under account {control}, not {ref.account}")
        if role.expects is not None:
            kind = ledger.party_kinds.get(ref.party) if ref.party is not None else None
            refusal = role.expects.refusal(account or ChartAccount(ref.account), kind)
            if refusal:
                found.wrong(f"{role.name}: {refusal}")
        if role.name == "receivables" and receivables_account and ref.account != receivables_account:
            found.wrong(
                f"receivables: mapped to {ref.account}, but invoicing books this client's customer receivables on "
                f"{receivables_account}"
            )
    unknown = sorted(set(mapping) - {r.name for r in roles})
    if unknown:
        found.wrong(f"roles this provider does not use: {', '.join(unknown)}")
    return found


def problems(
    roles: list[AccountRole],
    mapping: dict[str, AccountRef] | None,
    ledger: KnownLedger,
    receivables_account: str | None = None,
) -> list[str]:
    """Everything that stands in the way of activation, in words; empty when the mapping is complete."""
    return check(roles, mapping, ledger, receivables_account).all()
