from servicekit.cli import service_main

from ..settings import InvoicingSettings
from .app import build

main = service_main("invoicing", InvoicingSettings, build, "invoicing:migrations")  # type: ignore[arg-type]
