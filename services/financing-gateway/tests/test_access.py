"""Who may use invoice financing: the privilege, named in every refusal, and the newest announcement wins."""

from __future__ import annotations

import pytest

from financing_gateway.domain.access import UserAccess, require_financing_privilege
from financing_gateway.domain.errors import Refused
from ledgerline_contracts.invoicing import INVOICE_FINANCING


def access(*privileges: str, roles: tuple[str, ...] = ("accountant",), sequence: int = 1) -> UserAccess:
    return UserAccess("u1", "Ada", roles, frozenset(privileges), sequence)


def test_a_user_holding_the_privilege_passes_whatever_their_role() -> None:
    granted = access(INVOICE_FINANCING, "invoicing")
    assert require_financing_privilege("u1", granted) is granted


@pytest.mark.parametrize("known", [access("invoicing"), None], ids=["without the privilege", "unknown user"])
def test_a_refusal_names_the_missing_privilege(known: UserAccess | None) -> None:
    with pytest.raises(Refused) as refused:
        require_financing_privilege("u1", known)
    assert refused.value.code == "missing_privilege"
    assert INVOICE_FINANCING in refused.value.reason and "u1" in refused.value.reason
    assert refused.value.details["missing_privilege"] == INVOICE_FINANCING


def test_only_a_newer_announcement_replaces_what_is_known() -> None:
    current = access(INVOICE_FINANCING, sequence=5)
    assert access(sequence=6).supersedes(current)
    assert not access(sequence=5).supersedes(current)
    assert not access(INVOICE_FINANCING, sequence=4).supersedes(current)
    assert access(sequence=1).supersedes(None)
