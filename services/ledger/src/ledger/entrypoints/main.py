from servicekit.cli import service_main

from .. import SERVICE
from ..settings import LedgerSettings
from .app import build

main = service_main(SERVICE, LedgerSettings, build, "ledger:migrations")  # type: ignore[arg-type]
