from servicekit.cli import service_main

from ..settings import LedgerSettings
from .app import build

main = service_main("ledger", LedgerSettings, build, "ledger:migrations")  # type: ignore[arg-type]
