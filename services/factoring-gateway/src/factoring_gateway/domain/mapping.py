"""Account mappings: what a provider's adapter needs and whether the client's ledger has it."""

from __future__ import annotations

from dataclasses import dataclass

from ledgerline_contracts.factoring import AccountRef


@dataclass(frozen=True)
class AccountRole:
    name: str
    purpose: str
    required: bool = True


@dataclass(frozen=True)
class KnownLedger:
    """The client's chart as the ledger announced it: accounts, and parties with their control account."""

    accounts: frozenset[str]
    parties: dict[int, str]


def problems(roles: list[AccountRole], mapping: dict[str, AccountRef] | None, ledger: KnownLedger) -> list[str]:
    """Everything that stands in the way of activation, in words; empty when the mapping is complete."""
    mapping = mapping or {}
    found: list[str] = []
    for role in roles:
        ref = mapping.get(role.name)
        if ref is None:
            if role.required:
                found.append(f"no account mapped for {role.name} ({role.purpose})")
            continue
        if ref.account not in ledger.accounts:
            found.append(f"{role.name}: account {ref.account} does not exist in the ledger")
        if ref.party is not None:
            control = ledger.parties.get(ref.party)
            if control is None:
                found.append(f"{role.name}: sub-ledger party {ref.party} does not exist in the ledger")
            elif control != ref.account:
                found.append(f"{role.name}: party {ref.party} belongs under account {control}, not {ref.account}")
    unknown = sorted(set(mapping) - {r.name for r in roles})
    if unknown:
        found.append(f"roles this provider does not use: {', '.join(unknown)}")
    return found
