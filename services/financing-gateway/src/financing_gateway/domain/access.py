"""Who may do anything here: users holding the privilege «invoice financing» for the client.

Invoicing owns users, roles and grants; it announces each user's whole effective set of roles and privileges
with a per-client sequence (`UserPrivilegesChanged`). The gateway keeps the newest announcement per user and
asks only one question of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledgerline_contracts.invoicing import INVOICE_FINANCING

from .errors import Refused


@dataclass(frozen=True, slots=True)
class UserAccess:
    user_id: str
    name: str
    roles: tuple[str, ...]
    privileges: frozenset[str]
    sequence: int

    def supersedes(self, current: UserAccess | None) -> bool:
        """Announcements can arrive late or twice; only a newer one replaces what is known."""
        return current is None or self.sequence > current.sequence


def missing_privilege_reason(user_id: str, access: UserAccess | None) -> str:
    known = "" if access is not None else " (the user is not known for this client)"
    return (
        f"user {user_id} lacks the privilege {INVOICE_FINANCING} (invoice financing){known}; administrators and "
        "general managers hold it, and role management can grant it to other roles"
    )


def require_financing_privilege(user_id: str, access: UserAccess | None) -> UserAccess:
    """The user's access if they may use invoice financing; otherwise `Refused` naming the missing privilege."""
    if access is None or INVOICE_FINANCING not in access.privileges:
        raise Refused(
            "missing_privilege", missing_privilege_reason(user_id, access), missing_privilege=INVOICE_FINANCING
        )
    return access
