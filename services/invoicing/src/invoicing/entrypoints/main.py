from servicekit.cli import service_main

from .. import SERVICE
from ..settings import InvoicingSettings
from .app import build

main = service_main(SERVICE, InvoicingSettings, build, "invoicing:migrations")  # type: ignore[arg-type]
