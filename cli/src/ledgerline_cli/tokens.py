"""The local token issuer: keys made at set-up in the state folder, tokens signed for the CLI, demo and tests.

Locally, `ledgerline login <client> <user>` plays the accounting system's identity provider: it signs a user
token with the users' issuer key. In production that key lives with the real identity provider, and the
services only ever see public keys (`public/*.pub`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ledgerline_contracts import auth

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("ledger", "invoicing", "factoring-gateway", "financing-gateway")
"""Each signs its own token on what it sends to another service."""


def state_dir() -> Path:
    return Path(os.environ.get("LEDGERLINE_STATE_DIR") or REPO / ".state")


def keys_dir(state: Path | None = None) -> Path:
    """Key pairs of the users' issuer and of each service (made once, kept in the git-ignored state folder)."""
    keys = (state or state_dir()) / "keys"
    auth.ensure_keys(keys, (auth.USERS_ISSUER, *SERVICES))
    return keys


def local_issuer(state: Path | None = None) -> auth.Issuer:
    return auth.Issuer.from_file(auth.USERS_ISSUER, keys_dir(state) / "private" / f"{auth.USERS_ISSUER}.key")


def service_issuer(service: str, state: Path | None = None) -> auth.Issuer:
    """A service's own signer (the benchmark stands in for a service when it drives the ledger alone)."""
    return auth.Issuer.from_file(service, keys_dir(state) / "private" / f"{service}.key")


def saved_token_path(state: Path | None = None) -> Path:
    return (state or state_dir()) / "token"


def save_token(token: str, state: Path | None = None) -> Path:
    path = saved_token_path(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(token)
    return path
