"""Who is asking: signed tokens (JWT, EdDSA) on every user command, every service's ledger command and every
HTTP query.

A token travels as `authorization: Bearer <jwt>`, in a Kafka record header or an HTTP header. Three kinds, told
apart by their claims and by who signed them:

- a **user** token, from the users' issuer (`ledgerline login`, or the accounting system's identity provider in
  production): `sub` is the user, `tenant` the one client (company) whose data the user may touch;
- a **platform-operator** token, from the same issuer: `sub` is the operator, no tenant, and `privileges` such
  as `clients.create` or `ledger.periods` (what an operator may do on any client);
- a **service** token, signed by the service itself (`iss` is the service's name, e.g. `invoicing`): how the
  ledger tells its producers apart on one command topic, and how a service queries another over HTTP.

The service that owns an action verifies the token, and takes the acting user from it, never from the payload.
Expiry is judged at the time the broker appended the record (command topics use LogAppendTime), so a command
that waited in Kafka while its consumer was down is still judged by when it was sent.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HEADER = "authorization"
"""The Kafka record header (and HTTP header) that carries `Bearer <token>`."""

USERS_ISSUER = "ledgerline-users"
"""The issuer of user and platform-operator tokens (the local `ledgerline login`, or a real identity provider)."""

AUDIENCE = "ledgerline"
ALGORITHM = "EdDSA"
LEEWAY_SECONDS = 30
"""Clock difference tolerated between the issuer, the broker and the service."""

USER_TOKEN_SECONDS = 15 * 60
SERVICE_TOKEN_SECONDS = 15 * 60

# Platform-operator privileges.
CREATE_CLIENTS = "clients.create"
LEDGER_CHART = "ledger.chart"
"""Open books, accounts, sub-ledger series and parties by hand."""
LEDGER_PERIODS = "ledger.periods"
"""Close and re-open accounting periods."""
LEDGER_VOUCHERS = "ledger.vouchers"
"""Post and reverse vouchers by hand (corrections, replays)."""
OUTBOX_QUARANTINE = "outbox.quarantine"
"""See every service's quarantined outbox rows (no payloads) and put them back for publishing after a fix."""
OPERATOR_PRIVILEGES = (CREATE_CLIENTS, LEDGER_CHART, LEDGER_PERIODS, LEDGER_VOUCHERS, OUTBOX_QUARANTINE)

Kind = Literal["user", "operator", "service"]


class NotAuthenticated(Exception):
    """No token, or one that is forged, expired, or meant for someone else; `reason` says which, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAuthorised(NotAuthenticated):
    """A valid token whose holder may not do this (another tenant, a missing privilege, the wrong service)."""


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    subject: str
    tenant: str | None = None
    privileges: frozenset[str] = field(default_factory=frozenset)
    expires_at: float = 0.0

    def describe(self) -> str:
        if self.kind == "user":
            return f"user {self.subject} of {self.tenant}"
        return f"{self.kind} {self.subject}"

    def require_tenant(self, client_id: str) -> None:
        """A user may act only on their own client."""
        if self.kind != "user":
            raise NotAuthorised(f"this needs a user of client {client_id}, not a {self.kind} token")
        if self.tenant != client_id:
            raise NotAuthorised(f"the token is for client {self.tenant}, not {client_id}")

    def require_operator(self, privilege: str) -> None:
        if self.kind != "operator":
            raise NotAuthorised(f"this needs a platform operator with the {privilege} privilege")
        if privilege not in self.privileges:
            raise NotAuthorised(f"operator {self.subject} lacks the {privilege} privilege")


# --- keys ---------------------------------------------------------------------------------------------------------
def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_keys(directory: Path) -> dict[str, Ed25519PublicKey]:
    """Every `<issuer>.pub` in a directory (a mounted secret in production, the state folder locally)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in sorted(directory.glob("*.pub")):
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 public key")
        keys[path.stem] = key
    return keys


def ensure_keys(directory: Path, issuers: Iterable[str]) -> list[str]:
    """A key pair per issuer: `private/<issuer>.key` (mode 0600: what only that issuer holds) and
    `public/<issuer>.pub` (what every service reads). Returns the issuers it created keys for."""
    private_dir, public_dir = directory / "private", directory / "public"
    for folder in (directory, private_dir, public_dir):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    made = []
    for issuer in issuers:
        private, public = private_dir / f"{issuer}.key", public_dir / f"{issuer}.pub"
        if private.exists() and public.exists():
            continue
        key = new_key()
        private.touch(mode=0o600)
        private.write_bytes(private_pem(key))
        public.write_bytes(public_pem(key))
        made.append(issuer)
    return made


# --- issuing ------------------------------------------------------------------------------------------------------
class Issuer:
    """Signs tokens with one issuer's private key."""

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self.name = name
        self._key = key

    @classmethod
    def from_file(cls, name: str, path: Path) -> Issuer:
        return cls(name, load_private(path))

    def _sign(self, claims: dict[str, Any], seconds: int, now: float | None) -> str:
        issued = int(time.time() if now is None else now)
        payload = {"iss": self.name, "aud": AUDIENCE, "iat": issued, "exp": issued + seconds, **claims}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM, headers={"kid": self.name})

    def user(self, client_id: str, user_id: str, *, seconds: int = USER_TOKEN_SECONDS, now: float | None = None) -> str:
        return self._sign({"sub": user_id, "tenant": client_id, "kind": "user"}, seconds, now)

    def operator(
        self,
        operator: str,
        privileges: Iterable[str] = OPERATOR_PRIVILEGES,
        *,
        seconds: int = USER_TOKEN_SECONDS,
        now: float | None = None,
    ) -> str:
        claims = {"sub": operator, "kind": "operator", "privileges": sorted(set(privileges))}
        return self._sign(claims, seconds, now)

    def service(self, *, seconds: int = SERVICE_TOKEN_SECONDS, now: float | None = None) -> str:
        """The token a service stamps on what it sends to another service (its name is the issuer)."""
        return self._sign({"sub": self.name, "kind": "service"}, seconds, now)


