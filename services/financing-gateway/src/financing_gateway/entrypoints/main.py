from servicekit.cli import service_main

from .. import SERVICE
from ..settings import FinancingGatewaySettings
from .app import build

main = service_main(SERVICE, FinancingGatewaySettings, build, "financing_gateway:migrations")  # type: ignore[arg-type]
