"""The tokens themselves (`ledgerline_contracts.auth`): what a verifier accepts, and why it refuses the rest."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledgerline_contracts import auth
from ledgerline_contracts.invoicing import UpsertCustomerCard
from ledgerline_contracts.samples import COMPANY

USERS_KEY, INVOICING_KEY = auth.new_key(), auth.new_key()
USERS = auth.Issuer(auth.USERS_ISSUER, USERS_KEY)
INVOICING = auth.Issuer("invoicing", INVOICING_KEY)
VERIFIER = auth.Verifier({auth.USERS_ISSUER: USERS_KEY.public_key(), "invoicing": INVOICING_KEY.public_key()})


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_each_kind_of_token_says_who_asks() -> None:
    user = VERIFIER.verify(bearer(USERS.user("c1", "ada")))
    assert (user.kind, user.subject, user.tenant, user.privileges) == ("user", "ada", "c1", frozenset())
    operator = VERIFIER.verify(bearer(USERS.operator("kari", [auth.LEDGER_PERIODS])))
    assert (operator.kind, operator.tenant, operator.privileges) == ("operator", None, {auth.LEDGER_PERIODS})
    service = VERIFIER.verify(bearer(INVOICING.service()))
    assert (service.kind, service.subject) == ("service", "invoicing")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no token"),
        ("Basic dXNlcg==", "must be 'Bearer <token>'"),
        ("Bearer not.a.token", "not a token"),
        (bearer(auth.Issuer("stranger", auth.new_key()).service()), "unknown token issuer 'stranger'"),
        (bearer(auth.Issuer(auth.USERS_ISSUER, auth.new_key()).user("c1", "ada")), "Signature verification failed"),
        # A service's key signs only that service's own token: never a user's or another service's.
        (bearer(auth.Issuer("invoicing", INVOICING_KEY).user("c1", "ada")), "signs only that service's own token"),
        (bearer(USERS.service()), "the users' issuer cannot sign a 'service' token"),
    ],
)
def test_what_is_not_a_valid_token_is_refused_with_the_reason(header: str | None, reason: str) -> None:
    with pytest.raises(auth.NotAuthenticated, match=reason):
        VERIFIER.verify(header)


def test_expiry_is_judged_at_the_time_given_the_broker_append_time() -> None:
    sent_at = time.time() - 3600
    token = bearer(USERS.user("c1", "ada", seconds=60, now=sent_at))
    assert VERIFIER.verify(token, at=sent_at + 30).subject == "ada"  # appended while valid: still good an hour later
    with pytest.raises(auth.NotAuthenticated, match="the token expired at"):
        VERIFIER.verify(token, at=sent_at + 60 + auth.LEEWAY_SECONDS + 1)
    with pytest.raises(auth.NotAuthenticated, match="the token expired at"):
        VERIFIER.verify(token)  # no append time: judged now


def test_a_principal_is_held_to_its_tenant_and_privileges() -> None:
    user = VERIFIER.verify(bearer(USERS.user("c1", "ada")))
    user.require_tenant("c1")
    with pytest.raises(auth.NotAuthorised, match="the token is for client c1, not c2"):
        user.require_tenant("c2")
    with pytest.raises(auth.NotAuthorised, match=r"needs a platform operator with the ledger\.periods privilege"):
        user.require_operator(auth.LEDGER_PERIODS)
    operator = VERIFIER.verify(bearer(USERS.operator("kari", [auth.LEDGER_CHART])))
    with pytest.raises(auth.NotAuthorised, match=r"operator kari lacks the ledger\.periods privilege"):
        operator.require_operator(auth.LEDGER_PERIODS)


def test_the_front_end_signs_for_the_acting_user_of_a_command_or_its_json() -> None:
    card = UpsertCustomerCard(client_id="c1", acting_user="ada", customer=COMPANY)
    for command in (card, card.model_dump(mode="json")):
        principal = VERIFIER.verify(bearer(auth.front_end_token(USERS, command)))
        assert (principal.kind, principal.subject, principal.tenant) == ("user", "ada", "c1")
    assert VERIFIER.verify(bearer(auth.front_end_token(USERS, {"client_id": "c1"}))).kind == "operator"


def test_keys_are_made_once_with_the_private_half_closed_to_others(tmp_path: Path) -> None:
    assert auth.ensure_keys(tmp_path, ["ledgerline-users", "invoicing"]) == ["ledgerline-users", "invoicing"]
    assert auth.ensure_keys(tmp_path, ["ledgerline-users", "invoicing"]) == []
    assert (tmp_path / "private" / "invoicing.key").stat().st_mode & 0o777 == 0o600
    verifier = auth.Verifier.from_directory(tmp_path / "public")
    signer = auth.Issuer.from_file("invoicing", tmp_path / "private" / "invoicing.key")
    assert verifier.verify(bearer(signer.service())).subject == "invoicing"