class ServiceToken:
    """A service's own token, renewed when a third of its life is left, for headers on everything it sends."""

    def __init__(self, issuer: Issuer, seconds: int = SERVICE_TOKEN_SECONDS) -> None:
        self._issuer = issuer
        self._seconds = seconds
        self._token = ""
        self._renew_at = 0.0

    def header(self) -> tuple[str, bytes]:
        now = time.time()
        if now >= self._renew_at:
            self._token = self._issuer.service(seconds=self._seconds, now=now)
            self._renew_at = now + self._seconds * 2 / 3
        return HEADER, f"Bearer {self._token}".encode()


def bearer(token: str) -> tuple[str, bytes]:
    return HEADER, f"Bearer {token}".encode()


class FrontEnd:
    """The token argument's default where commands are sent on users' behalf (the CLI, tests): sign each command
    as the front end would (`front_end_token`), rather than sending a given token or none."""


AS_FRONT_END = FrontEnd()


def front_end_token(issuer: Issuer, command: object, operator: str = "operator") -> str:
    """The token a front end that has authenticated its user attaches to a command (a message, or its JSON as a
    dict): the acting user's, for a command that names one, else a platform operator's (creating clients, the
    ledger's chart and periods)."""
    fields = command if isinstance(command, Mapping) else vars(command) if hasattr(command, "__dict__") else {}
    client_id, user = fields.get("client_id"), fields.get("acting_user")
    if isinstance(client_id, str) and isinstance(user, str):
        return issuer.user(client_id, user)
    return issuer.operator(operator)


# --- verifying ----------------------------------------------------------------------------------------------------
class Verifier:
    """Checks tokens against the issuers' public keys.

    A signature is checked once per distinct token (tokens repeat: one per user session, one per service for
    minutes), so the cost per record is a dictionary lookup and an expiry comparison."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], cache_size: int = 4096) -> None:
        self._keys = dict(keys)
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size
        self.seconds = 0.0
        """Time spent checking tokens so far (what authentication costs, for the benchmark and /metrics)."""

    @classmethod
    def from_directory(cls, directory: Path) -> Verifier:
        keys = load_public_keys(directory)
        if USERS_ISSUER not in keys:
            raise ValueError(f"no {USERS_ISSUER}.pub in {directory}: user tokens could not be checked")
        return cls(keys)

    def verify(self, header: str | None, at: float | None = None) -> Principal:
        """The principal of an `authorization` header value (`Bearer <token>`), valid at `at` (default now)."""
        started = time.perf_counter()
        try:
            return self._verify(header, at)
        finally:
            self.seconds += time.perf_counter() - started

    def _verify(self, header: str | None, at: float | None) -> Principal:
        if not header:
            raise NotAuthenticated("no token: the authorization header is missing")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated("the authorization header must be 'Bearer <token>'")
        principal = self._cache.get(token)
        if principal is None:
            principal = self._check_signature(token)
            self._cache[token] = principal
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        when = time.time() if at is None else at
        if when > principal.expires_at + LEEWAY_SECONDS:
            expired = datetime.fromtimestamp(principal.expires_at, UTC).isoformat(timespec="seconds")
            raise NotAuthenticated(f"the token expired at {expired}")
        return principal

    def _check_signature(self, token: str) -> Principal:
        try:
            issuer = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as error:
            raise NotAuthenticated(f"not a token: {error}") from None
        key = self._keys.get(issuer) if isinstance(issuer, str) else None
        if key is None:
            raise NotAuthenticated(f"unknown token issuer {issuer!r}")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=issuer,
                options={"verify_exp": False, "require": ["exp", "sub", "iss", "aud"]},  # expiry: see verify()
            )
        except jwt.PyJWTError as error:
            raise NotAuthenticated(f"invalid token: {error}") from None
        kind: Kind
        if issuer == USERS_ISSUER:
            if claims.get("kind") not in ("user", "operator"):
                raise NotAuthenticated(f"the users' issuer cannot sign a {claims.get('kind')!r} token")
            kind = "user" if claims["kind"] == "user" else "operator"
        elif claims.get("kind") == "service" and claims["sub"] == issuer:
            kind = "service"
        else:
            raise NotAuthenticated(f"a service key ({issuer}) signs only that service's own token")
        tenant = claims.get("tenant")
        if kind == "user" and not isinstance(tenant, str):
            raise NotAuthenticated("a user token without its client (tenant)")
        privileges = claims.get("privileges", [])
        return Principal(
            kind=kind,
            subject=str(claims["sub"]),
            tenant=tenant if kind == "user" else None,
            privileges=frozenset(p for p in privileges if isinstance(p, str)) if kind == "operator" else frozenset(),
            expires_at=float(claims["exp"]),
        )
