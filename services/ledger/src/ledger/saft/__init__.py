"""SAF-T Financial (Norway, version 1.30): the ledger's export for the Norwegian Tax Administration.

`build_audit_file` turns plain ledger data (`model`) into the XML, without I/O; `schema_errors` checks a file
against the official schema kept in this folder. What the export contains and simplifies: README.md here.
"""

from .builder import build_audit_file, nok
from .model import AccountBalance, Company, Ledger, Line, Party, PartyBalance, Voucher
from .schema import schema_errors

__all__ = [
    "AccountBalance",
    "Company",
    "Ledger",
    "Line",
    "Party",
    "PartyBalance",
    "Voucher",
    "build_audit_file",
    "nok",
    "schema_errors",
]
